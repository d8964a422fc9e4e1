"""Dataset conventions of the DVPS reference evaluators and the DPQ computation built on them.

DPQ^λ is PQ after :func:`apply_depth_threshold`; ``DPQ`` is the mean over λ ∈ {0.5, 0.25, 0.1}.
Statistics are summed over the whole set (frames or windows) before PQ is computed per class.
"""
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, SEMKITTI_DVPS_FORMAT, AnnotationFormat

from .depth_metrics import depth_error_level
from .panoptic_quality import PQStats, dense_ids, stats_from_histogram, summarize_pq

#: depth thresholds of DPQ, in the order the reference reports them
DPQ_THRESHOLDS = (0.5, 0.25, 0.1)


@dataclass(frozen=True)
class DVPSProtocol:
    """Conventions of one DVPS benchmark: its annotation format (ids, void, classes) and the
    evaluator's own rules.

    Attributes:
        format: the :class:`AnnotationFormat`; ``name``, ``label_divisor``, ``void_category``,
            ``num_classes``, ``thing_classes`` and ``stuff_classes`` are read from it.
        epsilon: ε in SQ/RQ (0 for Cityscapes-DVPS, 1e-10 for SemKITTI-DVPS).
        sequence_frames: frames per sequence for video windows (Cityscapes: 6), or None when
            windows slide over the whole sorted frame list (SemKITTI).

    Category ``num_classes`` is "wrong depth" (DPQ).
    """
    format: AnnotationFormat
    epsilon: float
    sequence_frames: Optional[int]

    name = property(lambda self: self.format.name)
    label_divisor = property(lambda self: self.format.label_divisor)
    void_category = property(lambda self: self.format.void_category)
    num_classes = property(lambda self: self.format.num_classes)
    thing_classes = property(lambda self: self.format.thing_ids)
    stuff_classes = property(lambda self: self.format.stuff_ids)

    @property
    def num_categories(self) -> int:
        return self.num_classes + 1

    @property
    def wrong_depth_id(self) -> int:
        return self.num_classes * self.label_divisor


CITYSCAPES_DVPS = DVPSProtocol(CITYSCAPES_DVPS_FORMAT, epsilon=0.0, sequence_frames=6)
SEMKITTI_DVPS = DVPSProtocol(SEMKITTI_DVPS_FORMAT, epsilon=1e-10, sequence_frames=None)

PROTOCOLS = {p.name: p for p in (CITYSCAPES_DVPS, SEMKITTI_DVPS)}


def get_protocol(name: str) -> DVPSProtocol:
    if name not in PROTOCOLS:
        raise KeyError(f'unknown DVPS protocol {name!r}; choose from {sorted(PROTOCOLS)}')
    return PROTOCOLS[name]


def window_stats(gt_ids: Sequence[np.ndarray],
                 pred_ids: Sequence[np.ndarray],
                 pred_depths: Optional[Sequence[np.ndarray]],
                 gt_depths: Optional[Sequence[np.ndarray]],
                 protocol: DVPSProtocol,
                 thresholds: Sequence[Optional[float]] = (None, ) + DPQ_THRESHOLDS,
                 depth_levels: Optional[Sequence[np.ndarray]] = None
                 ) -> Dict[Optional[float], PQStats]:
    """PQ statistics of one window of k frames (k = 1: one image), for each threshold.

    The frames are depth-filtered one by one (λ = None: no filtering, plain PQ) and concatenated
    side by side before matching, as DVPQ_k does.

    ``depth_levels``: per frame, :func:`depth_error_level` for the λ of ``thresholds`` when the
    caller has it already (e.g. from :func:`depth_pass` with the depth sums); the depth maps
    are then not read.

    Returns:
        dict: λ -> :class:`PQStats`.
    """
    if len(gt_ids) != len(pred_ids) or len(gt_ids) == 0:
        raise ValueError('a window needs the same non-zero number of GT and predicted frames')
    gt_cat = _side_by_side(gt_ids, ids=True)
    pred_cat = _side_by_side(pred_ids, ids=True)
    if gt_cat.shape != pred_cat.shape:
        raise ValueError('GT and prediction windows differ in size')
    lams = sorted({lam for lam in thresholds if lam is not None}, reverse=True)
    n_levels = len(lams) + 1
    # one histogram by (GT, prediction, level) serves PQ and every λ, where level = how many
    # thresholds the pixel's depth error exceeds (0 where GT depth is invalid): DPQ at the
    # j-th smallest λ (j = 0, 1, ...) moves the pixels of level > j to the wrong-depth id.
    # Bin of a pixel: (gt_index * n_pred + pred_index) * n_levels + level
    pred_u, pred_key, pred_area = dense_ids(pred_cat, stride=n_levels)
    # the wrong-depth id gets a dense index too (appended if no prediction uses it yet)
    wrong = protocol.wrong_depth_id
    pos = int(np.searchsorted(pred_u, wrong))
    if pos < len(pred_u) and pred_u[pos] == wrong:
        wrong_idx, pred_u_all, pred_area0 = pos, pred_u, pred_area
    else:
        wrong_idx = len(pred_u)
        pred_u_all = np.append(pred_u, wrong)
        pred_area0 = np.append(pred_area, 0)
    n_pred = len(pred_u_all)
    gt_u, key, gt_area = dense_ids(gt_cat, stride=n_pred * n_levels)  # shared by all λ
    if gt_u.size and (gt_u[0] < 0 or pred_u[0] < 0):
        raise ValueError('panoptic ids must be non-negative')
    size = len(gt_u) * n_pred
    key += pred_key
    if lams:
        if depth_levels is not None:
            level = _side_by_side(depth_levels)
        elif pred_depths is None or gt_depths is None:
            raise ValueError('depth maps are needed for a depth threshold')
        else:
            gd = _side_by_side(gt_depths)
            pd = _side_by_side(pred_depths)
            if gd.shape != gt_cat.shape or pd.shape != gt_cat.shape:
                raise ValueError('depth maps and panoptic maps differ in size')
            level = depth_error_level(pd, gd, lams)
        if level.shape != gt_cat.shape:
            raise ValueError('depth maps and panoptic maps differ in size')
        key += level
        hist = np.bincount(key, minlength=size * n_levels).reshape(size, n_levels)
        # moved_from[:, j] = pixels of level >= j (column 0: all pixels)
        moved_from = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]
        joint0 = np.ascontiguousarray(moved_from[:, 0])
    else:
        joint0 = np.bincount(key, minlength=size)
    out = {}
    for lam in thresholds:
        if lam is None:
            joint, area = joint0, pred_area0
        else:
            # DPQ^λ: move the wrong-depth pixels from their segment to the wrong-depth id
            j = len(lams) - 1 - lams.index(lam)  # lams is sorted descending
            moved = moved_from[:, j + 1].reshape(len(gt_u), n_pred)  # (GT, prediction) moved
            joint = joint0 - moved.ravel()
            joint.reshape(len(gt_u), n_pred)[:, wrong_idx] += moved.sum(1)
            area = pred_area0 - moved.sum(0)
            area[wrong_idx] += int(moved.sum())
        out[lam] = stats_from_histogram(gt_u, gt_area, pred_u_all, area, joint,
                                        protocol.label_divisor, protocol.void_category,
                                        protocol.num_categories)
    return out


def _side_by_side(maps: Sequence[np.ndarray], ids: bool = False) -> np.ndarray:
    """Frames of a window concatenated along the width, flattened (one frame: no copy).
    ``ids=True``: non-integer arrays are cast to int64 (integer ones keep their dtype)."""
    arrs = [np.asarray(m) for m in maps]
    if ids:
        arrs = [a if np.issubdtype(a.dtype, np.integer) else a.astype(np.int64) for a in arrs]
    if len(arrs) == 1:
        return np.ascontiguousarray(arrs[0]).ravel()
    return np.concatenate(arrs, axis=1).ravel()


def make_windows(num_frames_per_group: Sequence[int], k: int,
                 protocol: DVPSProtocol) -> List[List[int]]:
    """Indices of the k-frame windows over a sorted frame list.

    Args:
        num_frames_per_group: number of frames in each sequence, in list order.
        k: window length (1 = DPQ).
        protocol: Cityscapes-DVPS windows stay inside a sequence (reference: ``range(6 - k + 1)``
            per sequence); SemKITTI-DVPS windows slide over the whole list, across sequences,
            as its reference script does.
    """
    if k < 1:
        raise ValueError(f'window length must be >= 1, got {k}')
    windows = []
    if protocol.sequence_frames is None:
        total = int(sum(num_frames_per_group))
        return [list(range(i, i + k)) for i in range(total - k + 1)]
    start = 0
    for n in num_frames_per_group:
        windows += [list(range(start + i, start + i + k)) for i in range(n - k + 1)]
        start += n
    return windows


def summarize_dpq(stats: Dict[Optional[float], PQStats],
                  protocol: DVPSProtocol,
                  skip_absent: bool = False,
                  warn_absent: bool = True) -> Dict[str, float]:
    """Flat dict of PQ / DPQ numbers in **percent** from summed statistics.

    Keys: ``PQ, PQ_th, PQ_st`` (λ = None), ``DPQ@λ, DPQ_th@λ, DPQ_st@λ`` for each λ, and ``DPQ,
    DPQ_th, DPQ_st`` (mean over the DPQ thresholds present).

    Args:
        skip_absent: average over classes present in GT or prediction only (otherwise an absent
            class gives NaN with ε = 0, as in the reference).
        warn_absent: warn naming absent classes.
    """
    out: Dict[str, float] = {}
    absent_reported = False
    groups = (('', None), ('_th', protocol.thing_classes), ('_st', protocol.stuff_classes))
    for lam, st in stats.items():
        summ = summarize_pq(st, protocol.num_classes, protocol.epsilon)
        if warn_absent and not absent_reported and summ.absent.any():
            absent_reported = True
            absent = np.flatnonzero(summ.absent).tolist()
            if skip_absent:
                what = 'they are left out of the class means (skip_absent=True)'
            else:
                what = (f'their PQ is {"NaN" if protocol.epsilon == 0 else "0"} and enters the '
                        'class means (use skip_absent to average over present classes)')
            warnings.warn(f'{protocol.name}: classes {absent} appear in neither GT nor '
                          f'prediction; {what}', UserWarning)
        key = 'PQ' if lam is None else 'DPQ'
        for suffix, classes in groups:
            value = 100.0 * summ.mean(classes, skip_absent=skip_absent)
            out[f'{key}{suffix}' if lam is None else f'{key}{suffix}@{lam:g}'] = value
    lams = [lam for lam in DPQ_THRESHOLDS if lam in stats]
    if lams:
        for suffix, _ in groups:
            out[f'DPQ{suffix}'] = float(np.mean([out[f'DPQ{suffix}@{lam:g}'] for lam in lams]))
    return out
