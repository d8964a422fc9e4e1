"""Annotation formats, each in one module: id encoding, void / thing / stuff classes and the
PNG readers and writers, shared by data loading, the metric and the folder evaluator.

Numpy-only (no torch): ``tools/analysis_tools/eval_dpq.py`` imports it without the model stack.
"""
from typing import Dict

from .annotation_format import AnnotationFormat, dense_instance_map
from .cityscapes_dvps import CITYSCAPES_DVPS_FORMAT, CityscapesDVPSFormat
from .cityscapes_panoptic import CITYSCAPES_PANOPTIC_FORMAT, CityscapesPanopticFormat
from .depth_range import (DEFAULT_GT_DEPTH_RANGE, MIN_GT_DEPTH, exclude_implausible_depth,
                          implausible_depth_mask)
from .image_io import DEFAULT_MAX_IMAGE_PIXELS, check_image_size, max_image_pixels, read_image
from .png_io import DEPTH_SCALE, read_depth_png, read_png, write_depth_png
from .semkitti_dvps import SEMKITTI_DVPS_FORMAT, SemKITTIDVPSFormat

ANNOTATION_FORMATS: Dict[str, AnnotationFormat] = {
    f.name: f for f in (CITYSCAPES_DVPS_FORMAT, SEMKITTI_DVPS_FORMAT, CITYSCAPES_PANOPTIC_FORMAT)
}


def get_format(name: str) -> AnnotationFormat:
    """The format of a sample's ``ann_format`` (or a DVPS protocol name)."""
    if name not in ANNOTATION_FORMATS:
        raise ValueError(f'unknown annotation format {name!r}; choose from '
                         f'{sorted(ANNOTATION_FORMATS)}')
    return ANNOTATION_FORMATS[name]


__all__ = [
    'AnnotationFormat', 'CityscapesDVPSFormat', 'SemKITTIDVPSFormat', 'CityscapesPanopticFormat',
    'CITYSCAPES_DVPS_FORMAT', 'SEMKITTI_DVPS_FORMAT', 'CITYSCAPES_PANOPTIC_FORMAT',
    'ANNOTATION_FORMATS', 'get_format', 'dense_instance_map', 'DEPTH_SCALE', 'read_png',
    'read_depth_png', 'write_depth_png', 'DEFAULT_GT_DEPTH_RANGE', 'MIN_GT_DEPTH',
    'exclude_implausible_depth', 'implausible_depth_mask', 'DEFAULT_MAX_IMAGE_PIXELS',
    'check_image_size', 'max_image_pixels', 'read_image'
]
