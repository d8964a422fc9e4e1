from .panoptic_depth_fusion_head import PanopticDepthFusionHead

__all__ = ['PanopticDepthFusionHead']
