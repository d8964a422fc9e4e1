"""Loading of panoptic and depth annotations for the DPS datasets."""
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mmpdepth.formats import ANNOTATION_FORMATS, get_format, read_depth_png
from mmpdepth.registry import TRANSFORMS


def read_panoptic_annotation(info: dict, metainfo: dict,
                             group_as_instance: Optional[bool] = None
                             ) -> Tuple[np.ndarray, np.ndarray]:
    """Read one sample's panoptic GT as a semantic map and a dense instance map, in the
    sample's ``ann_format`` (see :mod:`mmpdepth.formats`).

    Args:
        info: sample dict with ``ann_format`` and the annotation paths.
        metainfo: dataset metainfo (``classes``, ``thing_ids``).
        group_as_instance: whether thing pixels with instance 0 (Cityscapes group regions) or
            crowd segments become instances. ``None`` follows the official code (the format's
            default): yes for Cityscapes-DVPS (its crowd test never fires), no for Cityscapes
            panoptic (crowd segments are dropped) and SemKITTI (instance 0 means no instance).

    Returns:
        tuple: ``sem`` (H, W) uint8 class index, 255 = ignore; ``inst`` (H, W) int32, 0 = no
        instance, 1..N instances (only on thing classes).
    """
    fmt = info.get('ann_format')
    if fmt not in ANNOTATION_FORMATS:
        raise ValueError(f'unknown annotation format {fmt!r} for {info.get("img_path")}')
    return get_format(fmt).read_semantic_instance(info, len(metainfo['classes']),
                                                  metainfo['thing_ids'], group_as_instance)


#: keys a dataset sample carries (any of them) and a bare inference image does not
ANNOTATION_KEYS = ('ann_format', 'pan_path', 'sem_path', 'inst_path', 'depth_path')


@TRANSFORMS.register_module()
class LoadDPSAnnotations(BaseTransform):
    """Load panoptic (semantic + instance) and depth ground truth of a DPS sample.

    Required Keys:

    - img_shape (after ``LoadImageFromFile``), ann_format, and the paths of the format
      (``pan_path``; or ``sem_path`` + ``inst_path``; ``depth_path``; ``segments_info``)

    Added Keys:

    - gt_seg_map (np.uint8): (H, W) class index, 255 = ignore/void.
    - gt_instance_map (np.int32): (H, W) dense instance ids (0 = none) on thing pixels.
    - gt_depth_map (np.float32): (H, W) metres, 0 = invalid (with ``with_depth``).
    - seg_fields: ['gt_seg_map', 'gt_instance_map'], depth_fields: ['gt_depth_map']
    - cam_intrinsic: principal point filled with the image centre where unknown.

    Args:
        with_panoptic (bool): load the panoptic GT. Defaults to True.
        with_depth (bool): load depth. Datasets without depth (Cityscapes panoptic) give an
            all-zero (invalid) map when ``depth_path`` is None. Defaults to True.
        group_as_instance (bool, optional): see :func:`read_panoptic_annotation`.

    A bare image (no ``ann_format`` and no annotation path: an inference input, e.g. from
    mmdeploy's ``inference_model``, which keeps every loader but mmdet's ``LoadAnnotations``)
    passes through unchanged. A missing file raises ``FileNotFoundError``; a wrong bit depth or
    a size different from the image raises ``ValueError``; both name the file. An image without any thing loads with an
    empty instance map; an all-invalid depth map loads as zeros (it adds nothing to depth losses
    and metrics).
    """

    def __init__(self, with_panoptic: bool = True, with_depth: bool = True,
                 group_as_instance: Optional[bool] = None) -> None:
        self.with_panoptic = with_panoptic
        self.with_depth = with_depth
        self.group_as_instance = group_as_instance

    def transform(self, results: dict) -> dict:
        if not any(k in results for k in ANNOTATION_KEYS):
            return results  # a bare image: nothing to load
        h, w = results['img_shape'][:2] if 'img_shape' in results else (None, None)
        meta = results.get('metainfo') or results.get('dataset_meta') or {}
        if self.with_panoptic:
            if not meta:
                raise KeyError('LoadDPSAnnotations needs the dataset metainfo in results '
                               "('dataset_meta'); use it inside a BaseDPSDataset pipeline")
            sem, inst = read_panoptic_annotation(results, meta, self.group_as_instance)
            if h is not None and sem.shape != (h, w):
                path = results.get('pan_path') or results.get('sem_path')
                raise ValueError(f'{path}: annotation size {sem.shape} differs from the image '
                                 f'{results.get("img_path")} size {(h, w)}')
            results['gt_seg_map'] = sem
            results['gt_instance_map'] = inst
            results['seg_fields'] = ['gt_seg_map', 'gt_instance_map']
        if self.with_depth:
            path = results.get('depth_path')
            if path is None:
                if results.get('ann_format') == 'cityscapes-panoptic':
                    results['gt_depth_map'] = np.zeros((h, w), np.float32)
                else:
                    raise FileNotFoundError(f'{results.get("img_path")}: no depth file '
                                            '(depth_path is None)')
            else:
                results['gt_depth_map'] = read_depth_png(path, (h, w) if h else None)
            results['depth_fields'] = ['gt_depth_map']
        cam = results.get('cam_intrinsic')
        if cam is not None and h is not None and (cam.get('cx') is None or cam.get('cy') is None):
            results['cam_intrinsic'] = dict(cam, cx=w / 2.0, cy=h / 2.0)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(with_panoptic={self.with_panoptic}, '
                f'with_depth={self.with_depth}, group_as_instance={self.group_as_instance})')
