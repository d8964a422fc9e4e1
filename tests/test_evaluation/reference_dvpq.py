"""A straightforward per-segment re-statement of the reference DVPQ algorithm (dict based).

Written from the rules of ViP-DeepLab's ``eval_dvpq.py`` (not copied): areas and intersections
come from ``np.unique`` into dicts keyed by Python ints (exact, no overflow), then every segment
and every (GT, prediction) pair is visited in Python loops, as the reference does. It is the
baseline of ``benchmarks/bench_dpq.py`` and the oracle of the equality tests.
"""
import numpy as np


def _counts(arr):
    ids, counts = np.unique(arr, return_counts=True)
    return {int(i): int(c) for i, c in zip(ids, counts)}


def reference_pq_stats(gt, pred, label_divisor, void_category, num_categories):
    gt = np.asarray(gt, np.int64)
    pred = np.asarray(pred, np.int64)
    gt_area = _counts(gt)
    pred_area = _counts(pred)
    offset = int(pred.max()) + 1
    inter = {}
    for joint, area in _counts(gt * offset + pred).items():
        inter[(joint // offset, joint % offset)] = area
    void_id = void_category * label_divisor
    iou_sum = [0.0] * num_categories
    tp = [0] * num_categories
    fp = [0] * num_categories
    fn = [0] * num_categories
    gt_matched, pred_matched = set(), set()
    for (g, p), area in inter.items():
        gc, pc = g // label_divisor, p // label_divisor
        if gc != pc or pc == void_category:
            continue
        union = gt_area[g] + pred_area[p] - area - inter.get((void_id, p), 0)
        iou = area / union
        if iou > 0.5:
            tp[gc] += 1
            iou_sum[gc] += iou
            gt_matched.add(g)
            pred_matched.add(p)
    ignored_ids = [g for g in gt_area if g // label_divisor == void_category]
    for g in gt_area:
        if g in gt_matched or g // label_divisor == void_category:
            continue
        fn[g // label_divisor] += 1
    for p in pred_area:
        if p in pred_matched or p // label_divisor == void_category:
            continue
        ignored = sum(inter.get((g, p), 0) for g in ignored_ids)
        if ignored / pred_area[p] > 0.5:
            continue
        fp[p // label_divisor] += 1
    return iou_sum, tp, fp, fn


def reference_depth_filter(pred, pred_depth, gt_depth, lam, wrong_id):
    """Per-pixel loop form of the DPQ^λ relabelling (small maps only)."""
    out = pred.astype('int64').copy()
    h, w = out.shape
    for y in range(h):
        for x in range(w):
            g = float(gt_depth[y, x])
            if g > 0 and abs(float(pred_depth[y, x]) - g) / g > lam:
                out[y, x] = wrong_id
    return out
