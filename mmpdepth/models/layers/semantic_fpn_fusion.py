"""Semantic-FPN fusion of P2-P5 into one stride-4 feature (Kirillov et al., Panoptic FPN)."""
import math
from typing import Sequence

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from mmpdepth.registry import MODELS

from .deform_conv import is_exporting


@MODELS.register_module()
class SemanticFPNFusion(nn.Module):
    """Each input of stride s gets ``max(1, log2(s / out_stride))`` blocks of
    [conv3x3 (no bias) -> GN -> ReLU], each followed by bilinear x2 upsampling
    (``align_corners=False``) unless s == out_stride; the branches are summed.

    Args:
        in_channels (int): channels of every input level. Defaults to 256.
        channels (int): output channels. Defaults to 256.
        strides (Sequence[int]): strides of the inputs. Defaults to (4, 8, 16, 32).
        out_stride (int): output stride. Defaults to 4.
        norm_cfg (dict): norm of the blocks. Defaults to GN with 32 groups.
    """

    def __init__(self, in_channels: int = 256, channels: int = 256,
                 strides: Sequence[int] = (4, 8, 16, 32), out_stride: int = 4,
                 norm_cfg: dict = dict(type='GN', num_groups=32, requires_grad=True)) -> None:
        super().__init__()
        self.branches = nn.ModuleList()
        for s in strides:
            n = max(1, int(math.log2(s) - math.log2(out_stride)))
            layers = []
            for k in range(n):
                layers.append(ConvModule(in_channels if k == 0 else channels, channels, 3,
                                         padding=1, bias=False, norm_cfg=norm_cfg,
                                         act_cfg=dict(type='ReLU')))
                if s != out_stride:
                    layers.append(nn.Upsample(scale_factor=2, mode='bilinear',
                                              align_corners=False))
            self.branches.append(nn.Sequential(*layers))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """feats: P2..P5 (B, C, H/s, W/s) -> (B, channels, H/4, W/4)."""
        out = self.branches[0](feats[0])  # a fresh tensor (conv, norm, ReLU)
        # at inference the sum accumulates in place: no fresh (B, C, H/4, W/4) tensor per level
        inplace = not torch.is_grad_enabled() and not is_exporting()
        for branch, f in zip(self.branches[1:], feats[1:]):
            out = out.add_(branch(f)) if inplace else out + branch(f)
        return out
