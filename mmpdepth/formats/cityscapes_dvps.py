"""Cityscapes-DVPS: ``*_gtFine_instanceTrainIds.png`` (16-bit, class * 1000 + instance, void
32000), ``*_depth.png`` (16-bit metres * 256); predictions a 3-channel uint8 PNG
``[class, instance, 0]``."""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from .annotation_format import AnnotationFormat
from .png_io import read_png


@dataclass(frozen=True)
class CityscapesDVPSFormat(AnnotationFormat):
    """Sample keys: ``pan_path``. Group regions (a thing class with instance 0) become
    instances of the training targets, as in the official code (its crowd test never fires)."""

    #: prediction files of one frame, by suffix after the frame name
    pred_suffixes = ('.png', )

    def read_gt_ids(self, info: dict) -> np.ndarray:
        """-> int32 ids as stored (int64 for 32-bit PNGs)."""
        path = info['pan_path']
        arr = read_png(path)
        if arr.ndim != 2 or arr.dtype == np.uint8 or arr.dtype == bool:
            raise ValueError(f'{path}: expected a single-channel 16-bit id PNG '
                             f'(class*{self.label_divisor}+instance, void {self.void_id}); got '
                             f'dtype {arr.dtype}, shape {arr.shape}')
        return arr.astype(np.int32 if arr.dtype == np.uint16 else np.int64)

    def read_pred_ids(self, paths: Sequence[str],
                      label_divisor: Optional[int] = None) -> np.ndarray:
        """``[class, instance, 0]`` PNG -> class * label_divisor + instance (int32 while it
        fits, else int64)."""
        path = paths[0]
        div = self.label_divisor if label_divisor is None else label_divisor
        arr = read_png(path, rgb=False)  # [0, instance, class]: no colour conversion pass
        if arr.ndim != 3 or arr.shape[2] < 2 or arr.dtype != np.uint8:
            raise ValueError(f'{path}: expected a 3-channel uint8 PNG [class, instance, 0]; got '
                             f'dtype {arr.dtype}, shape {arr.shape}')
        cls = arr[..., 0] if arr.shape[2] == 2 else arr[..., 2]
        ids = cls.astype(np.int32 if 256 * div < 2**31 else np.int64)
        ids *= div
        ids += arr[..., 1]
        return ids

    def write_pred_ids(self, paths: Sequence[str], ids: np.ndarray,
                       label_divisor: Optional[int] = None) -> None:
        """ids -> ``[class, instance, 0]`` PNG; class or instance ids above 255 raise instead
        of wrapping."""
        path = paths[0]
        div = self.label_divisor if label_divisor is None else label_divisor
        ids = np.asarray(ids, np.int64)
        cls, inst = ids // div, ids % div
        if cls.max(initial=0) > 255 or inst.max(initial=0) > 255:
            raise ValueError(f'{path}: class/instance ids above 255 do not fit the uint8 format')
        out = np.zeros(ids.shape + (3, ), np.uint8)
        out[..., 0], out[..., 1] = cls, inst
        Image.fromarray(out).save(path)


CITYSCAPES_DVPS_FORMAT = CityscapesDVPSFormat(
    name='cityscapes-dvps', label_divisor=1000, void_category=32,
    thing_ids=tuple(range(11, 19)), stuff_ids=tuple(range(0, 11)), group_as_instance=True)
