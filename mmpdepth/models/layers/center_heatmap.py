"""Thing-centre heatmap targets and test-time peak selection (PanopticFCN)."""
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def panopticfcn_gaussian_radius(wh: Tensor, min_overlap: float = 0.7) -> Tensor:
    """Gaussian radius of CornerNet as PanopticFCN/PanopticDepth compute it.

    ``min(r1, r2, r3)`` with ``r_i = (b_i + sqrt(b_i² − 4 a_i c_i)) / 2`` — the original CornerNet
    code's form, which differs from mmdet's corrected ``gaussian_radius``
    (``(b − sqrt(..)) / (2a)`` for r1, r2); the official weights were trained with this one.

    Args:
        wh (Tensor): (N, 2) box width and height at the level's scale.

    Returns:
        Tensor: (N,) float radii (callers floor and clamp at 0).
    """
    w, h = wh[..., 0], wh[..., 1]
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + torch.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.min(r1, torch.min(r2, r3))


def draw_gaussian(heatmap: Tensor, center: Tuple[int, int], radius: int,
                  sigma_factor: float = 3.0) -> None:
    """Max-paste a Gaussian of ``sigma = (2r + 1) / sigma_factor`` at ``center`` (x, y), in place.

    Values below ``eps · max`` are zeroed as in CornerNet. Centres on the border are allowed.
    """
    d = 2 * radius + 1
    sigma = d / sigma_factor
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    g = torch.as_tensor(g, dtype=heatmap.dtype, device=heatmap.device)
    cx, cy = int(center[0]), int(center[1])
    h, w = heatmap.shape
    left, right = min(cx, radius), min(w - cx, radius + 1)
    top, bottom = min(cy, radius), min(h - cy, radius + 1)
    region = heatmap[cy - top:cy + bottom, cx - left:cx + right]
    patch = g[radius - top:radius + bottom, radius - left:radius + right]
    if region.numel() and patch.numel():
        heatmap[cy - top:cy + bottom, cx - left:cx + right] = torch.max(region, patch)


def center_peaks_topk(center_logits: Tensor, pool_size: int, top_num: int
                      ) -> Tuple[Tensor, Tensor, Tensor]:
    """Fixed-size thing-centre candidates of a batch at one level (no score threshold).

    ``P = σ(logits)``; ``P ← (P + avgpool_k(P)) / 2``; non-maxima of a 3x3 max-pool are zeroed;
    top-K per class, then top-K of the C·K values, of which the first min(H·W, top_num) keep
    their score (K = top_num outputs; when H·W < K the others have score 0). Fixed shapes, so
    it is part of the exported ONNX graph; :func:`center_peaks` adds the threshold.

    Args:
        center_logits (Tensor): (B, C, H, W).

    Returns:
        tuple: scores (B, K), flat pixel indices y·W + x (B, K), classes (B, K).
    """
    b, c, h, w = center_logits.shape
    p = center_logits.sigmoid()
    pooled = F.avg_pool2d(p, pool_size, stride=1, padding=(pool_size - 1) // 2)
    p = (p + pooled) / 2.0
    peak = F.max_pool2d(p, 3, stride=1, padding=1)
    p = p * (peak == p).to(p.dtype)
    # K = top_num always: zeros appended to the H*W scores make small maps (and traced ONNX
    # shapes) need no min(H*W, top_num); appended entries score 0, below any threshold
    k = top_num
    flat = F.pad(p.reshape(b, c, h * w), (0, k))
    per_class_scores, per_class_index = torch.topk(flat, k)
    scores, idx = torch.topk(per_class_scores.reshape(b, c * k), k)
    # only the first min(H*W, top_num) of the C*K ranking count (the official K); H*W comes
    # from a shape tensor so that an exported graph keeps it dynamic
    shape = torch._shape_as_tensor(center_logits).to(center_logits.device)
    rank = torch.arange(k, device=center_logits.device)
    scores = scores * (rank < shape[2] * shape[3]).to(scores.dtype)
    classes = torch.div(idx, k, rounding_mode='floor')
    index = torch.gather(per_class_index.reshape(b, c * k), 1, idx)
    return scores, index, classes


def center_peaks(center_logits: Tensor, pool_size: int, top_num: int, score_thr: float
                 ) -> Tuple[Tensor, Tensor, Tensor]:
    """Thing-centre candidates of one image and level: :func:`center_peaks_topk`, then keep
    score > thr.

    Args:
        center_logits (Tensor): (C, H, W).

    Returns:
        tuple: scores (n,), flat pixel indices y·W + x (n,), classes (n,) — thing channel ids.
    """
    scores, index, classes = (t[0] for t in center_peaks_topk(center_logits[None], pool_size,
                                                               top_num))
    keep = scores > score_thr
    return scores[keep], index[keep], classes[keep]
