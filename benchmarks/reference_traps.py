"""The two arithmetic traps of the DVPS reference scripts, measured on the same files.

    python benchmarks/reference_traps.py [--frames 12]

1. Cityscapes-DVPS: under current Pillow the 16-bit depth PNGs load as uint16 and the reference
   computes ``np.abs(pred - gt)`` in uint16: a prediction below the GT wraps around to ~65000,
   so most pixels look "wrong depth" and DPQ collapses.
2. SemKITTI-DVPS: the reference multiplies int32 GT ids by 2**30 when it looks up a
   prediction's overlap with ignored GT; the product overflows, the lookup misses, and
   predictions lying on ignored pixels are counted as false positives.

The script writes small synthetic sets, evaluates them with mmpdepth (exact int64 / float64)
and with the reference's arithmetic re-enacted, and prints both.
"""
import argparse
import os.path as osp
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_evaluation'))

from mmpdepth.datasets.synthetic import SyntheticSceneRenderer  # noqa: E402
from mmpdepth.evaluation.functional import (CITYSCAPES_DVPS, SEMKITTI_DVPS,  # noqa: E402
                                            PQStats, apply_depth_threshold, pq_stats,
                                            summarize_dpq)


def scenes(n, h=256, w=512):
    for i in range(n):
        _, ids, depth = SyntheticSceneRenderer(h, w, np.random.default_rng(100 + i)).render(0)
        yield ids.astype(np.int64), depth


def uint16_wrap_filter(pred, pred_depth, gt_depth, lam, wrong_id):
    """The reference's depth filter with uint16 inputs (the trap)."""
    pd = np.round(pred_depth * 256).astype(np.uint16)
    gd = np.round(gt_depth * 256).astype(np.uint16)
    out = pred.copy()
    m = gd > 0
    rel = np.abs(pd[m] - gd[m]) / gd[m]  # uint16 subtraction wraps around
    sel = out[m]
    sel[rel > lam] = wrong_id
    out[m] = sel
    return out


def cityscapes_trap(n):
    p = CITYSCAPES_DVPS
    ours, ref = {}, {}
    rng = np.random.default_rng(0)
    for gt, depth in scenes(n):
        pred = gt.copy()
        pdepth = depth * rng.uniform(0.97, 1.03, depth.shape)  # 3 % error, half of it below GT
        for lam in (None, 0.5, 0.25, 0.1):
            a = pred if lam is None else apply_depth_threshold(pred, pdepth, depth, lam,
                                                               p.wrong_depth_id)
            b = pred if lam is None else uint16_wrap_filter(pred, pdepth, depth, lam,
                                                            p.wrong_depth_id)
            for store, ids in ((ours, a), (ref, b)):
                st = pq_stats(gt, ids, p.label_divisor, p.void_category, p.num_categories)
                store[lam] = store[lam] + st if lam in store else st
    return (summarize_dpq(ours, p, skip_absent=True, warn_absent=False),
            summarize_dpq(ref, p, skip_absent=True, warn_absent=False))


def semkitti_trap(n):
    from reference_dvpq import reference_pq_stats
    p = SEMKITTI_DVPS
    div = p.label_divisor
    ours, ref = PQStats.zeros(20), PQStats.zeros(20)
    for gt_cs, _ in scenes(n):
        cls = gt_cs // 1000
        inst = gt_cs % 1000
        # map to SemKITTI classes (car 13 -> 0, person 11 -> 5, road 0 -> 8, building 2 -> 12,
        # vegetation 8 -> 14, sidewalk 1 -> 10, pole 5 -> 17); sky has no SemKITTI label: ignore
        lut = {13: 0, 11: 5, 0: 8, 2: 12, 8: 14, 1: 10, 5: 17, 10: 255}
        kc = np.vectorize(lut.get)(cls)
        gt = kc.astype(np.int64) * div + np.where(kc < 8, inst, 0)
        pred = gt.copy()
        pred[kc == 255] = 14 * div  # the model paints the unlabelled sky as vegetation
        ours = ours + pq_stats(gt, pred, div, 255, 20)
        iou, tp, fp, fn = reference_pq_stats(gt, pred, div, 255, 20)
        # the reference's int32 lookup of ignored overlap misses: nothing is ignored
        fp_ref = list(fp)
        pred_u = np.unique(pred)
        matched = set()
        for g in np.unique(gt):
            for q in pred_u:
                if g // div == q // div:
                    inter = np.sum((gt == g) & (pred == q))
                    union = np.sum(gt == g) + np.sum(pred == q) - inter - np.sum(
                        (gt == 255 * div) & (pred == q))
                    if inter / union > 0.5:
                        matched.add(int(q))
        overflow = np.int32(255 * div) * np.int32(2**30 % 2**31)  # what the reference computes
        for q in pred_u:
            q = int(q)
            if q in matched:
                continue
            on_ign = np.sum((gt // div == 255) & (pred == q)) / np.sum(pred == q)
            if on_ign > 0.5:
                fp_ref[q // div] += 1  # counted as FP because the overflowed key is missing
        ref = ref + PQStats(np.asarray(iou), np.asarray(tp), np.asarray(fp_ref), np.asarray(fn))
    return (summarize_dpq({None: ours}, p, warn_absent=False),
            summarize_dpq({None: ref}, p, warn_absent=False), int(overflow))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=12)
    args = ap.parse_args()
    ours, ref = cityscapes_trap(args.frames)
    print(f'1. Cityscapes-DVPS, {args.frames} frames, perfect panoptic, depth within 3 %:')
    print(f'   {"":28s}{"PQ":>8s}{"DPQ@0.5":>9s}{"DPQ@0.25":>10s}{"DPQ@0.1":>9s}{"DPQ":>8s}')
    for name, r in (('mmpdepth (float64)', ours), ('reference arithmetic (uint16)', ref)):
        print(f'   {name:28s}{r["PQ"]:8.2f}{r["DPQ@0.5"]:9.2f}{r["DPQ@0.25"]:10.2f}'
              f'{r["DPQ@0.1"]:9.2f}{r["DPQ"]:8.2f}')
    o2, r2, overflow = semkitti_trap(args.frames)
    print(f'\n2. SemKITTI-DVPS, {args.frames} frames, perfect prediction plus a segment on '
          'ignored (unlabelled) pixels:')
    print(f'   int32(255 * 2**20) * 2**30 = {overflow} in int32 (the lookup key is wrong)')
    for name, r in (('mmpdepth (int64)', o2), ('reference arithmetic (int32)', r2)):
        print(f'   {name:28s} PQ {r["PQ"]:6.2f}  PQ_th {r["PQ_th"]:6.2f}  PQ_st {r["PQ_st"]:6.2f}')


if __name__ == '__main__':
    main()
