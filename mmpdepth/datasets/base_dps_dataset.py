"""Common behaviour of the DPS datasets: index file or folder scan, filtering, camera lookup."""
import glob
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional

from mmdet.datasets import BaseDetDataset

from mmpdepth.formats import check_image_size

#: where users learn to download and lay out the datasets (named in missing-data errors)
DATA_DOC = 'docs/en/dataset_prepare.md'


def load_json_index(path: str):
    """Read an annotation index; JSON only (pickle and other formats can run code when read)."""
    if not path.lower().endswith('.json'):
        raise ValueError(f'{path}: annotation indexes must be JSON (.json); other formats such '
                         'as .pkl can run code when loaded and are refused')
    try:
        with open(path) as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: not valid JSON ({e})') from None


class BaseDPSDataset(BaseDetDataset):
    """Base of the DPS datasets (mmdet ``BaseDetDataset``: ``serialize_data``, ``lazy_init``,
    ``indices``, ``filter_cfg`` and ``test_mode`` behave as in mmdet).

    Data is found either through ``ann_file`` (a JSON index written by
    ``tools/dataset_converters/*``: ``{"metainfo": ..., "data_list": [...]}``, the fastest way) or,
    when ``ann_file`` is empty, by scanning ``data_root/data_prefix['img_path']``.

    ``filter_cfg``:
        ``filter_empty_gt`` (bool): drop images without any thing instance (training only, as in
        mmdet). Needs ``has_things`` from the index; without an index every GT file is read once.
        ``min_size`` (int): drop images whose shorter side is smaller (needs sizes in the index).

    Camera intrinsics (for point clouds) travel in each sample's ``cam_intrinsic``
    (``dict(fx, fy, cx, cy)`` or None); see the subclasses for where they come from.
    """

    #: subclass: the annotation format, read by ``LoadDPSAnnotations``
    ANN_FORMAT = ''

    def __init__(self, *args, data_prefix: Optional[dict] = None, **kwargs) -> None:
        data_prefix = dict(img_path='') if data_prefix is None else data_prefix
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    # -- loading -------------------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(f'{self.ann_file}: annotation index not found; write it '
                                        'with tools/dataset_converters/ or set ann_file="" '
                                        f'(see {DATA_DOC})')
            raw = load_json_index(self.ann_file)
            if not isinstance(raw, dict) or 'data_list' not in raw:
                raise ValueError(f'{self.ann_file}: expected a JSON dict with "data_list"')
            items = raw['data_list']
            base = self._img_dir()
        else:
            items = self.scan_folder(self._img_dir())
            base = None
        data_list = [self.parse_data_info(dict(item, _base=base)) for item in items]
        if not data_list:
            raise ValueError(f'{self._img_dir()}: no samples found for {type(self).__name__} '
                             f'(see {DATA_DOC})')
        return data_list

    def _img_dir(self) -> str:
        return self.data_prefix.get('img_path', self.data_root or '')

    def scan_folder(self, folder: str) -> List[dict]:
        """Subclass: list the samples of a folder as relative-path dicts."""
        raise NotImplementedError

    def parse_data_info(self, raw: dict) -> dict:
        base = raw.pop('_base', None) or self._img_dir()
        info = dict(raw)
        for key in ('img_path', 'pan_path', 'depth_path', 'sem_path', 'inst_path'):
            if info.get(key) and not osp.isabs(info[key]):
                info[key] = osp.join(base, info[key])
        info['ann_format'] = self.ANN_FORMAT
        info.setdefault('img_id', osp.basename(info['img_path']).rsplit('_leftImg8bit', 1)[0])
        info.setdefault('cam_intrinsic', self.camera_for(info))
        return info

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['dataset_meta'] = self.metainfo  # read by LoadDPSAnnotations
        if osp.isfile(info['img_path']):  # a huge declared size: refused before decoding
            check_image_size(info['img_path'])
        return info

    # -- camera ----------------------------------------------------------------------------------
    def camera_for(self, info: dict) -> Optional[Dict[str, float]]:
        """Intrinsics from ``data_prefix['camera']``: a JSON file (one camera for all images) or a
        folder of Cityscapes ``*_camera.json`` files, looked up by the Cityscapes frame name."""
        cam = self.data_prefix.get('camera')
        if not cam:
            return None
        if osp.isfile(cam):
            return read_camera_json(cam)
        if not hasattr(self, '_camera_index'):
            self._camera_index = {
                osp.basename(p)[:-len('_camera.json')]: p
                for p in glob.glob(osp.join(cam, '**', '*_camera.json'), recursive=True)
            }
        key = cityscapes_frame_name(osp.basename(info['img_path']))
        path = self._camera_index.get(key)
        return read_camera_json(path) if path else None

    # -- filtering -------------------------------------------------------------------------------
    def filter_data(self) -> List[dict]:
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        keep = self.data_list
        if self.filter_cfg.get('filter_empty_gt', False):
            keep = [d for d in keep if self._has_things(d)]
        min_size = self.filter_cfg.get('min_size', 0)
        if min_size:
            keep = [d for d in keep
                    if min(d.get('height', min_size), d.get('width', min_size)) >= min_size]
        if self.data_list and not keep:
            raise ValueError(f'{self._img_dir()}: filter_cfg={dict(self.filter_cfg)} removed all '
                             f'{len(self.data_list)} samples (e.g. no image has a thing '
                             'instance)')
        return keep

    def _has_things(self, info: dict) -> bool:
        if 'has_things' in info:
            return bool(info['has_things'])
        from .transforms.loading import read_panoptic_annotation
        sem, inst = read_panoptic_annotation(info, self.metainfo)
        return bool((inst > 0).any())


def cityscapes_frame_name(file_name: str) -> str:
    """'000001_000002_aachen_000000_000019_leftImg8bit.png' -> 'aachen_000000_000019'.

    Cityscapes-DVPS names start with a 2-field DVPS prefix; plain Cityscapes names do not.
    """
    stem = file_name.split('_leftImg8bit')[0]
    parts = stem.split('_')
    if len(parts) >= 5 and parts[0].isdigit() and parts[1].isdigit():
        parts = parts[2:]
    return '_'.join(parts[:3])


def read_camera_json(path: str) -> Dict[str, float]:
    """Cityscapes camera JSON (``intrinsic: {fx, fy, u0, v0}``, or those keys at the top) ->
    ``dict(fx, fy, cx, cy)``; ``ValueError`` naming the file for anything else, and for focal
    lengths that are not finite and positive."""
    try:
        with open(path) as f:
            cam = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: not a camera JSON file ({e})') from None
    intr = cam.get('intrinsic', cam) if isinstance(cam, dict) else None
    try:
        out = dict(fx=float(intr['fx']), fy=float(intr['fy']),
                   cx=float(intr.get('u0', intr.get('cx'))),
                   cy=float(intr.get('v0', intr.get('cy'))))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f'{path}: camera JSON needs numbers fx, fy, u0/cx, v0/cy '
                         f'({type(e).__name__}: {e})') from None
    check_intrinsics(out, path)
    return out


def check_intrinsics(intr: Dict[str, float], source: str) -> None:
    """``ValueError`` naming ``source`` unless fx, fy are finite and > 0 and cx, cy finite."""
    if not all(math.isfinite(intr[k]) for k in ('fx', 'fy', 'cx', 'cy')) or \
            not (intr['fx'] > 0 and intr['fy'] > 0):
        raise ValueError(f'{source}: focal lengths must be finite and positive and the '
                         f'principal point finite; got fx={intr["fx"]}, fy={intr["fy"]}, '
                         f'cx={intr["cx"]}, cy={intr["cy"]}')


def check_annotations_have_images(folder: str, names, ann_suffix: str, img_suffix: str) -> None:
    """``FileNotFoundError`` naming the first annotation (``*ann_suffix``) in ``folder`` whose
    image (same stem, ``img_suffix``) is missing: a half-copied split would otherwise be
    evaluated on fewer frames without a word."""
    names = set(names)
    lone = sorted(n for n in names if n.endswith(ann_suffix)
                  and n[:-len(ann_suffix)] + img_suffix not in names)
    if lone:
        raise FileNotFoundError(
            f'{osp.join(folder, lone[0])}: annotation without its image '
            f'{lone[0][:-len(ann_suffix)] + img_suffix}'
            f'{f" ({len(lone) - 1} more)" if len(lone) > 1 else ""}; a half-copied split would '
            'be evaluated on fewer frames')


def list_dir(folder: str) -> List[str]:
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder}: dataset folder not found (see {DATA_DOC})')
    return sorted(os.listdir(folder))
