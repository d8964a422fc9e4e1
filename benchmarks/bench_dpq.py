"""DPQ evaluation speed: fast path vs the per-segment re-statement of the reference algorithm.

    python benchmarks/bench_dpq.py [--frames 300] [--height 1024] [--width 2048]
        [--ref-frames 20] [--nproc 1 2] [--repeat 3] [--workdir DIR]
    python benchmarks/bench_dpq.py --reference PATH/eval_dvpq.py [--frames 60] [--rounds 3]

Writes synthetic Cityscapes-DVPS GT and predictions (1024x2048, realistic segment counts:
scenes from the synthetic renderer, predictions with shifted boundaries, split / merged
instances and noisy depth) and evaluates all four thresholds (PQ + DPQ@{0.5,0.25,0.1}):

* the fast path (``mmpdepth.evaluation``) over all frames, single process and with ``--nproc``,
* on the first ``--ref-frames`` frames, frame by frame in turn: the PNG reading alone, the
  fast path and the per-segment re-statement (``tests/test_evaluation/reference_dvpq.py``),
  each with its own reading, checking equal statistics,
* both again on those frames already decoded (no PNG reading: the case of ``DPQMetric``, which
  gets the predictions in memory during training / ``tools/test.py``), fastest of ``--repeat``.

Prints a table of frames/s. File reading, where included, uses the same reader for both.

``--reference PATH``: side by side with a reference script given by path (ViP-DeepLab's
``cityscapes-dvps/eval_dvpq.py``, not shipped), whole-process wall times, in alternating
rounds (median of ``--rounds``): the reference run once per threshold as its README does (PQ
with ``--depth_thres 0``, then 0.5 / 0.25 / 0.1; it starts ``2 * cpu_count`` worker processes
each time and reads ``video_sequence/val`` from its working directory), ours
(``tools/analysis_tools/eval_dpq.py``, all thresholds in one run) with 1 and 2 processes, and
the decode floor (a process that only decodes every PNG once with our reader, 1 and 2
processes). The printed reference numbers must equal ours (to their 2 decimals; a NaN on one
side only is a difference). Every class appears in each frame, so no mean is NaN.
Current Pillow reads 16-bit depth PNGs as uint16, where the reference's ``pred - gt`` wraps
around: time a copy whose two depth reads are cast to int32 (else its DPQ differs).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_evaluation'))

from mmpdepth.datasets.synthetic import SyntheticSceneRenderer  # noqa: E402
from mmpdepth.evaluation.dvps_files import index_cityscapes_dvps, load_frame  # noqa: E402
from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, write_depth_png  # noqa: E402
from mmpdepth.evaluation.dvps_folder_evaluation import evaluate_dvps_folders  # noqa: E402
from mmpdepth.evaluation.functional import (CITYSCAPES_DVPS, DPQ_THRESHOLDS,  # noqa: E402
                                            apply_depth_threshold, window_stats)
from reference_dvpq import reference_pq_stats  # noqa: E402


def paint_every_class(ids: np.ndarray, pred: np.ndarray, rng) -> None:
    """A strip of 19 blocks at the bottom, one per class (things with an instance id), in GT
    and prediction (shifted by a few pixels), so that every class has TP / FN / FP counts."""
    h, w = ids.shape
    bh, bw = max(h // 16, 4), w // 19
    for c in range(19):
        val = c * 1000 + (1 if c >= 11 else 0)
        ids[h - bh:, c * bw:(c + 1) * bw] = val
        dx = int(rng.integers(-bw // 8, bw // 8 + 1))
        pred[h - bh:, max(c * bw + dx, 0):max((c + 1) * bw + dx, 0)] = val


def make_set(out: str, frames: int, h: int, w: int, seed: int = 0) -> None:
    gt_dir = osp.join(out, 'gt')
    pan_dir = osp.join(out, 'pan')
    dep_dir = osp.join(out, 'depth')
    for d in (gt_dir, pan_dir, dep_dir):
        os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    scenes = []
    for s in range(6):  # a few rendered scenes, varied per frame below
        r = SyntheticSceneRenderer(h, w, np.random.default_rng(seed + s))
        scenes.append(r.render(0))
    for i in range(frames):
        _, ids, depth = scenes[i % len(scenes)]
        ids = ids.astype(np.int64).copy()
        ids[rng.random(ids.shape) < 0.01] = 32000  # scattered void
        pred = np.roll(ids, int(rng.integers(-6, 7)), axis=1)
        pred[pred == 32000] = 0
        # split one thing and relabel a random block
        things = np.unique(pred[pred >= 11000])
        if len(things):
            t = things[rng.integers(len(things))]
            m = pred == t
            xs = np.nonzero(m.any(0))[0]
            if len(xs) > 2:
                pred[m & (np.arange(w)[None] < xs[len(xs) // 2])] = (t // 1000) * 1000 + 200
        y0, x0 = rng.integers(0, h - 64), rng.integers(0, w - 64)
        pred[y0:y0 + 64, x0:x0 + 64] = 8000
        paint_every_class(ids, pred, rng)
        pdepth = depth * rng.uniform(0.85, 1.15, depth.shape)
        seq, frame = i // 6, i % 6
        stem = f'{seq:06d}_{frame:06d}_bench_{seq:06d}_{frame:06d}'
        Image.fromarray(ids.astype(np.uint16)).save(
            osp.join(gt_dir, f'{stem}_gtFine_instanceTrainIds.png'))
        write_depth_png(osp.join(gt_dir, f'{stem}_depth.png'), depth)
        CITYSCAPES_DVPS_FORMAT.write_pred_ids([osp.join(pan_dir, f'{stem}_leftImg8bit.png')], pred)
        write_depth_png(osp.join(dep_dir, f'{stem}_leftImg8bit.png'), pdepth)


def reference_frame(frame):
    """All four thresholds of one frame with the per-segment re-statement."""
    return reference_arrays(*load_frame(frame, 'cityscapes-dvps', True))


def reference_arrays(gt, pred, pdep, gdep):
    """All four thresholds of one decoded frame with the per-segment re-statement."""
    p = CITYSCAPES_DVPS
    out = {None: reference_pq_stats(gt, pred, p.label_divisor, p.void_category,
                                    p.num_categories)}
    for lam in DPQ_THRESHOLDS:
        filt = apply_depth_threshold(pred, pdep, gdep, lam, p.wrong_depth_id)
        out[lam] = reference_pq_stats(gt, filt, p.label_divisor, p.void_category,
                                      p.num_categories)
    return out


DECODE_FLOOR = """
import os, sys
from multiprocessing import get_context
import cv2
def read(p):
    return cv2.imread(p, cv2.IMREAD_UNCHANGED).shape
root, n = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs
               if f.endswith('.png'))
if n > 1:
    with get_context('fork').Pool(n) as pool:
        list(pool.imap(read, files, chunksize=8))
else:
    list(map(read, files))
"""


def timed(cmd, cwd=None):
    """Whole-process wall time and stdout of a command (it must succeed)."""
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f'{cmd[:3]} failed: {r.stderr[-2000:]}')
    return dt, r.stdout


def parse_reference(stdout: str):
    """The reference prints 'PQ PQ_th PQ_st' with 2 decimals as its last line."""
    return [float(v) for v in stdout.strip().splitlines()[-1].split()]


def same_number(a: float, b: float) -> bool:
    """Equal to the reference's 2 printed decimals; a NaN on one side only differs."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return abs(round(a, 2) - b) <= 0.005 + 1e-9


def side_by_side(args, data: str) -> None:
    """Reference script vs ours vs the decode floor on the same files, alternating rounds."""
    gt_dir, pan_dir, dep_dir = (osp.join(data, d) for d in ('gt', 'pan', 'depth'))
    cwd = tempfile.mkdtemp(prefix='bench_dpq_ref_')  # the reference reads video_sequence/val
    os.makedirs(osp.join(cwd, 'video_sequence'))
    os.symlink(gt_dir, osp.join(cwd, 'video_sequence', 'val'))
    py = sys.executable
    thresholds = (0, 0.5, 0.25, 0.1)
    runs = {}

    def add(name, dt):
        runs.setdefault(name, []).append(dt)

    ref_numbers = {}
    ours_json = osp.join(cwd, 'ours.json')
    for _ in range(args.rounds):
        total = 0.0
        for lam in thresholds:
            dt, out = timed([py, osp.abspath(args.reference), '--pan_dir', pan_dir,
                             '--depth_dir', dep_dir, '--depth_thres', str(lam)], cwd=cwd)
            total += dt
            ref_numbers[lam] = parse_reference(out)
        add('ref', total)
        for n in (1, 2):
            dt, _ = timed([py, osp.join(ROOT, 'tools', 'analysis_tools', 'eval_dpq.py'),
                           'cityscapes-dvps', '--gt-dir', gt_dir, '--pan-dir', pan_dir,
                           '--depth-dir', dep_dir, '--nproc', str(n), '--out', ours_json,
                           '--overwrite'])
            add(f'ours{n}', dt)
            dt, _ = timed([py, '-c', DECODE_FLOOR, data, str(n)])
            add(f'floor{n}', dt)
    ours = json.load(open(ours_json))
    diffs = []
    for lam in thresholds:
        key = '' if lam == 0 else f'@{lam:g}'
        names = (f'PQ{key}', f'PQ_th{key}', f'PQ_st{key}') if lam == 0 else \
            (f'DPQ{key}', f'DPQ_th{key}', f'DPQ_st{key}')
        for name, ref in zip(names, ref_numbers[lam]):
            if not same_number(ours[name], ref):
                diffs.append(f'{name}: ours {ours[name]!r}, reference {ref!r}')
    med = {k: statistics.median(v) for k, v in runs.items()}
    n_frames = args.frames
    print(f'\n{n_frames} frames {args.height}x{args.width}, PQ + DPQ@0.5/0.25/0.1, whole-process '
          f'wall time, median of {args.rounds} alternating rounds:')
    print(f'{"":52s} {"seconds":>8s} {"frames/s":>9s} {"vs reference":>13s}')
    rows = [('reference, run per threshold (4 x %d processes)' % (2 * os.cpu_count()), 'ref'),
            ('ours, eval_dpq.py --nproc 1', 'ours1'), ('ours, eval_dpq.py --nproc 2', 'ours2'),
            ('decode floor, 1 process', 'floor1'), ('decode floor, 2 processes', 'floor2')]
    for label, k in rows:
        print(f'{label:52s} {med[k]:8.2f} {n_frames / med[k]:9.2f} '
              f'{med["ref"] / med[k]:12.1f}x')
    print(f'ours / decode floor: {med["ours1"] / med["floor1"]:.2f}x (1 process), '
          f'{med["ours2"] / med["floor2"]:.2f}x (2 processes)')
    print('numbers: ' + ('equal to the reference\'s printed PQ / DPQ (all, things, stuff) at '
                         'every threshold' if not diffs else 'DIFFER: ' + '; '.join(diffs)))
    if diffs:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=300)
    ap.add_argument('--height', type=int, default=1024)
    ap.add_argument('--width', type=int, default=2048)
    ap.add_argument('--ref-frames', type=int, default=20)
    ap.add_argument('--nproc', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--repeat', type=int, default=3,
                    help='timed runs of each decoded-frame loop (the fastest is reported)')
    ap.add_argument('--workdir', default=None, help='keep the generated files here')
    ap.add_argument('--reference', default=None,
                    help='path of ViP-DeepLab\'s cityscapes-dvps/eval_dvpq.py: side-by-side mode')
    ap.add_argument('--rounds', type=int, default=3, help='side-by-side rounds (median)')
    args = ap.parse_args()
    tmp = args.workdir or tempfile.mkdtemp(prefix='bench_dpq_')
    t = time.time()
    if not osp.isdir(osp.join(tmp, 'gt')):
        make_set(tmp, args.frames, args.height, args.width)
    print(f'data: {args.frames} frames {args.height}x{args.width} in {tmp} '
          f'({time.time() - t:.0f} s to write)')
    if args.reference:
        if not osp.isfile(args.reference):
            sys.exit(f'--reference {args.reference}: no such file')
        return side_by_side(args, tmp)
    gt_dir, pan_dir, dep_dir = (osp.join(tmp, d) for d in ('gt', 'pan', 'depth'))
    folder_rows = []
    fast_stats = None
    for n in args.nproc:
        t = time.time()
        res = evaluate_dvps_folders('cityscapes-dvps', gt_dir, pan_dir, dep_dir, nproc=n,
                                    progress=False, skip_absent=True)
        folder_rows.append((f'fast path, all frames, {n} process(es)', args.frames,
                            time.time() - t))
        fast_stats = fast_stats or res
    frames = [f for s in index_cityscapes_dvps(gt_dir, pan_dir, dep_dir) for f in s]
    k = min(args.ref_frames, len(frames))
    # both paths on the same frames with PNG reading, interleaved frame by frame so that the
    # load of this shared machine weighs on both alike; statistics must be equal
    t_read = t_fast = t_ref = 0.0
    max_diff = 0.0
    decoded = []
    for f in frames[:k]:
        t = time.time()
        arrays = load_frame(f, 'cityscapes-dvps', True)
        t_read += time.time() - t
        decoded.append(arrays)
        t = time.time()
        gt, pred, pdep, gdep = load_frame(f, 'cityscapes-dvps', True)
        fast = window_stats([gt], [pred], [pdep], [gdep], CITYSCAPES_DVPS)
        t_fast += time.time() - t
        t = time.time()
        ref = reference_frame(f)
        t_ref += time.time() - t
        for lam, st in fast.items():
            iou, tp, fp, fn = ref[lam]
            assert st.tp.tolist() == tp and st.fp.tolist() == fp and st.fn.tolist() == fn
            iou = np.asarray(iou, np.float64)
            assert (np.isnan(st.iou) == np.isnan(iou)).all(), 'a NaN on one side only'
            max_diff = max(max_diff, float(np.nanmax(np.abs(st.iou - iou), initial=0.0)))

    # the same frames already decoded (what DPQMetric does inside training: no file reading);
    # each loop is timed --repeat times and the fastest run is kept
    def best_of(fn):
        times = []
        for _ in range(args.repeat):
            t = time.time()
            for gt, pred, pdep, gdep in decoded:
                fn(gt, pred, pdep, gdep)
            times.append(time.time() - t)
        return min(times)

    dt_fast_mem = best_of(
        lambda gt, pred, pdep, gdep: window_stats([gt], [pred], [pdep], [gdep], CITYSCAPES_DVPS))
    dt_ref_mem = best_of(reference_arrays)

    def row(name, n, dt):
        print(f'  {name:56s} {n:7d} {dt:9.1f} {n / dt:9.2f}')

    print(f'\n{"method":58s} {"frames":>7s} {"seconds":>9s} {"frames/s":>9s}')
    print('folder evaluation (eval_dpq.py path, PNG reading included):')
    for r in folder_rows:
        row(*r)
    print(f'first {k} frames, PNG reading included, interleaved:')
    row('reading the 4 PNGs of a frame only (load_frame)', k, t_read)
    row('fast path, 1 process', k, t_fast)
    row('per-segment re-statement, 1 process', k, t_ref)
    print(f'the same {k} frames decoded in memory (the DPQMetric case), fastest of '
          f'{args.repeat} runs:')
    row('fast path, 1 process', k, dt_fast_mem)
    row('per-segment re-statement, 1 process', k, dt_ref_mem)
    if len(folder_rows) > 1:
        print(f'\n--nproc scaling: {folder_rows[0][2] / folder_rows[-1][2]:.2f}x with '
              f'{args.nproc[-1]} processes')
    print(f'fast / per-segment, single process: {t_ref / t_fast:.1f}x with PNG reading '
          f'(reading alone is {100 * t_read / t_fast:.0f} % of the fast path\'s time), '
          f'{dt_ref_mem / dt_fast_mem:.1f}x on decoded frames; statistics equal on {k} frames '
          f'(max IoU-sum difference {max_diff:.1e}); over the classes present: '
          f'DPQ = {fast_stats["DPQ"]:.2f}, PQ = {fast_stats["PQ"]:.2f}')

if __name__ == '__main__':
    main()
