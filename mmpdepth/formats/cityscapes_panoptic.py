"""Cityscapes panoptic (COCO-style): an RGB PNG of segment ids (R + 256 G + 65536 B) and the
sample's ``segments_info`` (``id``, ``category`` trainId, ``iscrowd``); no depth. Evaluated with
the Cityscapes-DVPS rules (ids class * 1000 + instance, unlabelled pixels void 32)."""
from dataclasses import dataclass

import numpy as np

from .annotation_format import AnnotationFormat
from .png_io import read_png


@dataclass(frozen=True)
class CityscapesPanopticFormat(AnnotationFormat):
    """Sample keys: ``pan_path`` and ``segments_info``. Crowd segments are dropped from the
    training instances unless ``group_as_instance``."""

    def read_class_instance(self, info: dict, group_as_instance: bool):
        path = info['pan_path']
        rgb = read_png(path)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise ValueError(f'{path}: expected an RGB-encoded panoptic PNG, got shape '
                             f'{rgb.shape}')
        rgb = rgb.astype(np.int64)  # uint8 * 256 overflows under NumPy 2's promotion rules
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        cls = np.full(ids.shape, self.ignore_index, np.int64)
        inst = np.zeros(ids.shape, np.int64)
        for n, s in enumerate(info.get('segments_info', [])):
            m = ids == s['id']
            cls[m] = s['category']
            inst[m] = n + 1 if (group_as_instance or not s['iscrowd']) else 0
        return ids, cls, inst

    def read_gt_ids(self, info: dict) -> np.ndarray:
        """ids with dense instances 1..N on things, void (unlabelled) = :attr:`void_category`."""
        sem, inst = self.read_semantic_instance(info)
        cls = np.where(sem == self.ignore_index, self.void_category, sem)
        return self.encode(cls, inst)


CITYSCAPES_PANOPTIC_FORMAT = CityscapesPanopticFormat(
    name='cityscapes-panoptic', label_divisor=1000, void_category=32,
    thing_ids=tuple(range(11, 19)), stuff_ids=tuple(range(0, 11)), group_as_instance=False)
