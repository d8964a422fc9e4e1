"""tools/analysis_tools/compare_predictions.py: agreement of two test.py --out files."""
import json
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'compare_predictions.py')


def _sample(name, pan, depth):
    return dict(img_path=name, pred_panoptic_seg=dict(sem_seg=torch.as_tensor(pan)[None]),
                pred_depth_map=dict(data=torch.as_tensor(depth, dtype=torch.float32)[None]))


def _write(path, samples):
    with open(path, 'wb') as f:
        pickle.dump(samples, f)
    return str(path)


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)


def test_compare_predictions_reports_segments_and_depth(tmp_path):
    pan = np.array([[1000, 1000, 2001, 2001]] * 2)
    depth = np.array([[10.0, 10.0, 20.0, 20.0]] * 2)
    other = pan.copy()
    other[0, 1] = 2001  # one pixel of eight changes segment, ids renumbered
    a = _write(tmp_path / 'a.pkl', [_sample('x.png', pan, depth), _sample('y.png', pan, depth)])
    b = _write(tmp_path / 'b.pkl', [_sample('y.png', pan + 7, depth + 0.01),
                                    _sample('x.png', other, depth)])
    r = _run(a, b, '--out', tmp_path / 'r.json')
    assert r.returncode == 0, r.stderr
    res = json.load(open(tmp_path / 'r.json'))
    assert res['images'] == 2
    assert res['same_segment_pct'] == pytest.approx(100 * 15 / 16)
    assert res['depth_median_cm'] == pytest.approx(0.5, abs=1e-4)  # half the pixels 1 cm off
    assert res['depth_max_m'] == pytest.approx(0.01, abs=1e-6)
    assert 'same segment: 93.750 %' in r.stdout


def test_compare_predictions_refuses_bad_input(tmp_path):
    a = _write(tmp_path / 'a.pkl', [_sample('x.png', np.zeros((2, 2)), np.ones((2, 2)))])
    (tmp_path / 'bad.pkl').write_bytes(b'\x80\x04trunc')
    r = _run(a, tmp_path / 'bad.pkl')
    assert r.returncode != 0 and 'bad.pkl' in r.stderr and 'Traceback' not in r.stderr
    b = _write(tmp_path / 'b.pkl', [_sample('z.png', np.zeros((2, 2)), np.ones((2, 2)))])
    r = _run(a, b)
    assert r.returncode == 2 and 'share no image' in r.stderr
    (tmp_path / 'taken.json').write_text('{}')
    r = _run(a, a, '--out', tmp_path / 'taken.json')
    assert r.returncode == 2 and (tmp_path / 'taken.json').read_text() == '{}'
