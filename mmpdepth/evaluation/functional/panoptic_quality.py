"""Panoptic matching and PQ statistics with the DVPS reference rules (pure numpy, no state).

The rules are those of ViP-DeepLab's ``eval_dvpq.py`` (Cityscapes-DVPS and SemKITTI-DVPS):

* ids are ``category * label_divisor + instance``; a GT id whose category is the void category
  is void (Cityscapes-DVPS: 32 -> 32000, SemKITTI-DVPS: 255);
* a GT/prediction pair of the **same category** with IoU > 0.5 is a true positive, where the union
  excludes the prediction's overlap with the GT void id (``void_category * label_divisor``);
* an unmatched GT segment of the void category is not a false negative;
* an unmatched prediction is not a false positive when more than half of its area lies on GT ids
  of the void category;
* group regions (a thing class with instance 0) are ordinary segments; there is no crowd logic.

Unlike the reference scripts all ids are int64 (SemKITTI's ``int32 * 2**30`` overflow cannot
happen) and the work is vectorised: ids are relabelled densely (a lookup table for ids below
2**22, else ``np.unique``) and the (GT, prediction) intersections are one ``np.bincount``.
"""
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np


@dataclass
class PQStats:
    """Per-category sums: ``iou``, ``tp``, ``fp``, ``fn`` each of shape (num_categories,).

    ``num_categories`` includes the extra "wrong depth" category used by DPQ (see
    :func:`apply_depth_threshold`), so it is usually ``num_classes + 1``.
    """
    iou: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    @classmethod
    def zeros(cls, num_categories: int) -> 'PQStats':
        return cls(np.zeros(num_categories, np.float64), np.zeros(num_categories, np.int64),
                   np.zeros(num_categories, np.int64), np.zeros(num_categories, np.int64))

    def __add__(self, other: 'PQStats') -> 'PQStats':
        return PQStats(self.iou + other.iou, self.tp + other.tp, self.fp + other.fp,
                       self.fn + other.fn)

    def to_array(self) -> np.ndarray:
        """(4, C) float64 array [iou, tp, fp, fn], handy for storage and all-gather."""
        return np.stack([self.iou, self.tp, self.fp, self.fn]).astype(np.float64)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> 'PQStats':
        arr = np.asarray(arr, dtype=np.float64)
        return cls(arr[0].copy(), arr[1].astype(np.int64), arr[2].astype(np.int64),
                   arr[3].astype(np.int64))


#: ids below this are relabelled with a lookup table (O(N)); larger ones with np.unique
_LUT_LIMIT = 1 << 22


def dense_ids(ids: np.ndarray, stride: int = 1):
    """Relabel ids to 0..K-1 (times ``stride``: a joint histogram's bin offset is then a sum of
    two gathers, with no multiply pass over the pixels).

    Returns:
        tuple: ``uniq`` (K,) sorted int64 ids, ``index`` (N,) ``stride`` x the index of each
        pixel's id in ``uniq`` (int32 while ``K * stride`` fits it: half the memory traffic of
        int64), ``counts`` (K,) pixels per id.
    """
    flat = np.asarray(ids).ravel()
    if flat.size and flat.min() >= 0 and flat.max() < _LUT_LIMIT:
        if flat.dtype == np.uint64:  # bincount refuses to cast it
            flat = flat.astype(np.int64)
        counts = np.bincount(flat)
        uniq = np.flatnonzero(counts)
        dtype = np.int32 if len(uniq) * stride < 2**31 else np.int64
        lut = np.zeros(len(counts), dtype)
        lut[uniq] = np.arange(0, len(uniq) * stride, stride, dtype=dtype)
        return uniq.astype(np.int64), lut[flat], counts[uniq]
    uniq, inverse, counts = np.unique(flat.astype(np.int64, copy=False), return_inverse=True,
                                      return_counts=True)
    return uniq, inverse.ravel() * stride, counts


def pq_stats(gt_ids: np.ndarray,
             pred_ids: np.ndarray,
             label_divisor: int,
             void_category: int,
             num_categories: int) -> PQStats:
    """Match the segments of one image (or one window of frames) and count TP/FP/FN per category.

    Args:
        gt_ids (np.ndarray): GT panoptic ids, any integer dtype, shape (H, W).
        pred_ids (np.ndarray): predicted ids, same shape.
        label_divisor (int): id = category * label_divisor + instance.
        void_category (int): GT category that is void (32 for Cityscapes-DVPS, 255 for SemKITTI).
        num_categories (int): length of the returned arrays. Predicted segments of the void
            category are treated as "no prediction" (never FP, never matched); any other category
            outside ``[0, num_categories)`` is an error.

    Returns:
        PQStats: per-category IoU sum, TP, FP, FN.
    """
    if np.shape(gt_ids) != np.shape(pred_ids):
        raise ValueError(f'GT and prediction differ in size: {np.shape(gt_ids)} vs '
                         f'{np.shape(pred_ids)}')
    stats = PQStats.zeros(num_categories)
    if np.size(gt_ids) == 0:
        return stats
    pred_u, pred_index, pred_area = dense_ids(pred_ids)
    n_pred = len(pred_u)
    gt_u, key, gt_area = dense_ids(gt_ids, stride=n_pred)
    if gt_u[0] < 0 or pred_u[0] < 0:
        raise ValueError('panoptic ids must be non-negative')
    # joint histogram of (gt segment, pred segment) via dense indices: O(N)
    key += pred_index
    joint = np.bincount(key, minlength=len(gt_u) * n_pred)
    return stats_from_histogram(gt_u, gt_area, pred_u, pred_area, joint, label_divisor,
                                void_category, num_categories)


def stats_from_histogram(gt_u: np.ndarray, gt_area: np.ndarray, pred_u: np.ndarray,
                         pred_area: np.ndarray, joint: np.ndarray, label_divisor: int,
                         void_category: int, num_categories: int) -> PQStats:
    """PQ statistics from segment areas and the flattened (G x P) intersection histogram.

    ``joint[g * P + p]`` = pixels of GT segment ``gt_u[g]`` and predicted segment ``pred_u[p]``.
    Predicted segments with zero area are ignored.
    """
    stats = PQStats.zeros(num_categories)
    div = np.int64(label_divisor)
    n_pred = len(pred_u)
    pair = np.flatnonzero(joint)
    gi_all, pi_all = pair // n_pred, pair % n_pred
    joint_area = joint[pair]
    pair_gt, pair_pred = gt_u[gi_all], pred_u[pi_all]
    gt_cat_of_pair = pair_gt // div
    pred_cat_of_pair = pair_pred // div

    pred_cat = pred_u // div
    bad = (pred_cat != void_category) & ((pred_cat < 0) | (pred_cat >= num_categories)) & \
        (pred_area > 0)
    if bad.any():
        raise ValueError(f'predicted categories {sorted(set(pred_cat[bad].tolist()))} are outside '
                         f'[0, {num_categories}) (label_divisor={label_divisor})')

    # per-prediction overlap with the exact GT void id, and with any GT id of the void category
    void_exact = np.zeros(n_pred, np.int64)
    on_void_id = pair_gt == void_category * div
    np.add.at(void_exact, pi_all[on_void_id], joint_area[on_void_id])
    void_any = np.zeros(n_pred, np.int64)
    on_void_cat = gt_cat_of_pair == void_category
    np.add.at(void_any, pi_all[on_void_cat], joint_area[on_void_cat])

    # candidate pairs: same category; the prediction must not be void itself
    same = (gt_cat_of_pair == pred_cat_of_pair) & (pred_cat_of_pair != void_category)
    gi = gi_all[same]
    pi = pi_all[same]
    inter = joint_area[same]
    union = gt_area[gi] + pred_area[pi] - inter - void_exact[pi]
    iou = inter / union.astype(np.float64)
    match = iou > 0.5
    cats = gt_cat_of_pair[same][match]
    np.add.at(stats.tp, cats, 1)
    np.add.at(stats.iou, cats, iou[match])

    gt_matched = np.zeros(len(gt_u), bool)
    gt_matched[gi[match]] = True
    pred_matched = np.zeros(n_pred, bool)
    pred_matched[pi[match]] = True

    gt_cat = gt_u // div
    fn_mask = ~gt_matched & (gt_cat != void_category)
    fn_cats = gt_cat[fn_mask]
    if fn_cats.size and (fn_cats.min() < 0 or fn_cats.max() >= num_categories):
        raise ValueError(f'GT categories {sorted(set(fn_cats.tolist()))} are outside '
                         f'[0, {num_categories}) and are not the void category {void_category}')
    np.add.at(stats.fn, fn_cats, 1)

    with np.errstate(divide='ignore', invalid='ignore'):
        ignored = void_any / pred_area.astype(np.float64) > 0.5
    fp_mask = ~pred_matched & ~ignored & (pred_cat != void_category) & (pred_area > 0)
    np.add.at(stats.fp, pred_cat[fp_mask], 1)
    return stats


def apply_depth_threshold(pred_ids: np.ndarray,
                          pred_depth: np.ndarray,
                          gt_depth: np.ndarray,
                          threshold: float,
                          wrong_depth_id: int) -> np.ndarray:
    """DPQ^λ filtering: relabel pixels whose depth is wrong by more than λ.

    On pixels with GT depth > 0, a pixel with ``|pred - gt| / gt > threshold`` gets the id
    ``wrong_depth_id`` (the reference uses category 19, i.e. ``19 * label_divisor``); pixels with
    GT depth 0 keep their prediction. Computed in float64, so unsigned inputs cannot wrap around.

    Args:
        pred_ids (np.ndarray): (H, W) predicted ids.
        pred_depth (np.ndarray): (H, W) predicted depth (any unit, same as ``gt_depth``).
        gt_depth (np.ndarray): (H, W) GT depth, 0 = invalid.
        threshold (float): λ, e.g. 0.5, 0.25 or 0.1.
        wrong_depth_id (int): id written on wrong-depth pixels.

    Returns:
        np.ndarray: int64 copy of ``pred_ids`` with the wrong-depth pixels relabelled.
    """
    if not (np.shape(pred_ids) == np.shape(pred_depth) == np.shape(gt_depth)):
        raise ValueError(f'shape mismatch: ids {np.shape(pred_ids)}, pred depth '
                         f'{np.shape(pred_depth)}, GT depth {np.shape(gt_depth)}')
    out = np.array(pred_ids, dtype=np.int64, copy=True)
    gt = np.asarray(gt_depth, dtype=np.float64)
    pd = np.asarray(pred_depth, dtype=np.float64)
    valid = gt > 0
    rel = np.abs(pd[valid] - gt[valid]) / gt[valid]
    sel = out[valid]
    sel[rel > threshold] = wrong_depth_id
    out[valid] = sel
    return out


@dataclass
class PQSummary:
    """Per-class SQ, RQ and PQ (fractions) plus the class-mean PQ over chosen class sets."""
    sq: np.ndarray
    rq: np.ndarray
    pq: np.ndarray
    absent: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def mean(self, classes: Optional[Sequence[int]] = None, skip_absent: bool = False) -> float:
        """Mean PQ over ``classes`` (all if None). NaN propagates unless ``skip_absent``."""
        idx = np.arange(len(self.pq)) if classes is None else np.asarray(list(classes))
        if skip_absent:
            idx = idx[~self.absent[idx]]
            if idx.size == 0:
                return float('nan')
        return float(np.mean(self.pq[idx]))


def summarize_pq(stats: PQStats, num_classes: int, epsilon: float) -> PQSummary:
    """Dataset-level PQ per class from summed statistics (not per-image averages).

    ``SQ = IoU / (TP + ε)``, ``RQ = TP / (TP + ½FN + ½FP + ε)``, ``PQ = SQ · RQ``. Only the first
    ``num_classes`` categories are kept (the extra wrong-depth category is dropped).

    With ε = 0 (Cityscapes-DVPS) a class absent from GT and prediction has PQ = NaN, as in the
    reference script. A class with FN/FP but no TP has PQ = 0 here (= IoU / (TP + ½FN + ½FP));
    the reference evaluates ``(0/0) · 0`` there and gets NaN, which poisons the mean.
    """
    iou = stats.iou[:num_classes].astype(np.float64)
    tp = stats.tp[:num_classes].astype(np.float64)
    fp = stats.fp[:num_classes].astype(np.float64)
    fn = stats.fn[:num_classes].astype(np.float64)
    denom = tp + 0.5 * fn + 0.5 * fp + epsilon
    with np.errstate(divide='ignore', invalid='ignore'):
        sq = iou / (tp + epsilon)
        rq = tp / denom
        pq = np.where(tp > 0, sq * rq, iou / denom)
    absent = (tp + fp + fn) == 0
    return PQSummary(sq=sq, rq=rq, pq=pq, absent=absent)
