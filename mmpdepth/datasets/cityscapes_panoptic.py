"""Cityscapes panoptic (stages 1-2, no depth): cityscapesScripts ``createPanopticImgs`` output."""
import os.path as osp
from typing import List

from mmpdepth.registry import DATASETS

from .base_dps_dataset import DATA_DOC, BaseDPSDataset, load_json_index
from .class_meta import CITYSCAPES_DPS_METAINFO

#: Cityscapes labelId -> trainId for the 19 evaluated classes
LABEL_ID_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                        23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


@DATASETS.register_module()
class CityscapesPanopticDataset(BaseDPSDataset):
    """Cityscapes panoptic (2975 train / 500 val), no depth.

    ``ann_file``: ``gtFine/cityscapes_panoptic_{split}.json``; ``data_prefix``:
    ``dict(img_path='leftImg8bit/{split}', seg='gtFine/cityscapes_panoptic_{split}')``.
    Panoptic PNGs are RGB-encoded ids (R + 256G + 256²B); ``segments_info`` gives each id's
    labelId and ``iscrowd``. Crowd thing segments keep their semantic label but are not
    instances (as the official PS mapper does).
    """
    METAINFO = dict(CITYSCAPES_DPS_METAINFO, dvps_protocol=None)
    ANN_FORMAT = 'cityscapes-panoptic'

    def load_data_list(self) -> List[dict]:
        if not self.ann_file or not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{self.ann_file}: Cityscapes panoptic JSON not found (make '
                                    'it with cityscapesscripts createPanopticImgs; see '
                                    f'{DATA_DOC})')
        raw = load_json_index(self.ann_file)
        if 'annotations' not in raw or 'images' not in raw:
            raise ValueError(f'{self.ann_file}: not a cityscapes panoptic JSON (needs "images" '
                             'and "annotations")')
        anns = {a['image_id']: a for a in raw['annotations']}
        seg_dir = self.data_prefix.get('seg', '')
        img_dir = self._img_dir()
        data_list = []
        for img in raw['images']:
            ann = anns.get(img['id'])
            if ann is None:
                raise ValueError(f'{self.ann_file}: image {img["id"]} has no annotation')
            img_path = cityscapes_image_path(img_dir, img)
            segments = []
            for s in ann['segments_info']:
                if s['category_id'] not in LABEL_ID_TO_TRAIN_ID:
                    continue
                segments.append(dict(id=s['id'], category=LABEL_ID_TO_TRAIN_ID[s['category_id']],
                                     iscrowd=int(s.get('iscrowd', 0))))
            thing_ids = set(self.metainfo['thing_ids'])
            info = dict(img_path=img_path, pan_path=osp.join(seg_dir, ann['file_name']),
                        depth_path=None, img_id=img['id'], seq_id=None,
                        height=img.get('height'), width=img.get('width'),
                        segments_info=segments, ann_format=self.ANN_FORMAT,
                        has_things=any(s['category'] in thing_ids and not s['iscrowd']
                                       for s in segments))
            info['cam_intrinsic'] = self.camera_for(info)
            data_list.append(info)
        return data_list


def cityscapes_image_path(img_dir: str, image: dict) -> str:
    """Path of a panoptic JSON ``images`` entry's image under ``leftImg8bit/{split}``.

    Found as Detectron2 finds it: ``{city}/{id}_leftImg8bit.png`` from the image id
    (cityscapesscripts' ``createPanopticImgs`` writes ``file_name`` as
    ``..._gtFine_leftImg8bit.png``, a file that does not exist); else the entry's ``file_name``
    in its city folder or directly in ``img_dir``. The first candidate when none exists.
    """
    names = [f'{image["id"]}_leftImg8bit.png'] if 'id' in image else []
    names.append(image['file_name'])
    candidates = [osp.join(img_dir, str(n).split('_')[0], n) for n in names] + \
        [osp.join(img_dir, n) for n in names]
    return next((c for c in candidates if osp.isfile(c)), candidates[0])
