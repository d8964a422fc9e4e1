from .formatting import PackDPSInputs
from .loading import LoadDPSAnnotations, read_panoptic_annotation
from .transforms import DPSRandomCrop, DPSRandomFlip, DPSResize

__all__ = [
    'PackDPSInputs', 'LoadDPSAnnotations', 'read_panoptic_annotation', 'DPSRandomCrop',
    'DPSRandomFlip', 'DPSResize'
]
