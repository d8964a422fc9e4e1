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


def pool_stuff_kernels_dense(region_prob: Tensor,
                             kernel_map: Tensor,
                             depth_kernel_map: Optional[Tensor] = None,
                             prob_thr: float = 0.4,
                             mode: str = 'official') -> StuffKernels:
    """Stuff kernels of every class of a batch at one level, fixed shapes (ONNX-exportable).

    Each pixel votes for its argmax class; class k's region is its votes (``'official'``: and
    ``P_k >= prob_thr``). Classes without votes get score -1, so any threshold drops them.

    Args:
        region_prob (Tensor): (B, K, H, W) sigmoid of the region logits.
        kernel_map (Tensor): (B, C, H, W) kernel weight map G.
        depth_kernel_map (Tensor, optional): (B, D, H, W) depth-kernel map.
        prob_thr (float): pixel threshold of the 'official' region (0.4).
        mode (str): 'official', 'masked_mean' or 'global_avg' (see module docstring).

    Returns:
        StuffKernels: kernels (B, K, C), scores (B, K) = Σ(P·R) / (argmax count) (the official
        score), classes (B, K) = 0..K-1, depth kernels (B, K, D) = mean over the region.
    """
    if mode not in ('official', 'masked_mean', 'global_avg'):
        raise ValueError(f'unknown stuff pooling mode {mode!r}')
    b, k, h, w = region_prob.shape
    prob = region_prob.reshape(b, k, h * w)
    cate = prob.argmax(1)  # (B, HW)
    classes = torch.arange(k, device=prob.device)
    votes = (cate[:, None, :] == classes[None, :, None]).to(prob.dtype)  # (B, K, HW)
    region = votes * (prob >= prob_thr).to(prob.dtype) if mode == 'official' else votes
    counts = votes.sum(2)
    present = counts > 0
    counts = counts.clamp(min=1)
    scores = torch.where(present, (prob * region).sum(2) / counts, -torch.ones_like(counts))
    sums = region @ kernel_map.reshape(b, kernel_map.shape[1], h * w).transpose(1, 2)
    area = region.sum(2, keepdim=True).clamp(min=1)
    if mode == 'official':
        kernels = sums / counts[..., None]
    elif mode == 'masked_mean':
        kernels = sums / area
    else:
        kernels = sums / float(h * w)
    depth_kernels = None
    if depth_kernel_map is not None:
        dk = depth_kernel_map.reshape(b, depth_kernel_map.shape[1], h * w).transpose(1, 2)
        depth_kernels = (region @ dk) / area
    return StuffKernels(kernels, scores, classes[None].expand(b, k), depth_kernels)


def pool_stuff_kernels(region_prob: Tensor,
                       kernel_map: Tensor,
                       depth_kernel_map: Optional[Tensor] = None,
                       score_thr: float = 0.1,
                       prob_thr: float = 0.4,
                       mode: str = 'official') -> StuffKernels:
    """Stuff kernels of one image and level at test time: :func:`pool_stuff_kernels_dense`,
    then keep the classes whose score is > ``score_thr`` (``STUFF.THRES``).

    Args:
        region_prob (Tensor): (K, H, W). kernel_map (Tensor): (C, H, W).
        depth_kernel_map (Tensor, optional): (D, H, W).

    Returns:
        StuffKernels: kernels (S, C), scores (S,), classes (S,), depth kernels (S, D) or None.
    """
    dense = pool_stuff_kernels_dense(
        region_prob[None], kernel_map[None],
        depth_kernel_map[None] if depth_kernel_map is not None else None, prob_thr, mode)
    keep = dense.scores[0] > score_thr
    return StuffKernels(dense.kernels[0][keep], dense.scores[0][keep], dense.classes[0][keep],
                        dense.depth_kernels[0][keep] if dense.depth_kernels is not None
                        else None)


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

    def pool_stuff_dense(self, region_prob: Tensor, kernel_map: Tensor,
                         depth_kernel_map: Optional[Tensor] = None) -> StuffKernels:
        """See :func:`pool_stuff_kernels_dense` (batched, every class, no score threshold)."""
        return pool_stuff_kernels_dense(region_prob, kernel_map, depth_kernel_map,
                                        self.stuff_prob_thr, self.stuff_pooling)

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
