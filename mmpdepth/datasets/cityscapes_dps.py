"""Cityscapes-DVPS (used as Cityscapes-DPS): ``video_sequence/{train,val}`` layout."""
import os.path as osp
from typing import List

from mmpdepth.registry import DATASETS

from .base_dps_dataset import (BaseDPSDataset, check_annotations_have_images,
                               list_dir)
from .class_meta import CITYSCAPES_DPS_METAINFO

IMG_SUFFIX = '_leftImg8bit.png'
PAN_SUFFIX = '_gtFine_instanceTrainIds.png'
DEPTH_SUFFIX = '_depth.png'


@DATASETS.register_module()
class CityscapesDPSDataset(BaseDPSDataset):
    """Cityscapes-DVPS frames.

    Files in one folder per split (``data_prefix=dict(img_path='video_sequence/val')``):
    ``{seq}_{frame}_{city}_{cityseq}_{cityframe}_leftImg8bit.png``, ``..._gtFine_instanceTrainIds.png``
    (16-bit, class*1000 + instance, void 32000) and ``..._depth.png`` (16-bit metres*256, 0 =
    invalid). 19 classes (trainIds), stuff 0-10, things 11-18. ``data_prefix['camera']`` may point
    to Cityscapes' ``camera/`` folder (or one camera JSON) for intrinsics.

    Images without a GT file are an error in training; in ``test_mode`` they are allowed only when
    ``allow_missing_gt=True`` (inference on raw frames).
    """
    METAINFO = CITYSCAPES_DPS_METAINFO
    ANN_FORMAT = 'cityscapes-dvps'

    def __init__(self, *args, allow_missing_gt: bool = False, **kwargs) -> None:
        self.allow_missing_gt = allow_missing_gt
        super().__init__(*args, **kwargs)

    def scan_folder(self, folder: str) -> List[dict]:
        names = set(list_dir(folder))
        items = []
        for n in sorted(names):
            if not n.endswith(IMG_SUFFIX):
                continue
            stem = n[:-len(IMG_SUFFIX)]
            pan, depth = stem + PAN_SUFFIX, stem + DEPTH_SUFFIX
            missing = [m for m in (pan, depth) if m not in names]
            if missing and not (self.test_mode and self.allow_missing_gt):
                raise FileNotFoundError(f'{osp.join(folder, missing[0])}: missing annotation for '
                                        f'{osp.join(folder, n)}')
            items.append(dict(img_path=n, pan_path=pan if pan in names else None,
                              depth_path=depth if depth in names else None,
                              img_id=stem, seq_id=stem.split('_')[0]))
        if not (self.test_mode and self.allow_missing_gt):
            check_annotations_have_images(folder, names, PAN_SUFFIX, IMG_SUFFIX)
        return items
