from .panoptic_depth_head import PanopticDepthHead

__all__ = ['PanopticDepthHead']
