import math
import os.path as osp
import sys

import numpy as np
import pytest

from mmpdepth.evaluation.functional import (CITYSCAPES_DVPS, SEMKITTI_DVPS, PQStats,
                                            apply_depth_threshold, make_windows, pq_stats,
                                            summarize_dpq, summarize_pq, window_stats)

from .reference_dvpq import reference_depth_filter, reference_pq_stats

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CS = dict(label_divisor=1000, void_category=32, num_categories=20)


def row(*runs):
    """Build a (1, N) id map from (value, count) runs."""
    return np.concatenate([np.full(n, v, np.int64) for v, n in runs])[None]


def test_union_excludes_prediction_overlap_with_void():
    gt = row((1000, 4), (32000, 6))
    pred = row((1000, 8), (2000, 2))
    s = pq_stats(gt, pred, **CS)
    # pred 1000: inter 4, union = 4 + 8 - 4 - 4(on void) = 4 -> IoU 1.0
    assert s.tp[1] == 1 and s.iou[1] == pytest.approx(1.0)
    # pred 2000 lies fully on void -> not an FP; nothing is an FN
    assert s.fp.sum() == 0 and s.fn.sum() == 0


def test_without_void_the_same_pair_is_not_a_match():
    gt = row((1000, 4), (5000, 6))
    pred = row((1000, 8), (2000, 2))
    s = pq_stats(gt, pred, **CS)
    # IoU = 4 / 8 = 0.5, not > 0.5
    assert s.tp.sum() == 0
    assert s.fn[1] == 1 and s.fn[5] == 1
    assert s.fp[1] == 1 and s.fp[2] == 1


def test_prediction_half_on_void_is_still_a_false_positive():
    gt = row((0, 6), (32000, 4))
    pred = row((0, 2), (3000, 8))   # pred 3000: 4 of 8 on void -> exactly 0.5, not ignored
    s = pq_stats(gt, pred, **CS)
    assert s.fp[3] == 1
    assert s.fn[0] == 1  # IoU(0) = 2 / 6
    pred2 = row((0, 3), (3000, 7))   # 4 of 7 on void > 0.5 -> ignored
    assert pq_stats(gt, pred2, **CS).fp[3] == 0


def test_unmatched_void_gt_is_not_a_false_negative():
    gt = row((32000, 5), (32001, 5))
    pred = row((0, 10))
    s = pq_stats(gt, pred, **CS)
    assert s.fn.sum() == 0
    assert s.fp[0] == 0  # fully on void ids (any instance of class 32) -> ignored


def test_group_region_is_an_ordinary_segment():
    # person group region (class 11, instance 0) and one person instance
    gt = row((11000, 6), (11001, 4))
    pred = row((11000, 5), (11007, 5))
    s = pq_stats(gt, pred, **CS)
    # 11000: inter 5, union 6 -> 5/6; 11001 vs 11007: inter 4, union 5 -> 0.8
    assert s.tp[11] == 2
    assert s.iou[11] == pytest.approx(5 / 6 + 0.8)


def test_prediction_of_void_category_is_neither_fp_nor_match():
    gt = row((1000, 5), (2000, 5))
    pred = row((1000, 5), (32000, 5))
    s = pq_stats(gt, pred, **CS)
    assert s.fp.sum() == 0 and s.fn[2] == 1 and s.tp[1] == 1


def test_out_of_range_prediction_category_is_an_error():
    with pytest.raises(ValueError, match='outside'):
        pq_stats(row((1000, 4)), row((25000, 4)), **CS)


def test_wrong_depth_pixels_get_category_19_and_invalid_gt_keeps_prediction():
    pred = row((13001, 10))
    gt_depth = np.array([[10, 10, 10, 10, 10, 0, 0, 10, 10, 10]], np.float64)
    pred_depth = np.array([[10, 10.9, 11.1, 13, 7, 50, 50, 10, 10, 10]], np.float64)
    out = apply_depth_threshold(pred, pred_depth, gt_depth, 0.1, 19000)
    # rel errors: 0, .09, .11, .3, .3, (gt 0), (gt 0), 0, 0, 0
    expected = row((13001, 2), (19000, 3), (13001, 5))
    np.testing.assert_array_equal(out, expected)


def test_depth_threshold_is_exact_for_uint16_inputs():
    # unsigned subtraction would wrap 2560 - 2816 around to 65280
    pred_depth = np.array([[2560]], np.uint16)   # 10 m * 256
    gt_depth = np.array([[2816]], np.uint16)     # 11 m * 256
    out = apply_depth_threshold(np.array([[1000]]), pred_depth, gt_depth, 0.1, 19000)
    assert out[0, 0] == 1000  # |10 - 11| / 11 = 0.0909 <= 0.1


def test_dpq_lowers_iou_through_wrong_depth():
    gt = row((13001, 10))
    pred = row((13001, 10))
    gt_depth = np.full((1, 10), 20.0)
    pred_depth = gt_depth.copy()
    pred_depth[0, :3] = 40.0  # 3 px wrong at every λ
    stats = window_stats([gt], [pred], [pred_depth], [gt_depth], CITYSCAPES_DVPS)
    assert stats[None].iou[13] == pytest.approx(1.0)
    for lam in (0.5, 0.25, 0.1):
        assert stats[lam].tp[13] == 1
        assert stats[lam].iou[13] == pytest.approx(0.7)
        assert stats[lam].fp[19] == 1  # the wrong-depth segment, dropped in the summary


def test_absent_class_is_nan_for_cityscapes_and_zero_for_semkitti():
    st = PQStats.zeros(20)
    st.tp[0], st.iou[0] = 1, 0.9
    st.fn[1] = 1  # class 1: no TP -> PQ 0 (the reference would give NaN)
    cs = summarize_pq(st, 19, 0.0)
    assert cs.pq[0] == pytest.approx(0.9) and cs.pq[1] == 0.0
    assert math.isnan(cs.pq[2]) and cs.absent[2] and not cs.absent[1]
    assert math.isnan(cs.mean())
    assert cs.mean(skip_absent=True) == pytest.approx(0.45)
    sk = summarize_pq(st, 19, 1e-10)
    assert sk.pq[2] == 0.0
    assert sk.mean() == pytest.approx(0.9 / 19, rel=1e-6)


def test_summarize_dpq_warns_and_names_absent_classes():
    st = PQStats.zeros(20)
    st.tp[:19], st.iou[:19] = 1, 0.8
    st.tp[5], st.iou[5] = 0, 0.0
    with pytest.warns(UserWarning, match=r'\[5\]'):
        out = summarize_dpq({None: st}, CITYSCAPES_DVPS)
    assert math.isnan(out['PQ']) and math.isnan(out['PQ_st'])
    assert out['PQ_th'] == pytest.approx(80.0)
    out = summarize_dpq({None: st}, CITYSCAPES_DVPS, skip_absent=True, warn_absent=False)
    assert out['PQ'] == pytest.approx(80.0)


def test_summarize_dpq_averages_thresholds_and_groups():
    stats = {}
    for lam, q in ((None, 1.0), (0.5, 0.9), (0.25, 0.6), (0.1, 0.3)):
        st = PQStats.zeros(20)
        st.tp[:19] = 1
        st.iou[:19] = q
        st.iou[11:19] = q / 2
        stats[lam] = st
    out = summarize_dpq(stats, CITYSCAPES_DVPS)
    assert out['PQ_st'] == pytest.approx(100.0) and out['PQ_th'] == pytest.approx(50.0)
    assert out['DPQ@0.25'] == pytest.approx(100 * (11 * 0.6 + 8 * 0.3) / 19)
    assert out['DPQ_st'] == pytest.approx(100 * (0.9 + 0.6 + 0.3) / 3)
    assert out['DPQ_th'] == pytest.approx(50 * (0.9 + 0.6 + 0.3) / 3)


def test_window_of_two_frames_matches_on_concatenation():
    # frame 1: car 13001 predicted well; frame 2: predicted car covers only 1 of 4 px
    gt = [row((13001, 4), (0, 4)), row((13001, 4), (0, 4))]
    pred = [row((13001, 4), (0, 4)), row((13001, 1), (0, 7))]
    k1 = [window_stats([g], [p], None, None, CITYSCAPES_DVPS, thresholds=(None, ))[None]
          for g, p in zip(gt, pred)]
    assert sum(s.tp[13] for s in k1) == 1 and sum(s.fn[13] for s in k1) == 1
    k2 = window_stats(gt, pred, None, None, CITYSCAPES_DVPS, thresholds=(None, ))[None]
    # concatenated: inter 5, union 8 -> 0.625 > 0.5: one TP over the window
    assert k2.tp[13] == 1 and k2.iou[13] == pytest.approx(5 / 8)
    # road: GT 8 px, prediction 11 px, inter 8 -> 8 / 11
    assert k2.tp[0] == 1 and k2.iou[0] == pytest.approx(8 / 11)


def test_windows_stay_inside_cityscapes_sequences_but_slide_across_semkitti():
    assert make_windows([6, 6], 1, CITYSCAPES_DVPS) == [[i] for i in range(12)]
    w = make_windows([6, 6], 2, CITYSCAPES_DVPS)
    assert len(w) == 10 and [5, 6] not in w
    w = make_windows([3, 3], 2, SEMKITTI_DVPS)
    assert w == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]


def test_semkitti_large_ids_and_void_instances_do_not_overflow():
    div = 2**20
    gt = row((255 * div + 3, 6), (18 * div, 4))  # void with a non-zero instance id
    pred = row((0 * div + 5, 7), (18 * div, 3))
    s = pq_stats(gt, pred, div, 255, 20)
    # pred car: 6 of 7 px on the void category -> ignored, not an FP
    assert s.fp.sum() == 0
    # class 18: inter 3, union = 4 + 3 - 3 - 0 = 4 -> 0.75
    assert s.tp[18] == 1 and s.iou[18] == pytest.approx(0.75)


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('protocol', [CITYSCAPES_DVPS, SEMKITTI_DVPS])
def test_fast_path_equals_per_segment_reference_on_random_maps(seed, protocol):
    rng = np.random.default_rng(seed)
    div, void = protocol.label_divisor, protocol.void_category
    h, w = 24, 40
    # blocky random maps so that many pairs reach IoU > 0.5
    cls_gt = rng.integers(0, 19, (h // 4, w // 4)).repeat(4, 0).repeat(4, 1)
    inst_gt = rng.integers(0, 3, cls_gt.shape)
    gt = cls_gt * div + inst_gt
    gt[rng.random(gt.shape) < 0.08] = void * div + rng.integers(0, 2)
    pred = gt.copy()
    noise = rng.random(pred.shape) < 0.3
    pred[noise] = rng.integers(0, 19, noise.sum()) * div + rng.integers(0, 3, noise.sum())
    pred[pred // div == void] = 7 * div + 1
    gt_depth = rng.uniform(1, 80, (h, w)) * (rng.random((h, w)) > 0.1)
    pred_depth = gt_depth * rng.uniform(0.6, 1.4, (h, w))
    for lam in (None, 0.5, 0.25, 0.1):
        p = pred if lam is None else reference_depth_filter(pred, pred_depth, gt_depth, lam,
                                                            protocol.wrong_depth_id)
        fast_p = pred if lam is None else apply_depth_threshold(pred, pred_depth, gt_depth, lam,
                                                                protocol.wrong_depth_id)
        np.testing.assert_array_equal(p, fast_p)
        ref = reference_pq_stats(gt, p, div, void, 20)
        fast = pq_stats(gt, fast_p, div, void, 20)
        np.testing.assert_allclose(fast.iou, ref[0], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(fast.tp, ref[1])
        np.testing.assert_array_equal(fast.fp, ref[2])
        np.testing.assert_array_equal(fast.fn, ref[3])
        if lam is None:
            assert sum(ref[1]) > 10 and sum(ref[2]) > 0 and sum(ref[3]) > 0  # non-trivial maps


def test_equality_checks_count_a_one_sided_nan_as_a_difference():
    """The comparisons of evaluator outputs (here, bench_dpq's side-by-side check) treat NaN
    on one side only as a difference, NaN on both as equal."""
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    from bench_dpq import same_number
    assert not same_number(float('nan'), 12.34) and not same_number(12.34, float('nan'))
    assert same_number(float('nan'), float('nan')) and same_number(12.344, 12.34)
    assert not same_number(12.36, 12.34)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose([np.nan, 1.0], [0.5, 1.0], rtol=0, atol=1e-9)
