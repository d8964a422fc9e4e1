"""Kernel pooling and fusion of the kernel producer (paper §3.1, Eq. 1). Pure tensor code.

Three pieces, each selectable from the config so that Table 1's "baseline vs +AKF" is a switch:

* :func:`pool_stuff_kernels` — one kernel per stuff class and level from the kernel map G:
  ``'global_avg'`` (PanopticFCN: Σ over the argmax region / (H·W)), ``'masked_mean'`` (paper
  Eq. 1: Σ(G·R) / ΣR over the argmax region R) or ``'official'`` (PanopticDepth code: region =
  argmax ∧ P ≥ 0.4, divided by the argmax pixel count before thresholding).
* :func:`fuse_thing_kernels` — class-specific clustering of thing kernels by cosine similarity
  (threshold 0.97 in the official configs); a cluster is the uniform mean of its members,
  class and score are the representative's.
* :func:`fuse_stuff_kernels` — the candidates of one class from all levels are averaged.
"""
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmpdepth.registry import MODELS


class StuffKernels(NamedTuple):
    """Stuff candidates of one level. S = number of kept classes.

    kernels (S, C), scores (S,), classes (S,) long, depth_kernels (S, D) or None.
    """
    kernels: Tensor
    scores: Tensor
    classes: Tensor
    depth_kernels: Optional[Tensor]


def pool_stuff_kernels(region_prob: Tensor,
                       kernel_map: Tensor,
                       depth_kernel_map: Optional[Tensor] = None,
                       score_thr: float = 0.1,
                       prob_thr: float = 0.4,
                       mode: str = 'official') -> StuffKernels:
    """Stuff kernels of one image and level at test time.

    Args:
        region_prob (Tensor): (K, H, W) sigmoid of the region logits, K classes.
        kernel_map (Tensor): (C, H, W) kernel weight map G.
        depth_kernel_map (Tensor, optional): (D, H, W) depth-kernel map.
        score_thr (float): keep classes whose score is > this (``STUFF.THRES``).
        prob_thr (float): pixel threshold of the 'official' region (0.4).
        mode (str): 'official', 'masked_mean' or 'global_avg' (see module docstring).

    Returns:
        StuffKernels: score = Σ(P·R) / (argmax count) in every mode (the official score); depth
        kernels are the mean over the region (official: argmax ∧ P ≥ 0.4, clamp(count, 1)).
    """
    k, h, w = region_prob.shape
    cate = region_prob.argmax(0)
    classes, counts = torch.unique(cate, return_counts=True)
    onehot = F.one_hot(cate, k).permute(2, 0, 1).to(region_prob.dtype)[classes]  # (S, H, W)
    region = onehot * (region_prob[classes] >= prob_thr) if mode == 'official' else onehot
    counts_f = counts.to(region_prob.dtype)
    scores = (region_prob[classes] * region).flatten(1).sum(1) / counts_f
    keep = scores > score_thr
    classes, scores, region, counts_f = classes[keep], scores[keep], region[keep], counts_f[keep]
    flat = region.flatten(1)  # (S, HW)
    sums = flat @ kernel_map.flatten(1).t()  # (S, C)
    if mode == 'official':
        kernels = sums / counts_f[:, None]
    elif mode == 'masked_mean':
        kernels = sums / flat.sum(1, keepdim=True).clamp(min=1)
    elif mode == 'global_avg':
        kernels = sums / float(h * w)
    else:
        raise ValueError(f'unknown stuff pooling mode {mode!r}')
    depth_kernels = None
    if depth_kernel_map is not None:
        depth_kernels = (flat @ depth_kernel_map.flatten(1).t()) / flat.sum(
            1, keepdim=True).clamp(min=1)
    return StuffKernels(kernels, scores, classes, depth_kernels)


def cosine_similarity_matrix(kernels: Tensor) -> Tensor:
    """(N, C) -> (N, N) cosine similarity with norms clamped at 1e-8."""
    normed = kernels / kernels.norm(dim=1, keepdim=True).clamp(min=1e-8)
    return normed @ normed.t()


class FusedThings(NamedTuple):
    """kernels (M, C), classes (M,), scores (M,), depth_kernels (M, D) or None, keep (N,) bool,
    members (M, N) bool."""
    kernels: Tensor
    classes: Tensor
    scores: Tensor
    depth_kernels: Optional[Tensor]
    keep: Tensor
    members: Tensor


def fuse_thing_kernels(kernels: Tensor, classes: Tensor, scores: Tensor,
                       depth_kernels: Optional[Tensor] = None, sim_thr: float = 0.97,
                       class_specific: bool = True, weighting: str = 'uniform') -> FusedThings:
    """Cluster thing kernels sorted by score (descending) and average each cluster.

    ``L[i, j] = (i <= j) & (cos(K_i, K_j) >= sim_thr) & (c_i == c_j)``. Kernel i is kept iff no
    earlier kernel is similar to it; kernel j joins the cluster of the **first** kernel similar to
    it, if that one is kept (a kernel whose first similar kernel was suppressed joins none).
    Depth kernels are averaged with the same weights. ``weighting='uniform'`` is the official
    rule; ``'score'`` weights each member by its centre score, so weak peaks (e.g. on levels an
    instance was not trained on) barely move the fused mask and depth kernels.

    Args:
        kernels (Tensor): (N, C) projected kernels, sorted by score descending.
        classes (Tensor): (N,) class ids. scores (Tensor): (N,).
        depth_kernels (Tensor, optional): (N, D) raw depth kernels.
    """
    sim = cosine_similarity_matrix(kernels)
    label = sim.triu(diagonal=0) >= sim_thr
    if class_specific:
        label = label & (classes[:, None] == classes[None, :])
    first = torch.cumsum(label.float(), dim=0) < 2
    keep = first.diagonal(0)
    members = label[keep] & first[keep]
    weights = members.to(kernels.dtype)
    if weighting == 'score':
        weights = weights * scores[None, :].to(kernels.dtype)
    elif weighting != 'uniform':
        raise ValueError(f'unknown thing fusion weighting {weighting!r}')
    norm = weights.sum(dim=1, keepdim=True)
    fused = (weights @ kernels) / norm
    fused_depth = (weights @ depth_kernels) / norm if depth_kernels is not None else None
    return FusedThings(fused, classes[keep], scores[keep], fused_depth, keep, members)


def fuse_stuff_kernels(kernels: Tensor, classes: Tensor, scores: Tensor,
                       depth_kernels: Optional[Tensor] = None) -> StuffKernels:
    """Average the stuff candidates of each class (from all levels); classes ascending."""
    uniq = torch.unique(classes)
    weights = (classes[None, :] == uniq[:, None]).to(kernels.dtype)
    norm = weights.sum(dim=1, keepdim=True)
    fused = (weights @ kernels) / norm
    fused_scores = (weights @ scores[:, None]).squeeze(1) / norm.squeeze(1)
    fused_depth = (weights @ depth_kernels) / norm if depth_kernels is not None else None
    return StuffKernels(fused, fused_scores, uniq, fused_depth)


@MODELS.register_module()
class AdaptiveKernelFusion(torch.nn.Module):
    """Test-time kernel pooling and fusion (AKF, paper Eq. 1) as one configurable unit.

    Args:
        stuff_pooling (str): 'official' (default; PanopticDepth code), 'masked_mean' (Eq. 1) or
            'global_avg' (PanopticFCN baseline).
        stuff_prob_thr (float): pixel threshold of the 'official' stuff region. Defaults to 0.4.
        stuff_score_thr (float): stuff candidate threshold (``STUFF.THRES``). Defaults to 0.1.
        sim_thr (float): cosine threshold of thing fusion. Defaults to 0.97.
        class_specific (bool): only fuse kernels of the same class. Defaults to True.
        thing_weighting (str): 'uniform' (official) or 'score' (members weighted by their centre
            scores). Defaults to 'uniform'.
    """

    def __init__(self, stuff_pooling: str = 'official', stuff_prob_thr: float = 0.4,
                 stuff_score_thr: float = 0.1, sim_thr: float = 0.97,
                 class_specific: bool = True, thing_weighting: str = 'uniform') -> None:
        super().__init__()
        if stuff_pooling not in ('official', 'masked_mean', 'global_avg'):
            raise ValueError(f'unknown stuff_pooling {stuff_pooling!r}')
        self.stuff_pooling = stuff_pooling
        self.stuff_prob_thr = stuff_prob_thr
        self.stuff_score_thr = stuff_score_thr
        self.sim_thr = sim_thr
        self.class_specific = class_specific
        if thing_weighting not in ('uniform', 'score'):
            raise ValueError(f'unknown thing_weighting {thing_weighting!r}')
        self.thing_weighting = thing_weighting

    def pool_stuff(self, region_prob: Tensor, kernel_map: Tensor,
                   depth_kernel_map: Optional[Tensor] = None) -> StuffKernels:
        """See :func:`pool_stuff_kernels`."""
        return pool_stuff_kernels(region_prob, kernel_map, depth_kernel_map,
                                  self.stuff_score_thr, self.stuff_prob_thr, self.stuff_pooling)

    def fuse_things(self, kernels: Tensor, classes: Tensor, scores: Tensor,
                    depth_kernels: Optional[Tensor] = None) -> FusedThings:
        """See :func:`fuse_thing_kernels`."""
        return fuse_thing_kernels(kernels, classes, scores, depth_kernels, self.sim_thr,
                                  self.class_specific, self.thing_weighting)

    def fuse_stuff(self, kernels: Tensor, classes: Tensor, scores: Tensor,
                   depth_kernels: Optional[Tensor] = None) -> StuffKernels:
        """See :func:`fuse_stuff_kernels`."""
        return fuse_stuff_kernels(kernels, classes, scores, depth_kernels)
