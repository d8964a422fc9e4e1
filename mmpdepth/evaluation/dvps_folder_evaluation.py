"""Offline DPQ / DVPQ_k evaluation of prediction folders in the reference file formats.

Used by ``tools/analysis_tools/eval_dpq.py`` and by ``benchmarks/bench_dpq.py``.
"""
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from multiprocessing import get_context
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmpdepth.formats import DEFAULT_GT_DEPTH_RANGE, DEPTH_SCALE

from .dvps_files import DVPSFrame, index_cityscapes_dvps, index_semkitti_dvps, load_frame
from .functional import (DPQ_THRESHOLDS, PQStats, get_protocol, make_windows, summarize_depth,
                         summarize_dpq, window_stats)
from .functional.depth_metrics import depth_pass

#: keys written by ``eval_dpq.py --out`` (values in percent, depth errors in their own units)
RESULT_KEYS = ('PQ', 'PQ_th', 'PQ_st', 'DPQ@0.5', 'DPQ_th@0.5', 'DPQ_st@0.5', 'DPQ@0.25',
               'DPQ_th@0.25', 'DPQ_st@0.25', 'DPQ@0.1', 'DPQ_th@0.1', 'DPQ_st@0.1', 'DPQ',
               'DPQ_th', 'DPQ_st', 'AbsRel', 'RMSE')


def _load_window(task: Tuple[List[DVPSFrame], List[int]], protocol_name: str,
                 with_depth: bool, gt_depth_range=DEFAULT_GT_DEPTH_RANGE
                 ) -> Tuple[list, List[int], list]:
    """Decode a window's files: ([(gt, pred, pred_depth, gt_depth) per frame], owned,
    [(GT depth file, pixels excluded)])."""
    frames, owned = task
    notes: list = []
    return [load_frame(f, protocol_name, with_depth, notes, gt_depth_range)
            for f in frames], owned, notes


def _score_window(loaded: Tuple[list, List[int], list], protocol_name: str,
                  with_depth: bool) -> Tuple[Dict, List[np.ndarray], list]:
    """PQ / DPQ statistics of a decoded window and the depth sums of the frames it owns (one
    pass over each frame's depth gives its DPQ error levels and, if owned, its sums)."""
    frames, owned, notes = loaded
    protocol = get_protocol(protocol_name)
    gts, preds, pdeps, gdeps = (list(x) for x in zip(*frames))
    thresholds = (None, ) + (DPQ_THRESHOLDS if with_depth else ())
    levels, dsums = None, []
    if with_depth:
        passes = [depth_pass(pdeps[i], gdeps[i], DPQ_THRESHOLDS, with_sums=i in owned,
                             unit=1.0 / DEPTH_SCALE) for i in range(len(frames))]
        levels = [level for _, level in passes]
        dsums = [passes[i][0] for i in owned]
    stats = window_stats(gts, preds, None, None, protocol, thresholds, depth_levels=levels)
    return {k: v.to_array() for k, v in stats.items()}, dsums, notes


def index_folders(protocol_name: str, gt_dir: str, pan_dir: str,
                  depth_dir: Optional[str]) -> List[List[DVPSFrame]]:
    if protocol_name == 'cityscapes-dvps':
        return index_cityscapes_dvps(gt_dir, pan_dir, depth_dir)
    return index_semkitti_dvps(gt_dir, pan_dir, depth_dir)


def evaluate_dvps_folders(protocol_name: str,
                          gt_dir: str,
                          pan_dir: str,
                          depth_dir: Optional[str],
                          eval_frames: int = 1,
                          nproc: int = 1,
                          progress: bool = True,
                          skip_absent: bool = False,
                          gt_depth_range=DEFAULT_GT_DEPTH_RANGE) -> Dict[str, float]:
    """Evaluate a prediction folder against a GT folder.

    Args:
        protocol_name: 'cityscapes-dvps' or 'semkitti-dvps'.
        depth_dir: predicted depth folder; ``None`` evaluates PQ only.
        eval_frames: k of DVPQ_k (1 = DPQ).
        nproc: worker processes (1 = in-process).
        gt_depth_range: (min, max) metres of trusted GT depth (max None: the 16-bit
            ceiling); other GT depth pixels count as invalid (see
            :mod:`mmpdepth.formats.depth_range`).

    Returns:
        dict: the summary (see :data:`RESULT_KEYS`) plus ``_stats`` for tables and
        ``_depth_excluded``: ``{GT depth file: pixels set invalid}``.
    """
    protocol = get_protocol(protocol_name)
    seqs = index_folders(protocol_name, gt_dir, pan_dir, depth_dir)
    frames = [f for s in seqs for f in s]
    windows = make_windows([len(s) for s in seqs], eval_frames, protocol)
    if not windows:
        raise ValueError(f'no window of {eval_frames} frames fits the {len(frames)} frames')
    # each frame's depth error is counted once: window i owns its first frame, the last window
    # of each run owns the rest
    owner = {}
    for wi, w in enumerate(windows):
        for j, fi in enumerate(w):
            owner.setdefault(fi, (wi, j))
    owned: List[List[int]] = [[] for _ in windows]
    for fi, (wi, j) in owner.items():
        owned[wi].append(j)
    tasks = [([frames[i] for i in w], owned[wi]) for wi, w in enumerate(windows)]
    kw = dict(protocol_name=protocol_name, with_depth=depth_dir is not None)
    results = _run(partial(_load_window, gt_depth_range=gt_depth_range, **kw),
                   partial(_score_window, **kw), tasks, nproc, progress)

    total: Dict = {}
    dsums = []
    excluded: Dict[str, int] = {}
    for stats, ds, notes in results:
        for k, arr in stats.items():
            total[k] = total[k] + arr if k in total else arr
        dsums += ds
        excluded.update(notes)
    stats = {k: PQStats.from_array(v) for k, v in total.items()}
    out = summarize_dpq(stats, protocol, skip_absent=skip_absent)
    if depth_dir is not None:
        if not any(d[0] > 0 for d in dsums):  # d[0]: the frame's number of GT depth > 0 pixels
            raise ValueError(f'{gt_dir}: no GT depth > 0 in any of the {len(frames)} frames '
                             '(DPQ would equal PQ and the depth errors be NaN); are these the '
                             'depth files of this split?')
        depth = summarize_depth(dsums)
        out.update(depth)
    out['_stats'] = stats
    out['_depth_excluded'] = excluded
    out['_num_frames'] = len(frames)
    out['_num_windows'] = len(windows)
    return out


def evaluate_dvpq_folders(protocol_name: str,
                          gt_dir: str,
                          pan_dir: str,
                          depth_dir: Optional[str],
                          frames: Sequence[int] = (1, 2, 3, 4),
                          nproc: int = 1,
                          progress: bool = True,
                          skip_absent: bool = False,
                          gt_depth_range=DEFAULT_GT_DEPTH_RANGE) -> Dict[str, float]:
    """:func:`evaluate_dvps_folders` for each window length k of ``frames``: the k = 1 summary
    (PQ, DPQ, depth errors) plus ``DVPQ_k`` / ``DVPQ_th_k`` / ``DVPQ_st_k`` (DPQ on windows
    of k frames; ``VPQ_k`` without ``depth_dir``) and their means over k ``DVPQ`` /
    ``DVPQ_th`` / ``DVPQ_st`` (the leaderboard number)."""
    frames = sorted({int(k) for k in frames} | {1})
    src, name = ('DPQ', 'DVPQ') if depth_dir is not None else ('PQ', 'VPQ')
    out: Dict = {}
    for k in frames:
        res = evaluate_dvps_folders(protocol_name, gt_dir, pan_dir, depth_dir, eval_frames=k,
                                    nproc=nproc, progress=progress, skip_absent=skip_absent,
                                    gt_depth_range=gt_depth_range)
        if k == 1:
            out.update(res)
        for suffix in ('', '_th', '_st'):
            out[f'{name}{suffix}_{k}'] = res[f'{src}{suffix}']
    for suffix in ('', '_th', '_st'):
        out[f'{name}{suffix}'] = float(np.mean([out[f'{name}{suffix}_{k}'] for k in frames]))
    return out


def video_result_keys(results: Dict) -> List[str]:
    """The DVPQ / VPQ keys of a result dict, in table order."""
    return [k for k in results if k.startswith(('DVPQ', 'VPQ'))]


class _TextProgress:
    """A dependency-free progress line (mmengine's ``ProgressBar`` when mmengine is loaded
    anyway; importing it only for this costs more than evaluating a short set)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.time()

    def update(self) -> None:
        self.done += 1
        rate = self.done / max(time.time() - self.start, 1e-9)
        print(f'\r[{self.done}/{self.total}] {rate:.1f} task/s, ETA '
              f'{(self.total - self.done) / rate:.0f}s', end='', file=sys.stderr, flush=True)


def _run(load, score, tasks: Sequence, nproc: int, progress: bool) -> List:
    """``score(load(task))`` for every task, in order. One process: a reader thread decodes
    the next task's files while this one is scored (decoding releases the GIL). Several: a
    fork pool streams the tasks to the workers."""
    bar = None
    if progress:
        if 'mmengine' in sys.modules:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(tasks))
        else:
            bar = _TextProgress(len(tasks))
    out = []
    try:
        if nproc <= 1:
            with ThreadPoolExecutor(1) as reader:
                pending = reader.submit(load, tasks[0]) if tasks else None
                for i in range(len(tasks)):
                    loaded = pending.result()
                    if i + 1 < len(tasks):
                        pending = reader.submit(load, tasks[i + 1])
                    out.append(score(loaded))
                    if bar:
                        bar.update()
        else:
            fn = partial(_load_and_score, load, score)
            with get_context('fork').Pool(nproc, initializer=_ignore_sigint) as pool:
                for r in pool.imap(fn, tasks, chunksize=max(1, len(tasks) // (nproc * 8))):
                    out.append(r)
                    if bar:
                        bar.update()
    finally:
        if bar:  # end the progress line, also before an error message
            print(file=sys.stderr if isinstance(bar, _TextProgress) else sys.stdout)
    return out


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the main process, which stops the pool and reports it in
    one line (otherwise every worker prints a KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _load_and_score(load, score, task):
    return score(load(task))
