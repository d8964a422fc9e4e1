"""SemKITTI-DVPS: ``*_gtFine_class.png`` + ``*_gtFine_instance.png`` (ids class * 2**20 +
instance, void class 255), ``*_depth_<focal>.png``; predictions ``*_cat.png`` (uint8 class) +
``*_ins.png`` (16-bit instance)."""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from .annotation_format import AnnotationFormat
from .png_io import read_png


@dataclass(frozen=True)
class SemKITTIDVPSFormat(AnnotationFormat):
    """Sample keys: ``sem_path`` and ``inst_path``. Instance 0 means "no instance"."""

    pred_suffixes = ('_cat.png', '_ins.png')

    def _read_pair(self, class_path: str, instance_path: str):
        cls = read_png(class_path)
        inst = read_png(instance_path)
        if cls.ndim != 2 or inst.ndim != 2:
            raise ValueError(f'{class_path} / {instance_path}: class and instance PNGs must be '
                             'single-channel')
        if cls.shape != inst.shape:
            raise ValueError(f'{instance_path}: size {inst.shape} differs from {class_path} '
                             f'{cls.shape}')
        return cls.astype(np.int64), inst.astype(np.int64)

    def read_class_instance(self, info: dict, group_as_instance: bool):
        cls, inst = self._read_pair(info['sem_path'], info['inst_path'])
        return self.encode(cls, inst), cls, inst

    def read_gt_ids(self, info: dict) -> np.ndarray:
        return self.encode(*self._read_pair(info['sem_path'], info['inst_path']))

    def read_pred_ids(self, paths: Sequence[str],
                      label_divisor: Optional[int] = None) -> np.ndarray:
        cat_path, ins_path = paths
        div = self.label_divisor if label_divisor is None else label_divisor
        cat, ins = read_png(cat_path), read_png(ins_path)
        if cat.shape != ins.shape or cat.ndim != 2:
            raise ValueError(f'{ins_path}: shape {ins.shape} does not match {cat_path} '
                             f'{cat.shape}')
        return cat.astype(np.int64) * div + ins.astype(np.int64)

    def write_pred_ids(self, paths: Sequence[str], ids: np.ndarray,
                       label_divisor: Optional[int] = None) -> None:
        """ids -> ``*_cat.png`` (uint8 class) and ``*_ins.png`` (uint16 instance)."""
        cat_path, ins_path = paths
        div = self.label_divisor if label_divisor is None else label_divisor
        ids = np.asarray(ids, np.int64)
        cls, inst = ids // div, ids % div
        if inst.max(initial=0) > 65535:
            raise ValueError(f'{ins_path}: instance ids above 65535 do not fit a 16-bit PNG')
        Image.fromarray(cls.astype(np.uint8)).save(cat_path)
        Image.fromarray(inst.astype(np.uint16)).save(ins_path)


SEMKITTI_DVPS_FORMAT = SemKITTIDVPSFormat(
    name='semkitti-dvps', label_divisor=2**20, void_category=255,
    thing_ids=tuple(range(0, 8)), stuff_ids=tuple(range(8, 19)), group_as_instance=False)
