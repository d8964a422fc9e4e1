"""What every panoptic annotation format knows: its id encoding, its void and thing / stuff
classes, and how to read a sample's ground truth as (semantic, instance) maps or as ids."""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class AnnotationFormat:
    """One panoptic annotation format (subclasses add the file readers and writers).

    Attributes:
        name: the ``ann_format`` value of dataset samples ('cityscapes-dvps', ...).
        label_divisor: id = class * label_divisor + instance.
        void_category: class of void pixels in the format's ids (32 for Cityscapes-DVPS,
            255 for SemKITTI-DVPS).
        thing_ids / stuff_ids: class indices of each group.
        group_as_instance: whether thing pixels without an instance id (Cityscapes group
            regions) become instances of the training targets by default, as the official
            code does for this format.
        ignore_index: class of ignored pixels in the semantic training maps (255).
    """
    name: str
    label_divisor: int
    void_category: int
    thing_ids: Tuple[int, ...]
    stuff_ids: Tuple[int, ...]
    group_as_instance: bool
    ignore_index: int = 255

    @property
    def num_classes(self) -> int:
        return len(self.thing_ids) + len(self.stuff_ids)

    @property
    def void_id(self) -> int:
        """The id of void pixels (``void_category * label_divisor``)."""
        return self.void_category * self.label_divisor

    def invalid_classes(self, classes: np.ndarray, extra: Sequence[int] = ()) -> np.ndarray:
        """The distinct values of ``classes`` that are neither a class of this format
        (0..num_classes-1) nor its void category (nor one of ``extra``), sorted."""
        classes = np.asarray(classes)
        if classes.size == 0 or (classes.min() >= 0 and classes.max() < self.num_classes):
            return np.zeros(0, np.int64)  # the usual case: one pass, no copy
        odd = np.unique(classes[(classes < 0) | (classes >= self.num_classes)])
        return odd[~np.isin(odd, (self.void_category, ) + tuple(extra))].astype(np.int64)

    def check_classes(self, classes: np.ndarray, path: str, what: str = 'GT',
                      extra: Sequence[int] = ()) -> None:
        """Raise ``ValueError`` naming ``path`` and the valid range when a class id is not a
        class of this format (ids of other datasets or a wrong label encoding would otherwise
        be ignored or counted as another class without a word)."""
        bad = self.invalid_classes(classes, extra)
        if bad.size:
            also = ''.join(f', {e}' for e in extra)
            raise ValueError(f'{path}: {what} class ids {bad[:5].tolist()}'
                             f'{" ..." if bad.size > 5 else ""} are not classes of {self.name} '
                             f'(valid: 0..{self.num_classes - 1}, void {self.void_category}'
                             f'{also})')

    def check_ids(self, ids: np.ndarray, path: str, what: str = 'GT') -> None:
        """:meth:`check_classes` of panoptic ids ``class * label_divisor + instance``."""
        ids = np.asarray(ids)
        top = self.num_classes * self.label_divisor
        if ids.size == 0 or (ids.min() >= 0 and ids.max() < top):
            return
        self.check_classes(ids[(ids < 0) | (ids >= top)] // self.label_divisor, path, what)

    def encode(self, classes: np.ndarray, instances: np.ndarray) -> np.ndarray:
        """(class, instance) maps -> int64 ids."""
        return np.asarray(classes, np.int64) * self.label_divisor + np.asarray(instances,
                                                                               np.int64)

    def decode(self, ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """int ids -> (class, instance) int64 maps."""
        ids = np.asarray(ids, np.int64)
        return ids // self.label_divisor, ids % self.label_divisor

    # -- ground truth of one sample (``info``: the dataset sample dict with its paths) --------
    def read_class_instance(self, info: dict, group_as_instance: bool
                            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw GT of a sample: ``(ids, classes, instances)`` int64 (H, W) maps, where ``ids``
        tells segments apart (pixels of one segment share an id)."""
        ids = self.read_gt_ids(info)
        cls, inst = self.decode(ids)
        return ids, cls, inst

    def read_gt_ids(self, info: dict) -> np.ndarray:
        """GT ids ``class * label_divisor + instance`` of a sample (void class =
        :attr:`void_category`), as the DVPS evaluators read them."""
        raise NotImplementedError

    def read_semantic_instance(self, info: dict, num_classes: Optional[int] = None,
                               thing_ids: Optional[Sequence[int]] = None,
                               group_as_instance: Optional[bool] = None
                               ) -> Tuple[np.ndarray, np.ndarray]:
        """A sample's GT as training maps.

        Args:
            info: sample dict with the annotation paths of this format.
            num_classes / thing_ids: the dataset's classes (default: the format's).
            group_as_instance: see :attr:`group_as_instance` (``None``: the format's default).

        Returns:
            tuple: ``sem`` (H, W) uint8 class index, :attr:`ignore_index` = ignore; ``inst``
            (H, W) int32, 0 = no instance, 1..N instances (only on thing classes).
        """
        num_classes = self.num_classes if num_classes is None else num_classes
        thing_ids = self.thing_ids if thing_ids is None else tuple(thing_ids)
        group = self.group_as_instance if group_as_instance is None else group_as_instance
        ids, cls, inst_raw = self.read_class_instance(info, group)
        self.check_classes(cls, info.get('pan_path') or info.get('sem_path') or
                           info.get('img_path', '?'), extra=(self.ignore_index, ))
        valid = (cls >= 0) & (cls < num_classes)
        sem = np.where(valid, cls, self.ignore_index).astype(np.uint8)
        is_instance = valid & np.isin(cls, thing_ids) & ((inst_raw > 0) | group)
        return sem, dense_instance_map(ids, is_instance)


def dense_instance_map(ids: np.ndarray, is_instance: np.ndarray) -> np.ndarray:
    """Map each distinct id where ``is_instance`` to 1..N (0 elsewhere), int32."""
    inst = np.zeros(ids.shape, np.int32)
    if is_instance.any():
        _, inv = np.unique(ids[is_instance], return_inverse=True)
        inst[is_instance] = inv.astype(np.int32).ravel() + 1
    return inst
