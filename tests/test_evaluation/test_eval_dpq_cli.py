"""tools/analysis_tools/eval_dpq.py on reference-format folders."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, SEMKITTI_DVPS_FORMAT, write_depth_png

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import eval_dpq  # noqa: E402


def cityscapes_tree(tmp, n_seq=2, frames=6, h=16, w=32, perfect=True):
    gt, pan, dep = (osp.join(tmp, d) for d in ('gt', 'pan', 'depth'))
    for d in (gt, pan, dep):
        os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    for s in range(n_seq):
        for f in range(frames):
            stem = f'{s:06d}_{f:06d}_c_000000_{f:06d}'
            ids = np.zeros((h, w), np.int64)
            ids[:, w // 2:] = 2000
            ids[4:10, 4:12] = 13001
            ids[0, 0] = 32000
            depth = rng.uniform(5, 50, (h, w))
            Image.fromarray(ids.astype(np.uint16)).save(
                osp.join(gt, f'{stem}_gtFine_instanceTrainIds.png'))
            write_depth_png(osp.join(gt, f'{stem}_depth.png'), depth)
            pred = ids.copy()
            pred[0, 0] = 0
            pdepth = depth if perfect else depth * 1.3
            CITYSCAPES_DVPS_FORMAT.write_pred_ids([osp.join(pan, f'{stem}_leftImg8bit.png')],
                                                  pred)
            write_depth_png(osp.join(dep, f'{stem}_leftImg8bit.png'), pdepth)
    return gt, pan, dep


def test_perfect_predictions_score_100_and_json_has_exact_keys(tmp_path):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    out = str(tmp_path / 'res.json')
    # classes absent from both GT and prediction are NaN with Cityscapes' eps = 0
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan, '--depth-dir',
                          dep, '--out', out, '--skip-absent']) == 0
    res = json.load(open(out))
    assert list(res) == ['PQ', 'PQ_th', 'PQ_st', 'DPQ@0.5', 'DPQ_th@0.5', 'DPQ_st@0.5',
                         'DPQ@0.25', 'DPQ_th@0.25', 'DPQ_st@0.25', 'DPQ@0.1', 'DPQ_th@0.1',
                         'DPQ_st@0.1', 'DPQ', 'DPQ_th', 'DPQ_st', 'AbsRel', 'RMSE']
    for k in ('PQ', 'DPQ', 'DPQ_th', 'DPQ_st'):
        assert res[k] == pytest.approx(100.0)
    assert res['AbsRel'] < 1e-3  # only the 1/256 m PNG quantisation


def test_wrong_depth_lowers_dpq_at_tight_thresholds(tmp_path):
    gt, pan, dep = cityscapes_tree(str(tmp_path), perfect=False)
    out = str(tmp_path / 'res.json')
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan, '--depth-dir',
                          dep, '--out', out, '--skip-absent', '--nproc', '2']) == 0
    res = json.load(open(out))
    assert res['PQ'] == pytest.approx(100.0) and res['DPQ@0.5'] == pytest.approx(100.0)
    assert res['DPQ@0.25'] == 0.0 and res['DPQ@0.1'] == 0.0  # every pixel 30 % off
    assert res['AbsRel'] == pytest.approx(0.3, abs=2e-3)


def test_window_option_runs(tmp_path, capsys):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan, '--depth-dir',
                          dep, '--eval-frames', '2', '--skip-absent']) == 0
    assert '12 frames, 10 windows of 2 frame(s)' in capsys.readouterr().out


def test_missing_prediction_file_is_named(tmp_path, capsys):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    victim = sorted(os.listdir(pan))[7]
    os.remove(osp.join(pan, victim))
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan,
                          '--depth-dir', dep]) == 2
    err = capsys.readouterr().err
    key = victim[:-len('_leftImg8bit.png')]
    assert f'no panoptic prediction file for frame {key}' in err


def test_renamed_prediction_is_not_paired_by_sorted_order(tmp_path, capsys):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    victim = sorted(os.listdir(pan))[7]
    renamed = victim.replace('_leftImg8bit', '_x_leftImg8bit')
    os.rename(osp.join(pan, victim), osp.join(pan, renamed))
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan,
                          '--depth-dir', dep]) == 2
    err = capsys.readouterr().err
    assert victim[:-len('_leftImg8bit.png')] in err and renamed in err


def test_extra_sequence_and_size_mismatch_are_errors(tmp_path, capsys):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    CITYSCAPES_DVPS_FORMAT.write_pred_ids([osp.join(pan, '000009_000000_x_leftImg8bit.png')],
                                          np.zeros((16, 32), np.int64))
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan]) == 2
    assert ('000009_000000_x_leftImg8bit.png: panoptic prediction file of no GT frame'
            in capsys.readouterr().err)
    os.remove(osp.join(pan, '000009_000000_x_leftImg8bit.png'))
    name = sorted(os.listdir(pan))[0]
    CITYSCAPES_DVPS_FORMAT.write_pred_ids([osp.join(pan, name)], np.zeros((8, 32), np.int64))
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan]) == 2
    assert name in capsys.readouterr().err


def test_semkitti_layout(tmp_path):
    gt, pan, dep = (str(tmp_path / d) for d in ('gt', 'pan', 'depth'))
    for d in (gt, pan, dep):
        os.makedirs(d)
    for f in range(3):
        cls = np.full((8, 16), 8, np.uint8)
        cls[2:6, 2:6] = 0
        cls[0, :] = 255
        inst = np.zeros((8, 16), np.uint16)
        inst[2:6, 2:6] = 300  # instance ids above 255
        stem = f'000008_{f:06d}'
        Image.fromarray(cls).save(osp.join(gt, f'{stem}_gtFine_class.png'))
        Image.fromarray(inst).save(osp.join(gt, f'{stem}_gtFine_instance.png'))
        depth = np.full((8, 16), 10.0)
        depth[::2] = 0  # sparse LiDAR
        write_depth_png(osp.join(gt, f'{stem}_depth_718.85.png'), depth)
        ids = cls.astype(np.int64) * 2**20 + inst
        ids[0, :] = 8 * 2**20
        SEMKITTI_DVPS_FORMAT.write_pred_ids(
            [osp.join(pan, f'{stem}_cat.png'), osp.join(pan, f'{stem}_ins.png')], ids)
        write_depth_png(osp.join(dep, f'{stem}.png'), np.full((8, 16), 10.0))
    out = str(tmp_path / 'r.json')
    assert eval_dpq.main(['semkitti-dvps', '--gt-dir', gt, '--pan-dir', pan, '--depth-dir', dep,
                          '--out', out, '--eval-frames', '2']) == 0
    res = json.load(open(out))
    # SemKITTI eps = 1e-10: absent classes count as 0, so the class mean is 2 / 19 perfect classes
    assert res['PQ'] == pytest.approx(100 * 2 / 19, rel=1e-6)
    assert res['PQ_th'] == pytest.approx(100 / 8, rel=1e-6)


def test_cli_imports_neither_torch_nor_openmmlab(tmp_path):
    """The folder evaluator starts without torch / mmcv / mmdet / mmengine (start-up cost)."""
    import subprocess
    tool = osp.join(ROOT, 'tools', 'analysis_tools', 'eval_dpq.py')
    code = ('import sys, runpy; sys.argv = ["eval_dpq.py", "--help"]\n'
            f'try:\n    runpy.run_path({tool!r}, run_name="__main__")\n'
            'except SystemExit:\n    pass\n'
            'print(sorted(m for m in ("torch", "mmcv", "mmdet", "mmengine", "mmseg") '
            'if m in sys.modules))')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == '[]'
