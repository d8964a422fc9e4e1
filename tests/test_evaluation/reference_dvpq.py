"""A straightforward per-segment re-statement of the reference DVPQ algorithm (dict based).

Written from the rules of ViP-DeepLab's ``eval_dvpq.py`` (not copied), with exact Python ints,
for checking the vectorised implementation. Deliberately slow and simple.
"""
from collections import Counter


def reference_pq_stats(gt, pred, label_divisor, void_category, num_categories):
    gt = [int(v) for v in gt.ravel()]
    pred = [int(v) for v in pred.ravel()]
    gt_area = Counter(gt)
    pred_area = Counter(pred)
    inter = Counter(zip(gt, pred))
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
    for g in gt_area:
        if g in gt_matched or g // label_divisor == void_category:
            continue
        fn[g // label_divisor] += 1
    for p in pred_area:
        if p in pred_matched or p // label_divisor == void_category:
            continue
        ignored = sum(a for (g, q), a in inter.items()
                      if q == p and g // label_divisor == void_category)
        if ignored / pred_area[p] > 0.5:
            continue
        fp[p // label_divisor] += 1
    return iou_sum, tp, fp, fn


def reference_depth_filter(pred, pred_depth, gt_depth, lam, wrong_id):
    out = pred.astype('int64').copy()
    h, w = out.shape
    for y in range(h):
        for x in range(w):
            g = float(gt_depth[y, x])
            if g > 0 and abs(float(pred_depth[y, x]) - g) / g > lam:
                out[y, x] = wrong_id
    return out
