"""DVPQ_k windows from per-frame histograms (no maps kept, no frames concatenated).

Frames of a window placed side by side share segment ids, so the window's intersection
histogram over (GT segment, predicted segment, depth-error level) is the sum of its frames'
histograms. :func:`frame_histogram` computes a frame's once (its non-empty bins only);
:func:`window_stats_from_histograms` sums k of them and scores them exactly as
:func:`window_stats` scores the concatenated frames.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .dvps_protocol import DPQ_THRESHOLDS, DVPSProtocol
from .panoptic_quality import PQStats, dense_ids, stats_from_histogram


def frame_histogram(gt_ids: np.ndarray, pred_ids: np.ndarray,
                    level: Optional[np.ndarray] = None) -> np.ndarray:
    """Non-empty bins of one frame's (GT id, predicted id, depth-error level) histogram.

    Args:
        gt_ids, pred_ids: (H, W) panoptic ids in the protocol's encoding.
        level: (H, W) :func:`depth_error_level` of the frame, or None (all 0).

    Returns:
        np.ndarray: (m, 4) int64 rows ``[gt id, predicted id, level, pixels]``.
    """
    gt_u, gi, _ = dense_ids(gt_ids)
    pred_u, pi, _ = dense_ids(pred_ids)
    n_levels = 1 if level is None else int(level.max(initial=0)) + 1
    key = gi.astype(np.int64) * (len(pred_u) * n_levels) + pi.astype(np.int64) * n_levels
    if level is not None:
        key += level.ravel()
    counts = np.bincount(key)
    nz = np.flatnonzero(counts)
    return np.stack([gt_u[nz // (len(pred_u) * n_levels)],
                     pred_u[(nz // n_levels) % len(pred_u)], nz % n_levels, counts[nz]], 1)


def window_stats_from_histograms(histograms: Sequence[np.ndarray], protocol: DVPSProtocol,
                                 thresholds: Sequence[Optional[float]] = (None, ) +
                                 DPQ_THRESHOLDS) -> Dict[Optional[float], PQStats]:
    """:func:`window_stats` of a window from its frames' :func:`frame_histogram` rows (the
    levels must be those of the non-None ``thresholds``)."""
    rows = np.concatenate(histograms)
    gt_u, gi = np.unique(rows[:, 0], return_inverse=True)
    pred_u = np.unique(rows[:, 1])
    wrong = protocol.wrong_depth_id
    if wrong not in pred_u:
        pred_u = np.sort(np.append(pred_u, wrong))
    pi = np.searchsorted(pred_u, rows[:, 1])
    lams = sorted({lam for lam in thresholds if lam is not None}, reverse=True)
    n_levels = len(lams) + 1
    if rows[:, 2].max(initial=0) >= n_levels:
        raise ValueError('depth-error levels beyond the thresholds given')
    n_pred = len(pred_u)
    size = len(gt_u) * n_pred
    hist = np.bincount((gi.ravel() * n_pred + pi) * n_levels + rows[:, 2], weights=rows[:, 3],
                       minlength=size * n_levels).astype(np.int64).reshape(size, n_levels)
    # moved_from[:, j] = pixels of level >= j (column 0: all pixels)
    moved_from = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]
    joint0 = np.ascontiguousarray(moved_from[:, 0])
    gt_area = joint0.reshape(len(gt_u), n_pred).sum(1)
    pred_area0 = joint0.reshape(len(gt_u), n_pred).sum(0)
    wrong_idx = int(np.searchsorted(pred_u, wrong))
    out = {}
    for lam in thresholds:
        if lam is None:
            joint, area = joint0, pred_area0
        else:
            j = len(lams) - 1 - lams.index(lam)
            moved = moved_from[:, j + 1].reshape(len(gt_u), n_pred)
            joint = joint0 - moved.ravel()
            joint.reshape(len(gt_u), n_pred)[:, wrong_idx] += moved.sum(1)
            area = pred_area0 - moved.sum(0)
            area[wrong_idx] += int(moved.sum())
        out[lam] = stats_from_histogram(gt_u, gt_area, pred_u, area, joint,
                                        protocol.label_divisor, protocol.void_category,
                                        protocol.num_categories)
    return out
