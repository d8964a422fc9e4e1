"""Depth losses of PanopticDepth (paper §3.3.2, Eq. 6-9)."""
from typing import Optional

import torch
from torch import Tensor, nn

from mmpdepth.registry import MODELS


def si_log_rel_loss(pred: Tensor, gt: Tensor, si_weight: float = 1.0,
                    eps: float = 1e-6) -> Tensor:
    """Eq. 6 on a flat set of (prediction, GT) pairs.

    ``L = si_weight · [mean(d²) − mean(d)²] + sqrt(mean((1 − p/g)²))`` with
    ``d = log g − log p`` and both clamped to ``>= eps``. (The paper's Eq. 6 divides by the
    prediction inside the relative term; the released code divides by the ground truth, which
    is what is implemented here; ``si_weight`` = 5 in the released code, 1 in Eq. 6.)

    Args:
        pred (Tensor): (P,) predicted depths. gt (Tensor): (P,) GT depths (> 0).

    Returns:
        Tensor: scalar loss; 0 (still connected to ``pred``) when P = 0.
    """
    if pred.numel() == 0:
        return pred.sum() * 0.0
    g = gt.clamp(min=eps)
    p = pred.clamp(min=eps)
    d = torch.log(g) - torch.log(p)
    si = (d**2).mean() - d.mean()**2
    rel = torch.sqrt(((1.0 - p / g)**2).mean())
    return si_weight * si + rel


@MODELS.register_module()
class InstanceDepthLoss(nn.Module):
    """Pixel-level (Eq. 8) and instance-level (Eq. 9) depth loss, ``L = L^P + λ^I · L^I``.

    * ``loss_pixel(pred, gt)`` — Eq. 8: all (depth map, pixel) pairs of all instances with a
      valid GT depth pooled into one set, then Eq. 6.
    * ``loss_instance(shift_pred, shift_gt, image_index)`` — Eq. 9: each thing kernel's depth
      shift against its instance's GT statistic (mean, or min for Eq. 4 / variant E), Eq. 6
      **per image**, averaged over images (the released code computes it per image).

    Args:
        si_weight (float): weight of the scale-invariant term inside Eq. 6 (released code: 5;
            Eq. 6: 1). Defaults to 5.
        loss_weight (float): λ_dep (5 in the paper and code). Defaults to 5.
        instance_weight (float): λ^I_dep (1). Defaults to 1.
    """

    def __init__(self, si_weight: float = 5.0, loss_weight: float = 5.0,
                 instance_weight: float = 1.0) -> None:
        super().__init__()
        self.si_weight = si_weight
        self.loss_weight = loss_weight
        self.instance_weight = instance_weight

    @property
    def with_instance_term(self) -> bool:
        """Whether :meth:`loss_instance` contributes (λ^I_dep > 0): the head then collects the
        instance shift targets."""
        return self.instance_weight > 0

    def loss_pixel(self, pred: Tensor, gt: Tensor) -> Tensor:
        """pred, gt: (P,) flattened depths of valid pixels -> λ_dep · L^P."""
        return self.loss_weight * si_log_rel_loss(pred, gt, self.si_weight)

    def loss_instance(self, shift_pred: Tensor, shift_gt: Tensor,
                      image_index: Optional[Tensor] = None) -> Tensor:
        """shift_pred, shift_gt: (Q,) per thing kernel; image_index: (Q,) image of each.

        Returns λ_dep · λ^I · mean over images of Eq. 6.
        """
        if shift_pred.numel() == 0:
            return shift_pred.sum() * 0.0
        if image_index is None:
            image_index = torch.zeros_like(shift_pred, dtype=torch.long)
        losses = [si_log_rel_loss(shift_pred[image_index == b], shift_gt[image_index == b],
                                  self.si_weight) for b in torch.unique(image_index)]
        return self.loss_weight * self.instance_weight * torch.stack(losses).mean()
