"""Which ground-truth depth the evaluators trust.

A depth PNG stores metres * 256 in 16 bits, 0 = invalid. Two kinds of stored values are not
measurements, and a handful of them moves AbsRel by orders of magnitude:

* below :data:`MIN_GT_DEPTH` (0.1 m; 1..25 stored): closer than any camera of these datasets
  sees, e.g. a few stray pixels at 1/256 m = 4 mm;
* the format's ceiling 65535 (255.996 m): a saturated value, "at least this far", e.g. a
  whole map written as 65535.

The evaluators (``tools/test.py``'s ``DPQMetric``, ``tools/analysis_tools/eval_dpq.py``) treat
such pixels as invalid (like 0) and report each file with its count; the range is
configurable (``gt_depth_range`` / ``--gt-depth-range MIN MAX``).
"""
import math
from typing import Optional, Tuple

import numpy as np

from .png_io import DEPTH_SCALE

#: metres: closer GT depth is not a measurement (see the module docstring)
MIN_GT_DEPTH = 0.1
#: the largest stored 16-bit value: saturated, not a measurement
SATURATED_DEPTH_VALUE = 65535
#: default (min, max) metres of trusted GT depth; max None = up to the format's ceiling
DEFAULT_GT_DEPTH_RANGE: Tuple[float, Optional[float]] = (MIN_GT_DEPTH, None)


def implausible_depth_mask(depth: np.ndarray, unit: float,
                           depth_range: Tuple[float, Optional[float]] = DEFAULT_GT_DEPTH_RANGE
                           ) -> np.ndarray:
    """Pixels of a GT depth map (values * ``unit`` = metres; ``unit`` 1/256 for the stored
    16-bit values, 1.0 for metres) that are > 0 but outside ``depth_range`` or saturated."""
    lo, hi = depth_range
    scale = 1.0 / unit  # stored values per metre
    low = math.ceil(lo * scale - 1e-9)  # valid: value >= low (in the map's own units)
    ceiling = SATURATED_DEPTH_VALUE / DEPTH_SCALE * scale
    top = ceiling if hi is None else min(ceiling, hi * scale)
    bad = (depth > 0) & (depth < low)
    bad |= depth >= ceiling if hi is None or hi * scale >= ceiling else depth > top
    return bad


def exclude_implausible_depth(depth: np.ndarray, unit: float,
                              depth_range: Tuple[float, Optional[float]] = DEFAULT_GT_DEPTH_RANGE
                              ) -> Tuple[np.ndarray, int]:
    """``depth`` with :func:`implausible_depth_mask` pixels set to 0 (invalid) and their
    count; the array is copied only when something is excluded."""
    bad = implausible_depth_mask(depth, unit, depth_range)
    n = int(np.count_nonzero(bad))
    if n:
        depth = depth.copy()
        depth[bad] = 0
    return depth, n


def describe_range(depth_range: Tuple[float, Optional[float]]) -> str:
    lo, hi = depth_range
    top = f'{hi:g} m' if hi is not None else f'{SATURATED_DEPTH_VALUE / DEPTH_SCALE:.3f} m ' \
        '(the 16-bit ceiling, saturated)'
    return f'below {lo:g} m or at/above {top}'
