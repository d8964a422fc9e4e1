import math

import numpy as np
import pytest

from mmpdepth.evaluation.functional import depth_sums, summarize_depth


def test_depth_metrics_hand_computed():
    pred = np.array([[2.0, 4.0, 7.0]])
    gt = np.array([[1.0, 4.0, 0.0]])  # last pixel invalid
    m = summarize_depth([depth_sums(pred, gt)])
    ln2 = math.log(2)
    assert m['AbsRel'] == pytest.approx(0.5)
    assert m['SqRel'] == pytest.approx(0.5)
    assert m['RMSE'] == pytest.approx(math.sqrt(0.5))
    assert m['RMSE_log'] == pytest.approx(math.sqrt(ln2**2 / 2))
    assert m['SILog'] == pytest.approx(100 * ln2 / 2)
    assert m['d1'] == pytest.approx(0.5)
    assert m['d2'] == pytest.approx(0.5)  # 2 > 1.5625
    assert m['d3'] == pytest.approx(0.5)  # 2 > 1.953


def test_per_image_mean_differs_from_pooled():
    a = depth_sums(np.array([[2.0]]), np.array([[1.0]]))           # AbsRel 1
    b = depth_sums(np.full((1, 3), 1.0), np.full((1, 3), 1.0))     # AbsRel 0
    assert summarize_depth([a, b])['AbsRel'] == pytest.approx(0.5)
    assert summarize_depth([a, b], pooled=True)['AbsRel'] == pytest.approx(0.25)


def test_uint16_png_values_do_not_wrap():
    m = summarize_depth([depth_sums(np.array([[2560]], np.uint16), np.array([[2816]], np.uint16))])
    assert m['AbsRel'] == pytest.approx(256 / 2816)


def test_all_invalid_depth_is_left_out_and_empty_set_is_nan():
    empty = depth_sums(np.ones((2, 2)), np.zeros((2, 2)))
    assert empty[0] == 0
    assert math.isnan(summarize_depth([empty])['RMSE'])
    full = depth_sums(np.array([[3.0]]), np.array([[2.0]]))
    assert summarize_depth([empty, full])['AbsRel'] == pytest.approx(0.5)


def test_zero_prediction_is_finite():
    m = summarize_depth([depth_sums(np.zeros((1, 1)), np.ones((1, 1)))])
    assert np.isfinite(m['SILog']) and np.isfinite(m['RMSE_log'])
    assert m['d1'] == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='shape'):
        depth_sums(np.ones((2, 2)), np.ones((2, 3)))
