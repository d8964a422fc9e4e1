"""DVPQ_k in DPQMetric and eval_dpq.py on synthetic video sequences, with per-frame ids, with
KernelTracker ids and with GT-derived oracle ids."""
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData

from mmpdepth.datasets.synthetic import write_synthetic_dps
from mmpdepth.evaluation import DPQMetric
from mmpdepth.evaluation.dvps_folder_evaluation import evaluate_dvpq_folders
from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT as FMT
from mmpdepth.formats import read_depth_png
from mmpdepth.models.trackers import KernelTracker

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
from bench_video_tracking import apply_oracle, oracle_ids  # noqa: E402
import eval_dpq  # noqa: E402

KS = (1, 2, 3, 4)


@pytest.fixture(scope='module')
def sequences(tmp_path_factory):
    """2 val sequences of 6 frames (96x192): per frame (GT ids, GT depth, meta)."""
    root = str(tmp_path_factory.mktemp('dvpq'))
    write_synthetic_dps(root, num_train_seqs=0, num_val_seqs=2, frames_per_seq=6, height=96,
                        width=192, seed=3)
    val = osp.join(root, 'video_sequence', 'val')
    frames = []
    for name in sorted(os.listdir(val)):
        if not name.endswith('_leftImg8bit.png'):
            continue
        stem = name[:-len('_leftImg8bit.png')]
        meta = dict(img_path=osp.join(val, name), ann_format='cityscapes-dvps',
                    pan_path=osp.join(val, stem + '_gtFine_instanceTrainIds.png'),
                    depth_path=osp.join(val, stem + '_depth.png'), seq_id=stem.split('_')[0],
                    img_id=stem)
        gt = FMT.read_gt_ids(meta)
        frames.append((gt, read_depth_png(meta['depth_path'], gt.shape), meta))
    return root, frames


def per_frame_prediction(gt: np.ndarray, depth: np.ndarray, meta: dict, t: int,
                         embed: dict) -> DetDataSample:
    """A perfect prediction of the frame whose things are numbered 1..n in a per-frame order
    (as the fusion head numbers them), with kernels that identify the GT instance."""
    cls, inst = gt // 1000, gt % 1000
    pan = np.where(cls == FMT.void_category, 255 * 1000, cls * 1000).astype(np.int64)
    things = [int(i) for i in np.unique(gt[inst > 0])]
    order = np.random.default_rng(t).permutation(len(things))
    g = torch.Generator().manual_seed(t)
    ids, labels, kernels, areas = [], [], [], []
    for n, j in enumerate(order, start=1):
        gid = things[j]
        pan[gt == gid] = (gid // 1000) * 1000 + n
        ids.append((gid // 1000) * 1000 + n)
        labels.append(gid // 1000)
        key = (meta['seq_id'], gid)
        embed.setdefault(key, torch.randn(32, generator=torch.Generator().manual_seed(
            len(embed))))
        kernels.append(embed[key] + 0.1 * torch.randn(32, generator=g))
        areas.append(int((gt == gid).sum()))
    segs = InstanceData()
    segs.ids = torch.tensor(ids + [0], dtype=torch.long)
    segs.labels = torch.tensor(labels + [0], dtype=torch.long)
    segs.scores = torch.ones(len(ids) + 1)
    segs.is_thing = torch.tensor([True] * len(ids) + [False])
    segs.areas = torch.tensor(areas + [1])
    segs.kernels = torch.stack(kernels + [torch.zeros(32)])
    ds = DetDataSample(metainfo=meta)
    ds.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(pan)[None])
    ds.pred_depth_map = PixelData(data=torch.from_numpy(depth.astype(np.float32))[None])
    ds.pred_segments = segs
    return ds


def metric_results(samples, outfile_prefix=None):
    metric = DPQMetric(protocol='cityscapes-dvps', skip_absent=True, dvpq_frames=KS,
                       outfile_prefix=outfile_prefix)
    metric.dataset_meta = dict(dvps_protocol='cityscapes-dvps')
    for ds in samples:
        metric.process({}, [ds.to_dict()])
    return metric.compute_metrics(metric.results)


def test_tracker_keeps_dvpq_of_things_where_per_frame_ids_collapse(sequences, tmp_path):
    root, frames = sequences
    embed = {}
    samples = [per_frame_prediction(gt, d, m, t, embed) for t, (gt, d, m) in enumerate(frames)]
    per_frame = metric_results(samples, outfile_prefix=str(tmp_path / 'pred'))
    tracker = KernelTracker(match_thr=0.5)
    tracked = []
    for ds in samples:
        ds = ds.clone()
        tracker.track_sample(ds, 1000)
        tracked.append(ds)
    with_tracker = metric_results(tracked)
    oracle = metric_results(apply_oracle(samples, 1000))
    for r in (per_frame, with_tracker, oracle):
        # every frame is predicted perfectly: per-frame numbers do not depend on the ids
        assert r['DVPQ_1'] == r['DPQ'] == r['PQ'] == 100.0
        assert r['DVPQ_st_4'] == 100.0  # stuff keeps its ids anyway
    # per-frame ids: a thing's id changes between frames, so it matches in no window
    assert per_frame['DVPQ_th_4'] < 40.0 and per_frame['DVPQ_th_2'] < 60.0
    assert [with_tracker[f'DVPQ_th_{k}'] for k in KS] == [100.0] * 4
    assert [oracle[f'DVPQ_th_{k}'] for k in KS] == [100.0] * 4
    assert with_tracker['DVPQ'] == 100.0
    assert per_frame['DVPQ'] == pytest.approx(np.mean([per_frame[f'DVPQ_{k}'] for k in KS]))

    # the offline evaluator on the files the metric wrote gives the same DVPQ_k
    gt_dir = osp.join(root, 'video_sequence', 'val')
    offline = evaluate_dvpq_folders('cityscapes-dvps', gt_dir, str(tmp_path / 'pred/panoptic'),
                                    str(tmp_path / 'pred/depth'), progress=False,
                                    skip_absent=True)
    for k in KS:
        for s in ('', '_th', '_st'):
            assert offline[f'DVPQ{s}_{k}'] == pytest.approx(per_frame[f'DVPQ{s}_{k}'],
                                                            abs=1e-9), (k, s)


def test_dvpq_windows_stay_inside_a_cityscapes_sequence(sequences):
    """Two sequences whose things share GT ids: with the same ids in every frame, a window
    across the boundary would match nothing; windows inside a sequence all match."""
    _, frames = sequences
    samples = []
    for t, (gt, d, m) in enumerate(frames):
        ds = per_frame_prediction(gt, d, m, 0, {})
        ds.pred_panoptic_seg.sem_seg = torch.from_numpy(
            np.where(gt // 1000 == FMT.void_category, 255000, gt))[None]
        samples.append(ds)
    metric = DPQMetric(protocol='cityscapes-dvps', skip_absent=True, dvpq_frames=(2, 6))
    metric.dataset_meta = {}
    for ds in samples:
        metric.process({}, [ds.to_dict()])
    # 5 two-frame windows and 1 six-frame window per sequence, none across the two
    assert sum(2 in r['windows'] for r in metric.results) == 10
    assert sum(6 in r['windows'] for r in metric.results) == 2
    out = metric.compute_metrics(metric.results)
    assert out['DVPQ_2'] == out['DVPQ_6'] == 100.0 and 'DVPQ_1' not in out


def test_oracle_ids_take_the_most_overlapped_gt_instance():
    gt = np.array([[13001, 13001, 13002, 13002, 0]])
    pred = np.array([[13005, 13005, 13005, 13007, 13009]])
    # 13005 covers GT 1 twice and GT 2 once -> 13001; 13007 on GT 2 -> 13002; 13009 on road
    # (no car) -> a new id
    out = oracle_ids(pred, gt, 1000, 1000, thing_classes=(11, 13))
    assert out.tolist() == [[13001, 13001, 13001, 13002, 13500]]
    # a second segment on the same instance gets a new id, not a merge
    out = oracle_ids(np.array([[13001, 13001, 13002]]), np.array([[13004, 13004, 13004]]),
                     1000, 1000, (13, ))
    assert out.tolist() == [[13004, 13004, 13500]]


def test_metric_without_sequence_ids_reports_no_dvpq(sequences):
    _, frames = sequences
    gt, d, m = frames[0]
    ds = per_frame_prediction(gt, d, dict(m, seq_id=None), 0, {})
    out = metric_results([ds])
    assert 'DPQ' in out and not any(k.startswith('DVPQ') for k in out)


def test_eval_dpq_cli_dvpq_table_and_json(sequences, tmp_path, capsys):
    root, frames = sequences
    samples = [per_frame_prediction(gt, d, m, t, {}) for t, (gt, d, m) in enumerate(frames)]
    ref = metric_results(samples, outfile_prefix=str(tmp_path / 'pred'))
    out_json = str(tmp_path / 'r.json')
    gt_dir = osp.join(root, 'video_sequence', 'val')
    args = ['cityscapes-dvps', '--gt-dir', gt_dir, '--pan-dir', str(tmp_path / 'pred/panoptic'),
            '--depth-dir', str(tmp_path / 'pred/depth'), '--dvpq', '--skip-absent']
    assert eval_dpq.main(args + ['--out', out_json]) == 0
    text = capsys.readouterr().out
    for row in ('DVPQ_1', 'DVPQ_2', 'DVPQ_3', 'DVPQ_4', '| DVPQ '):
        assert row in text
    import json
    saved = json.load(open(out_json))
    assert saved['DVPQ'] == pytest.approx(ref['DVPQ']) and saved['DPQ'] == 100.0
    assert saved['DVPQ_th_4'] == pytest.approx(ref['DVPQ_th_4'])
    assert eval_dpq.main(args + ['--eval-frames', '2']) == 2
    assert '--dvpq evaluates k = 1..4' in capsys.readouterr().err


@pytest.mark.parametrize('protocol', ['cityscapes-dvps', 'semkitti-dvps'])
def test_window_stats_from_frame_histograms_equal_the_concatenated_frames(protocol):
    """Random maps with shared ids, void, an id equal to the wrong-depth id and random depth
    levels: the summed frame histograms score like the frames side by side."""
    from mmpdepth.evaluation.functional import get_protocol, window_stats
    from mmpdepth.evaluation.functional.window_histograms import (
        frame_histogram, window_stats_from_histograms)
    p = get_protocol(protocol)
    rng = np.random.default_rng(1)
    div = p.label_divisor

    def ids(shape):
        cls = rng.choice(list(range(p.num_classes)) + [p.void_category], shape)
        inst = np.where(np.isin(cls, p.thing_classes), rng.integers(0, 4, shape), 0)
        return cls.astype(np.int64) * div + inst

    frames = []
    for _ in range(3):
        gt, pred = ids((12, 16)), ids((12, 16))
        pred[0, :3] = p.wrong_depth_id  # a prediction that already uses the id
        frames.append((gt, pred, rng.integers(0, 4, (12, 16)).astype(np.uint8)))
    lams = (None, 0.5, 0.25, 0.1)
    for k in (1, 2, 3):
        w = frames[:k]
        ref = window_stats([f[0] for f in w], [f[1] for f in w], None, None, p, lams,
                           depth_levels=[f[2] for f in w])
        got = window_stats_from_histograms([frame_histogram(*f) for f in w], p, lams)
        for lam in lams:
            np.testing.assert_array_equal(got[lam].to_array(), ref[lam].to_array())
    no_depth = window_stats_from_histograms([frame_histogram(f[0], f[1]) for f in frames], p,
                                            (None, ))
    np.testing.assert_array_equal(
        no_depth[None].to_array(),
        window_stats([f[0] for f in frames], [f[1] for f in frames], None, None, p,
                     (None, ))[None].to_array())
