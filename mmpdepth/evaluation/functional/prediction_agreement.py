"""How far two predictions of the same image agree (e.g. fp32 against bf16, PyTorch against
ONNX Runtime): the share of pixels that keep their segment and the depth differences."""
from typing import Dict, Iterable, Tuple

import numpy as np


def same_segment_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels whose segment in ``a`` is matched to their segment in ``b``: each
    segment of ``a`` is paired with the ``b`` segment it overlaps most (ids may differ).

    Args:
        a, b (np.ndarray): (H, W) integer panoptic ids of the same image.
    """
    if a.shape != b.shape:
        raise ValueError(f'panoptic maps of different sizes: {a.shape} and {b.shape}')
    base = int(b.max()) + 1
    pairs = a.astype(np.int64) * base + b.astype(np.int64)
    values, counts = np.unique(pairs, return_counts=True)
    best: Dict[int, int] = {}
    for p, c in zip((values // base).tolist(), counts.tolist()):
        best[p] = max(best.get(p, 0), c)
    return sum(best.values()) / a.size


def prediction_agreement(pairs: Iterable[Tuple[np.ndarray, np.ndarray, np.ndarray,
                                               np.ndarray]]) -> dict:
    """Agreement over images of (panoptic A, panoptic B, depth A, depth B) tuples.

    Returns:
        dict: ``images``, ``same_segment_pct`` (over all pixels), ``depth_median_cm``,
        ``depth_p99_cm`` and ``depth_max_m`` of |depth A - depth B| (over all pixels; images
        without depth add none).
    """
    same = total = images = 0
    diffs = []
    for pan_a, pan_b, dep_a, dep_b in pairs:
        images += 1
        same += same_segment_fraction(pan_a, pan_b) * pan_a.size
        total += pan_a.size
        if dep_a is not None and dep_b is not None:
            diffs.append(np.abs(np.asarray(dep_a, np.float64) - np.asarray(dep_b, np.float64))
                         .ravel())
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    nan = float('nan')
    return dict(images=images, same_segment_pct=100 * same / max(total, 1),
                depth_median_cm=100 * float(np.median(d)) if d.size else nan,
                depth_p99_cm=100 * float(np.percentile(d, 99)) if d.size else nan,
                depth_max_m=float(d.max()) if d.size else nan)
