"""Loss formulas against hand-computed values."""
import math

import pytest
import torch
from mmdet.models.losses import DiceLoss, FocalLoss

from mmpdepth.models.losses import InstanceDepthLoss, si_log_rel_loss


def test_si_log_plus_relative_error():
    pred = torch.tensor([2.0, 4.0])
    gt = torch.tensor([1.0, 4.0])
    d = [math.log(1) - math.log(2), 0.0]
    si = (d[0]**2 + d[1]**2) / 2 - ((d[0] + d[1]) / 2)**2
    rel = math.sqrt(((1 - 2 / 1)**2 + 0) / 2)
    assert si_log_rel_loss(pred, gt, si_weight=1.0).item() == pytest.approx(si + rel)
    assert si_log_rel_loss(pred, gt, si_weight=5.0).item() == pytest.approx(5 * si + rel)
    empty = si_log_rel_loss(torch.zeros(0, requires_grad=True), torch.zeros(0))
    assert empty.item() == 0.0 and empty.requires_grad


def test_instance_depth_loss_weights_and_per_image_mean():
    loss = InstanceDepthLoss(si_weight=5.0, loss_weight=5.0, instance_weight=1.0)
    pred = torch.tensor([2.0, 4.0])
    gt = torch.tensor([1.0, 4.0])
    assert loss.loss_pixel(pred, gt).item() == pytest.approx(5 * si_log_rel_loss(pred, gt, 5.0))
    # two images: mean of per-image losses, not the pooled loss
    sp = torch.tensor([10.0, 20.0, 30.0])
    sg = torch.tensor([10.0, 10.0, 30.0])
    img = torch.tensor([0, 0, 1])
    per_image = (si_log_rel_loss(sp[:2], sg[:2], 5.0) + si_log_rel_loss(sp[2:], sg[2:], 5.0)) / 2
    assert loss.loss_instance(sp, sg, img).item() == pytest.approx(5 * per_image.item())


def test_focal_loss_with_soft_targets():
    x = torch.tensor([[0.3, -1.0]])
    t = torch.tensor([[0.6, 0.0]])
    got = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25, reduction='sum')(x, t).item()
    want = 0.0
    for xi, ti in zip(x[0].tolist(), t[0].tolist()):
        p = 1 / (1 + math.exp(-xi))
        bce = -(ti * math.log(p) + (1 - ti) * math.log(1 - p))
        p_t = p * ti + (1 - p) * (1 - ti)
        a_t = 0.25 * ti + 0.75 * (1 - ti)
        want += bce * (1 - p_t)**2 * a_t
    assert got == pytest.approx(want, rel=1e-6)


def test_weighted_dice_matches_official_form():
    p = torch.tensor([[0.8, 0.2, 0.0, 0.5], [0.1, 0.9, 0.9, 0.0]])
    t = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0]])
    w = torch.tensor([0.7, 0.3])
    got = DiceLoss(use_sigmoid=False, activate=False, eps=5e-9, reduction='sum')(p, t, weight=w)
    want = 0.0
    for i in range(2):
        num = 2 * float((p[i] * t[i]).sum())
        den = float((p[i]**2).sum() + (t[i]**2).sum())
        want += float(w[i]) * (1 - num / den)
    assert got.item() == pytest.approx(want, rel=1e-6)
