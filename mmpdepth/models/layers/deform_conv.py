"""Modulated deformable 3x3 convolution (DCNv2) whose offsets come from a plain conv."""
from typing import Optional

import torch
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn
from torchvision.ops import deform_conv2d


class ModulatedDeformConv3x3(nn.Module):
    """DCNv2 3x3 with its own offset/mask predictor, then optional norm and ReLU.

    ``conv_offset`` outputs 27 channels: the first 18 are the offsets (interleaved Δy, Δx per
    tap, the layout of DCNv2, Detectron2, mmcv and torchvision) and ``sigmoid`` of the last 9 is
    the modulation mask. The deformable op is ``torchvision.ops.deform_conv2d`` (CPU and CUDA
    kernels, exportable to ONNX ``DeformConv``).

    Args:
        in_channels, out_channels (int): channels.
        bias (bool): bias of the deformable conv.
        norm_cfg (dict, optional): e.g. ``dict(type='GN', num_groups=32)``; applied after the
            conv, before the activation.
        act (bool): ReLU at the end.
        zero_init_offset (bool): start with zero offsets and mask 0.5 (mmcv's init); the
            official code uses PyTorch's default conv init. Defaults to True.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True,
                 norm_cfg: Optional[dict] = None, act: bool = True,
                 zero_init_offset: bool = True) -> None:
        super().__init__()
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
        x = deform_conv2d(x, offset, self.weight, self.bias, stride=1, padding=1, mask=mask)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x
