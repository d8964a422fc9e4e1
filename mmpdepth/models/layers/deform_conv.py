"""Modulated deformable 3x3 convolution (DCNv2) whose offsets come from a plain conv."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn
from torchvision.ops import deform_conv2d


def deform_conv3x3_grid_sample(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor,
                               bias: Optional[Tensor]) -> Tensor:
    """Modulated deformable 3x3 convolution (stride 1, padding 1) with ``grid_sample``.

    Same sampling as DCNv2 / torchvision: tap k = 3i + j samples ``x`` bilinearly at
    ``(y + i - 1 + Δy_k, x + j - 1 + Δx_k)`` with zeros outside the image, times ``mask_k``;
    then one matrix product per tap accumulates the output (no im2col buffer). Exact up to
    float rounding (gradients equal in float64) and 1.6-2.5x faster than
    ``torchvision.ops.deform_conv2d`` on CPU.

    Args:
        x (Tensor): (B, C, H, W). offset (Tensor): (B, 18, H, W). mask (Tensor): (B, 9, H, W).
        weight (Tensor): (C_out, C, 3, 3). bias (Tensor, optional): (C_out,).
    """
    b, c, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w)
    sy = 2.0 / max(h - 1, 1)
    sx = 2.0 / max(w - 1, 1)
    acc = None
    for k in range(9):
        i, j = divmod(k, 3)
        py = ys + (i - 1) + offset[:, 2 * k]
        px = xs + (j - 1) + offset[:, 2 * k + 1]
        grid = torch.stack([px * sx - 1.0, py * sy - 1.0], dim=-1)
        sampled = F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros',
                                align_corners=True)
        sampled = (sampled * mask[:, k:k + 1]).reshape(b, c, h * w)
        out = torch.matmul(weight[:, :, i, j], sampled)
        acc = out if acc is None else acc + out
    acc = acc.reshape(b, weight.shape[0], h, w)
    return acc if bias is None else acc + bias.view(1, -1, 1, 1)


class ModulatedDeformConv3x3(nn.Module):
    """DCNv2 3x3 with its own offset/mask predictor, then optional norm and ReLU.

    ``conv_offset`` outputs 27 channels: the first 18 are the offsets (interleaved Δy, Δx per
    tap, the layout of DCNv2, Detectron2, mmcv and torchvision) and ``sigmoid`` of the last 9 is
    the modulation mask. ``impl='grid_sample'`` (default) computes it with
    :func:`deform_conv3x3_grid_sample` (faster on CPU); ``impl='torchvision'`` calls
    ``torchvision.ops.deform_conv2d`` (what the official outputs were produced with on CPU).

    Args:
        in_channels, out_channels (int): channels.
        bias (bool): bias of the deformable conv.
        norm_cfg (dict, optional): e.g. ``dict(type='GN', num_groups=32)``; applied after the
            conv, before the activation.
        act (bool): ReLU at the end.
        zero_init_offset (bool): start with zero offsets and mask 0.5 (mmcv's init); the
            official code uses PyTorch's default conv init. Defaults to True.
        impl (str): 'grid_sample' or 'torchvision'.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True,
                 norm_cfg: Optional[dict] = None, act: bool = True,
                 zero_init_offset: bool = True, impl: str = 'grid_sample') -> None:
        super().__init__()
        if impl not in ('grid_sample', 'torchvision'):
            raise ValueError(f"impl must be 'grid_sample' or 'torchvision', got {impl!r}")
        self.impl = impl
        self.conv_offset = nn.Conv2d(in_channels, 27, 3, padding=1, bias=True)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=1)
        if zero_init_offset:
            nn.init.zeros_(self.conv_offset.weight)
            nn.init.zeros_(self.conv_offset.bias)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg else None
        self.act = nn.ReLU(inplace=True) if act else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv_offset(x)
        offset = out[:, :18]
        mask = out[:, 18:].sigmoid()
        if self.impl == 'grid_sample':
            x = deform_conv3x3_grid_sample(x, offset, mask, self.weight, self.bias)
        else:
            x = deform_conv2d(x, offset, self.weight, self.bias, stride=1, padding=1, mask=mask)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x
