"""Video inference on the tiny config: dist_test.sh with 2 processes gives the DVPQ_k of one
process (sequences kept whole per rank), and tools/demo/video_demo.py on a folder and an mp4."""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
PY = sys.executable
sys.path.insert(0, osp.join(ROOT, 'tools', 'demo'))
import video_demo  # noqa: E402


@pytest.fixture(scope='module')
def video_setup(tmp_path_factory):
    """3 val sequences of 4 frames (64x128) and a randomly initialised tiny checkpoint."""
    from mmengine.config import Config

    from mmpdepth.datasets.synthetic import write_synthetic_dps
    from mmpdepth.registry import MODELS
    root = tmp_path_factory.mktemp('video')
    write_synthetic_dps(str(root / 'data'), num_train_seqs=0, num_val_seqs=3, frames_per_seq=4,
                        height=64, width=128, seed=7)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(osp.join(ROOT, CONFIG)).model)
    ckpt = str(root / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return root, ckpt


ORACLE_CONFIG = """
_base_ = '{root}/configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
custom_imports = dict(imports=['tests.test_tools.video_oracle_model'],
                      allow_failed_imports=False)
model = dict(_delete_=True, type='GTPerFrameModel', tracker=dict(type='KernelTracker'))
test_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root='{data}'))
"""


def metrics(text):
    return {k: float(v) for k, v in re.findall(r'dps/(\w+(?:@[\d.]+)?): (-?[\d.]+)', text)}


def evaluate_in_process(cfg, ranks):
    """DPQMetric over the oracle model's predictions, each rank's frames in the given order
    (a fresh model, so a fresh tracker, and new windows per rank)."""
    from mmengine.dataset import pseudo_collate

    from mmpdepth.evaluation import DPQMetric
    from mmpdepth.registry import DATASETS, MODELS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    metric = DPQMetric(**{k: v for k, v in cfg.test_evaluator.items() if k != 'type'})
    metric.dataset_meta = dataset.metainfo
    for indices in ranks(len(dataset)):
        model = MODELS.build(cfg.model)
        for i in indices:
            metric.process({}, [model.test_step(pseudo_collate([dataset[i]]))[0].to_dict()])
        metric._recent = []
    return metric.compute_metrics(metric.results)


def test_dist_test_with_two_processes_gives_the_dvpq_of_one(video_setup):
    """dist_test.sh with 2 processes on 3 sequences of 4 frames gives the DVPQ_k of one
    process. The frames are predicted from their GT (things numbered per frame, kernels that
    identify the object, a thing left out on some frames) and tracked by KernelTracker, so the
    numbers depend on each rank seeing whole sequences in order: frames dealt to the ranks in
    turn (mmengine's DefaultSampler) give other numbers."""
    from mmengine.config import Config
    root, _ = video_setup
    cfg_path = root / 'oracle_config.py'
    cfg_path.write_text(ORACLE_CONFIG.format(root=ROOT, data=root / 'data'))
    ckpt = str(root / 'oracle.pth')
    torch.save(dict(state_dict=dict(dummy=torch.zeros(1)), meta=dict()), ckpt)
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PORT='29531', PYTHON=PY,
               PYTHONPATH=ROOT)
    two = subprocess.run(['bash', 'tools/dist_test.sh', str(cfg_path), ckpt, '2', '--work-dir',
                          str(root / 'w2')], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert 'GPU number: 2' in open(next((root / 'w2').glob('*/*.log'))).read()
    m2 = metrics(two.stdout + two.stderr)

    sys.path.insert(0, ROOT)
    cfg = Config.fromfile(str(cfg_path))
    m1 = evaluate_in_process(cfg, lambda n: [range(n)])
    keys = [f'DVPQ{s}_{k}' for k in (1, 2, 3, 4) for s in ('', '_th', '_st')] + ['DVPQ']
    assert set(m2) == set(m1) and set(keys) <= set(m1)
    assert all(abs(m2[k] - m1[k]) < 6e-5 for k in m1), (m1, m2)  # the log has 4 decimals
    # the tracker keeps the ids; the left-out things cost every window that holds them
    assert m1['DVPQ_th_1'] < 100.0 and m1['DVPQ_th_4'] >= 0.9 * m1['DVPQ_th_1']
    assert m1['DVPQ_st_4'] == 100.0
    dealt = evaluate_in_process(cfg, lambda n: [range(0, n, 2), range(1, n, 2)])
    assert abs(dealt['DVPQ_2'] - m1['DVPQ_2']) > 0.1 and dealt['DPQ'] == m1['DPQ']


def test_video_demo_on_a_folder_and_an_mp4(video_setup, tmp_path):
    root, ckpt = video_setup
    val = root / 'data' / 'video_sequence' / 'val'
    frames = sorted(p for p in os.listdir(val)
                    if p.endswith('_leftImg8bit.png') and p.startswith('000000_'))
    folder = tmp_path / 'frames'
    folder.mkdir()
    writer = cv2.VideoWriter(str(tmp_path / 'clip.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 5.0,
                             (128, 64))
    for f in frames:
        img = cv2.imread(str(val / f))
        cv2.imwrite(str(folder / f), img)
        writer.write(img)
    writer.release()
    for source, name in ((str(folder), 'frames'), (str(tmp_path / 'clip.mp4'), 'clip')):
        out = tmp_path / f'out_{name}'
        assert video_demo.main([source, CONFIG, '--weights', ckpt, '--out-dir', str(out)]) == 0
        cap = cv2.VideoCapture(str(out / f'{name}.mp4'))
        n = 0
        while cap.read()[0]:
            n += 1
        assert n == len(frames) == 4
        assert len(os.listdir(out / 'preds' / 'panoptic')) == 4
        assert len(os.listdir(out / 'preds' / 'depth')) == 4
    # the demo never writes into a folder that holds files unless told to
    with pytest.raises(video_demo.InputError, match='not empty'):
        video_demo.main([str(folder), CONFIG, '--weights', ckpt, '--out-dir',
                         str(tmp_path / 'out_frames')])
    with pytest.raises(video_demo.InputError, match='no such video or folder'):
        video_demo.main([str(tmp_path / 'missing.mp4'), CONFIG, '--out-dir', str(tmp_path)])


def test_video_config_adds_the_default_tracker_unless_asked_not_to():
    cfg = video_demo.video_config(osp.join(ROOT, CONFIG), track=True)
    assert cfg.model.test_cfg['tracker'] == dict(type='KernelTracker')
    assert 'tracker' not in video_demo.video_config(osp.join(ROOT, CONFIG),
                                                    track=False).model.test_cfg
