"""A stack of 3x3 conv (+norm) + ReLU layers, optionally deformable, with optional CoordConv."""
from typing import Optional

from mmcv.cnn import ConvModule
from torch import Tensor, nn

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
    """

    def __init__(self, in_channels: int, channels: int, num_convs: int, deform: bool = False,
                 coord: bool = False, norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        self.coord = coord
        layers = []
        for k in range(num_convs):
            cin = (in_channels + 2 if coord else in_channels) if k == 0 else channels
            if deform:
                layers.append(ModulatedDeformConv3x3(cin, channels, bias=norm_cfg is None,
                                                     norm_cfg=norm_cfg))
            else:
                layers.append(ConvModule(cin, channels, 3, padding=1, bias=norm_cfg is None,
                                         norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, channels, H, W)."""
        if self.coord:
            x = add_coord_channels(x)
        return self.layers(x)
