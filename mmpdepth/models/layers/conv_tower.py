"""A stack of 3x3 conv (+norm) + ReLU layers, optionally deformable, with optional CoordConv."""
from typing import Optional

from mmcv.cnn import ConvModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .coord_conv import add_coord_channels
from .deform_conv import ModulatedDeformConv3x3


class ConvTower(nn.Module):
    """``num_convs`` x [conv3x3 (plain or DCNv2) -> norm -> ReLU] on ``in_channels`` (+2 with
    ``coord``) inputs. Convs have a bias iff there is no norm (the official ``SingleHead``).

    Args:
        in_channels (int): input channels, without the coordinate channels.
        channels (int): output channels of every layer.
        num_convs (int): number of layers.
        deform (bool): DCNv2 layers instead of plain convs.
        coord (bool): concatenate coordinates to the input of the first layer.
        norm_cfg (dict, optional): e.g. ``dict(type='GN', num_groups=32)``.
        dcn_impl (str): implementation of the DCNv2 layers (``ModulatedDeformConv3x3.impl``).
        dcn_train_gather_mb (float): ``ModulatedDeformConv3x3.train_gather_mb``.
        with_cp (bool): activation checkpointing per layer in training: only each layer's
            input is kept for the backward pass, the layer runs again there.
    """

    def __init__(self, in_channels: int, channels: int, num_convs: int, deform: bool = False,
                 coord: bool = False, norm_cfg: Optional[dict] = None, dcn_impl: str = 'auto',
                 dcn_train_gather_mb: float = 1024, with_cp: bool = False) -> None:
        super().__init__()
        self.coord = coord
        self.with_cp = with_cp
        layers = []
        for k in range(num_convs):
            cin = (in_channels + 2 if coord else in_channels) if k == 0 else channels
            if deform:
                layers.append(ModulatedDeformConv3x3(cin, channels, bias=norm_cfg is None,
                                                     norm_cfg=norm_cfg, impl=dcn_impl,
                                                     train_gather_mb=dcn_train_gather_mb))
            else:
                layers.append(ConvModule(cin, channels, 3, padding=1, bias=norm_cfg is None,
                                         norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, channels, H, W)."""
        if self.coord:
            x = add_coord_channels(x)
        if not (self.with_cp and self.training and x.requires_grad):
            return self.layers(x)
        for layer in self.layers:
            x = checkpoint(layer, x, use_reentrant=False)
        return x
