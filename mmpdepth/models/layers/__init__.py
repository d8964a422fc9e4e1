from .center_heatmap import (center_peaks, center_peaks_topk, draw_gaussian,
                             panopticfcn_gaussian_radius)
from .conv_tower import ConvTower
from .coord_conv import add_coord_channels
from .deform_conv import ModulatedDeformConv3x3
from .instance_depth import DEPTH_MODES, InstanceDepthGenerator
from .kernel_fusion import (AdaptiveKernelFusion, fuse_stuff_kernels, fuse_thing_kernels,
                            pool_stuff_kernels, pool_stuff_kernels_dense)
from .output_resize import (OriginalSizeMaps, flip_windows, output_windows,
                            upsample_to_original)
from .semantic_fpn_fusion import SemanticFPNFusion

__all__ = [
    'center_peaks', 'center_peaks_topk', 'draw_gaussian', 'panopticfcn_gaussian_radius',
    'ConvTower', 'add_coord_channels', 'ModulatedDeformConv3x3', 'DEPTH_MODES',
    'InstanceDepthGenerator', 'AdaptiveKernelFusion', 'fuse_stuff_kernels', 'fuse_thing_kernels',
    'pool_stuff_kernels', 'pool_stuff_kernels_dense', 'SemanticFPNFusion', 'flip_windows',
    'output_windows', 'upsample_to_original', 'OriginalSizeMaps'
]
