"""SemKITTI-DVPS: ``video_sequence/{train,val}`` layout with class/instance PNGs and focal in the
depth file name."""
import os.path as osp
import re
from typing import Dict, List, Optional

from mmpdepth.registry import DATASETS

from .base_dps_dataset import (BaseDPSDataset, check_annotations_have_images,
                               list_dir)
from .class_meta import SEMKITTI_DPS_METAINFO

DEPTH_RE = re.compile(r'^(?P<stem>.+)_depth_(?P<focal>[0-9.]+)\.png$')


def focal_from_depth_name(name: str) -> float:
    """'000000_000000_depth_718.8560180664062.png' -> 718.856..."""
    m = DEPTH_RE.match(osp.basename(name))
    if m is None:
        raise ValueError(f'{name}: SemKITTI-DVPS depth file name must be '
                         '<stem>_depth_<focal>.png')
    return float(m.group('focal'))


@DATASETS.register_module()
class SemKITTIDPSDataset(BaseDPSDataset):
    """SemKITTI-DVPS frames.

    Files per split folder: ``{seq}_{frame}_leftImg8bit.png``, ``..._gtFine_class.png``,
    ``..._gtFine_instance.png`` and ``..._depth_<focal>.png`` (16-bit metres*256, 0 = invalid,
    sparse LiDAR). 19 classes, things 0-7, stuff 8-18, ignore 255. The focal length in the depth
    file name reaches the sample as ``focal`` and ``cam_intrinsic`` (fx = fy = focal; the
    principal point is not in the data and is set to the image centre by the loader).
    """
    METAINFO = SEMKITTI_DPS_METAINFO
    ANN_FORMAT = 'semkitti-dvps'

    def scan_folder(self, folder: str) -> List[dict]:
        names = list_dir(folder)
        depth_by_stem: Dict[str, str] = {}
        for n in names:
            m = DEPTH_RE.match(n)
            if m:
                depth_by_stem[m.group('stem')] = n
        name_set = set(names)
        items = []
        for n in names:
            if not n.endswith('_leftImg8bit.png'):
                continue
            stem = n[:-len('_leftImg8bit.png')]
            sem, inst = stem + '_gtFine_class.png', stem + '_gtFine_instance.png'
            depth = depth_by_stem.get(stem)
            for need in (sem, inst):
                if need not in name_set:
                    raise FileNotFoundError(f'{osp.join(folder, need)}: missing annotation for '
                                            f'{osp.join(folder, n)}')
            if depth is None:
                raise FileNotFoundError(f'{osp.join(folder, stem)}_depth_<focal>.png: missing '
                                        f'depth for {osp.join(folder, n)}')
            items.append(dict(img_path=n, sem_path=sem, inst_path=inst, depth_path=depth,
                              img_id=stem, seq_id=stem.split('_')[0],
                              focal=focal_from_depth_name(depth)))
        check_annotations_have_images(folder, names, '_gtFine_class.png', '_leftImg8bit.png')
        return items

    def camera_for(self, info: dict) -> Optional[Dict[str, float]]:
        cam = super().camera_for(info)
        if cam is None and info.get('focal'):
            # principal point unknown here; LoadDPSAnnotations fills the image centre
            cam = dict(fx=info['focal'], fy=info['focal'], cx=None, cy=None)
        return cam
