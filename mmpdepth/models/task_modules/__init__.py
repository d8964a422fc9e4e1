from .panoptic_target_generator import PanopticTargetGenerator

__all__ = ['PanopticTargetGenerator']
