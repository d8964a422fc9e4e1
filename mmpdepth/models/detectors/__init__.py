from .panoptic_depth import PanopticDepth

__all__ = ['PanopticDepth']
