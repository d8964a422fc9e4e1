"""DVPQ_k of a model on the synthetic video sequences with per-frame ids, with the
KernelTracker and with ground-truth-derived oracle ids; and the tracker's own time.

    python benchmarks/bench_video_tracking.py CONFIG CKPT [--data data/synthetic_dps]
        [--tracker key=value ...]
    python benchmarks/bench_video_tracking.py --overhead [--frame-seconds S]

The model predicts every val frame once; the three id variants are applied to the same
predictions, so only the association differs:

- ``per-frame``: the model's ids (things numbered in paste order on every frame);
- ``tracker``: :class:`KernelTracker` (the config's ``test_cfg.tracker`` or the default);
- ``oracle``: every predicted thing takes the id of the ground-truth instance of its class it
  overlaps most (a second segment on the same instance, or one on none, a new id): the best
  any association of these segments can do.

``--overhead`` times :meth:`KernelTracker.track_sample` on 1024x2048 maps with 10-100 thing
segments and 256-channel kernels (the R-50 model's), and compares with ``--frame-seconds`` (a
measured per-frame inference time, e.g. from ``benchmarks/bench_inference.py``).
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Sequence

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
KS = (1, 2, 3, 4)


# -- oracle ids --------------------------------------------------------------------------------
def oracle_ids(pred: np.ndarray, gt: np.ndarray, label_divisor: int, gt_divisor: int,
               thing_classes: Sequence[int], first_free: int = 500) -> np.ndarray:
    """Predicted thing ids replaced by the GT instance of the same class each overlaps most.

    Args:
        pred: (H, W) predicted ids ``class * label_divisor + instance``.
        gt: (H, W) GT ids ``class * gt_divisor + instance``.
        thing_classes: classes whose segments are re-identified.
        first_free: ids ``first_free, first_free + 1, ...`` (per class and map) go to
            segments on no GT instance of their class and to all but the largest-overlap
            segment on one GT instance (merging them would change the frame's PQ).

    Returns:
        np.ndarray: a copy of ``pred`` with the new thing ids.
    """
    out = pred.copy()
    pcls, pinst = pred // label_divisor, pred % label_divisor
    gcls, ginst = gt // gt_divisor, gt % gt_divisor
    candidates = []
    for pid in np.unique(pred[(pinst > 0) & np.isin(pcls, thing_classes)]):
        mask = pred == pid
        c = int(pid // label_divisor)
        same = mask & (gcls == c) & (ginst > 0)
        if same.any():
            inst, counts = np.unique(ginst[same], return_counts=True)
            candidates.append((int(counts.max()), int(pid), c, int(inst[counts.argmax()])))
        else:
            candidates.append((0, int(pid), c, 0))
    taken, fresh = set(), {}
    for overlap, pid, c, inst in sorted(candidates, reverse=True):
        if overlap == 0 or (c, inst) in taken:
            inst = fresh.get(c, first_free)
            fresh[c] = inst + 1
        taken.add((c, inst))
        out[pred == pid] = c * label_divisor + inst
    return out


def apply_oracle(samples: List, label_divisor: int) -> List:
    """Deep copies of predicted data samples with :func:`oracle_ids` on their panoptic maps
    (GT read from the files named in each sample, as the metric reads it)."""
    from mmpdepth.formats import get_format
    out = []
    for ds in samples:
        ds = copy.deepcopy(ds)
        fmt = get_format(ds.metainfo['ann_format'])
        gt = fmt.read_gt_ids(ds.metainfo)
        pan = ds.pred_panoptic_seg.sem_seg
        new = oracle_ids(pan[0].cpu().numpy(), gt, label_divisor, fmt.label_divisor,
                         fmt.thing_ids)
        ds.pred_panoptic_seg.sem_seg = torch.from_numpy(new)[None].to(pan)
        out.append(ds)
    return out


def apply_tracker(samples: List, tracker, label_divisor: int) -> List:
    """Deep copies of the samples with track ids, frame by frame in list order."""
    tracker.reset()
    out = []
    for ds in samples:
        ds = copy.deepcopy(ds)
        tracker.track_sample(ds, label_divisor)
        out.append(ds)
    return out


def dvpq(samples: List, dataset_meta: dict, protocol: str = 'cityscapes-dvps') -> Dict[str, float]:
    """DPQMetric (with DVPQ_k, k = 1..4) over the samples in list order."""
    from mmpdepth.evaluation import DPQMetric
    metric = DPQMetric(protocol=protocol, skip_absent=True, dvpq_frames=KS)
    metric.dataset_meta = dataset_meta
    for ds in samples:
        metric.process({}, [ds.to_dict()])
    return metric.compute_metrics(metric.results)


# -- predictions -------------------------------------------------------------------------------
def predict_val(config: str, checkpoint: str, data_root: str):
    """The model (no tracker) on every val frame in dataset order: (samples, model, dataset)."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import mmpdepth  # noqa: F401
    from mmpdepth.registry import DATASETS, MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    tracker_cfg = dict(cfg.model.test_cfg).pop('tracker', None)
    cfg.model.test_cfg = {k: v for k, v in cfg.model.test_cfg.items() if k != 'tracker'}
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)
    samples = []
    with torch.no_grad():
        for i in range(len(dataset)):
            samples += model.test_step(pseudo_collate([dataset[i]]))
    return samples, model, dataset, tracker_cfg


def table(results: Dict[str, Dict[str, float]]) -> str:
    rows = [f'{"ids":10s} {"":8s} {"all":>7s} {"things":>7s} {"stuff":>7s}']
    for name, r in results.items():
        for k in (*KS, None):
            key = 'DVPQ' if k is None else f'DVPQ_{k}'
            label = 'mean' if k is None else f'DVPQ_{k}'
            vals = [r.get(key.replace('PQ', f'PQ{s}', 1), float('nan'))
                    for s in ('', '_th', '_st')]
            rows.append(f'{name:10s} {label:8s}' + ''.join(f' {v:7.2f}' for v in vals))
        rows.append('')
    return '\n'.join(rows)


def bench_dvpq(args) -> None:
    import logging
    import warnings

    from mmengine.logging import MMLogger

    from mmpdepth.registry import TASK_UTILS
    warnings.filterwarnings('ignore')
    t0 = time.time()
    samples, model, dataset, tracker_cfg = predict_val(args.config, args.checkpoint, args.data)
    print(f'predicted {len(samples)} frames in {time.time() - t0:.1f} s')
    divisor = model.panoptic_fusion_head.test_cfg['label_divisor']
    tracker_cfg = dict(tracker_cfg or dict(type='KernelTracker'))
    for kv in args.tracker or []:
        k, v = kv.split('=', 1)
        tracker_cfg[k] = float(v) if k != 'memory' else int(v)
    tracker = TASK_UTILS.build(dict(tracker_cfg, max_track_id=divisor))
    print(f'tracker: {tracker_cfg}')
    n_things = [int(s.pred_segments.is_thing.sum()) for s in samples]
    print(f'thing segments per frame: mean {np.mean(n_things):.2f}, min {min(n_things)}, '
          f'max {max(n_things)}')
    meta = dataset.metainfo
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # the metric's own tables
    results = {'per-frame': dvpq(samples, meta),
               'tracker': dvpq(apply_tracker(samples, tracker, divisor), meta),
               'oracle': dvpq(apply_oracle(samples, divisor), meta)}
    print('\nDVPQ_k (percent) on the synthetic val sequences; mean = DVPQ over k = 1..4\n')
    print(table(results))
    for name, r in results.items():
        ratio = r.get('DVPQ_th_4', float('nan')) / r['DVPQ_th_1'] if r['DVPQ_th_1'] > 0 \
            else float('nan')
        print(f'{name:10s} things DVPQ_4 / DVPQ_1 = {ratio:.3f}')


# -- overhead ----------------------------------------------------------------------------------
def synthetic_frame(n: int, t: int, h: int, w: int, kernels: torch.Tensor, divisor: int = 1000):
    """A fusion-head-like prediction at (h, w): road, and n car boxes moving right by t."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData
    pan = torch.zeros(1, h, w, dtype=torch.long)
    g = torch.Generator().manual_seed(n)
    ys = torch.randint(0, h - 64, (n, ), generator=g)
    xs = torch.randint(0, w - 128, (n, ), generator=g)
    for i in range(n):
        x = int(xs[i] + 4 * t) % (w - 128)
        pan[0, ys[i]:ys[i] + 64, x:x + 128] = 13 * divisor + i + 1
    segs = InstanceData()
    present = [i for i in range(n) if bool((pan == 13 * divisor + i + 1).any())]
    segs.ids = torch.tensor([13 * divisor + i + 1 for i in present] + [0])
    segs.labels = torch.tensor([13] * len(present) + [0])
    segs.scores = torch.ones(len(present) + 1)
    segs.is_thing = torch.tensor([True] * len(present) + [False])
    segs.areas = torch.ones(len(present) + 1, dtype=torch.long)
    segs.kernels = torch.cat([kernels[present], torch.zeros(1, kernels.shape[1])])
    ds = DetDataSample(metainfo=dict(seq_id='bench'))
    ds.pred_panoptic_seg = PixelData(sem_seg=pan)
    ds.pred_segments = segs
    return ds


def bench_overhead(args) -> None:
    import mmpdepth  # noqa: F401
    from mmpdepth.models.trackers import KernelTracker
    torch.set_num_threads(args.threads)
    h, w = 1024, 2048
    print(f'KernelTracker.track_sample at {h}x{w}, kernels of 256 channels, '
          f'{args.frames} frames, {torch.get_num_threads()} threads (median ms per frame)')
    print(f'{"things":>7s} {"iou_weight":>10s} {"ms":>8s}' +
          (f' {"% of frame":>11s}' if args.frame_seconds else ''))
    for n in (10, 30, 100):
        kernels = torch.randn(n, 256, generator=torch.Generator().manual_seed(0))
        frames = [synthetic_frame(n, t, h, w, kernels) for t in range(args.frames)]
        for iou_weight in (0.0, 0.5):
            tracker = KernelTracker(iou_weight=iou_weight)
            times = []
            for ds in frames:
                ds = copy.deepcopy(ds)
                t0 = time.perf_counter()
                tracker.track_sample(ds, 1000)
                times.append(time.perf_counter() - t0)
            ms = 1e3 * statistics.median(times[1:])
            line = f'{n:7d} {iou_weight:10.1f} {ms:8.1f}'
            if args.frame_seconds:
                line += f' {100 * ms / 1e3 / args.frame_seconds:10.2f}%'
            print(line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', nargs='?')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--data', default=osp.join(ROOT, 'data/synthetic_dps'))
    p.add_argument('--tracker', nargs='+', metavar='KEY=VALUE',
                   help='KernelTracker settings (e.g. match_thr=0.6 memory=2)')
    p.add_argument('--overhead', action='store_true', help='time the tracker alone')
    p.add_argument('--frame-seconds', type=float, default=None,
                   help='measured per-frame inference time to compare with (--overhead)')
    p.add_argument('--frames', type=int, default=12)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    if args.overhead:
        bench_overhead(args)
        return 0
    if not (args.config and args.checkpoint):
        p.error('CONFIG and CKPT are needed (or --overhead)')
    bench_dvpq(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
