"""Packing DPS samples into mmdet ``DetDataSample``s."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform, to_tensor
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmpdepth.registry import TRANSFORMS


def instances_from_maps(sem: np.ndarray, inst: np.ndarray, bbox_max_inclusive: bool = False):
    """Instance labels, masks (N, H, W) uint8 and boxes (N, 4) xyxy from the dense maps.

    Boxes end one past the last pixel (mmdet, Detectron2 ``BitMasks``), or on the last pixel
    with ``bbox_max_inclusive`` (the official DPS mapper)."""
    end = 0 if bbox_max_inclusive else 1
    ids = np.unique(inst)
    ids = ids[ids > 0]
    h, w = inst.shape
    masks = np.zeros((len(ids), h, w), np.uint8)
    labels = np.zeros(len(ids), np.int64)
    boxes = np.zeros((len(ids), 4), np.float32)
    for k, i in enumerate(ids):
        m = inst == i
        masks[k] = m
        vals = sem[m]
        labels[k] = np.bincount(vals).argmax()  # one class per instance by construction
        ys, xs = np.nonzero(m)
        boxes[k] = (xs.min(), ys.min(), xs.max() + end, ys.max() + end)
    return labels, masks, boxes


@TRANSFORMS.register_module()
class PackDPSInputs(BaseTransform):
    """Pack image and DPS ground truth into ``inputs`` and a ``DetDataSample``.

    Required Keys: img; optional gt_seg_map, gt_instance_map, gt_depth_map

    Added Keys (on the data sample):

    - gt_instances (InstanceData): ``labels`` (N,) class indices in the dataset's class list,
      ``masks`` BitmapMasks (N, H, W), ``bboxes`` (N, 4) xyxy from the masks.
    - gt_sem_seg (PixelData): ``sem_seg`` (1, H, W) long, 255 = ignore (all classes, things
      included, as the official stuff head is trained on all 19).
    - gt_depth_map (PixelData): ``data`` (1, H, W) float32 metres, 0 = invalid.
    - metainfo: the ``meta_keys`` present in the results.

    Args:
        meta_keys (Sequence[str]): results keys copied to the metainfo.
        bbox_max_inclusive (bool): boxes end on the last pixel (x_max, y_max) instead of one
            past it. The official DPS mapper makes them so; the thing targets use them (level
            assignment by sqrt(box area), Gaussian radius). Defaults to False (mmdet, and the
            official panoptic-stage mapper).
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                                             'scale_factor', 'flip', 'flip_direction',
                                             'pan_path', 'sem_path', 'inst_path', 'depth_path',
                                             'ann_format', 'seq_id', 'cam_intrinsic',
                                             'depth_scale', 'segments_info', 'crop_offset'),
                 bbox_max_inclusive: bool = False) -> None:
        self.meta_keys = tuple(meta_keys)
        self.bbox_max_inclusive = bbox_max_inclusive

    def transform(self, results: dict) -> dict:
        packed = {}
        img = results['img']
        if img.ndim < 3:
            img = img[..., None]
        packed['inputs'] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = DetDataSample()
        if 'gt_instance_map' in results and 'gt_seg_map' in results:
            labels, masks, boxes = instances_from_maps(results['gt_seg_map'],
                                                       results['gt_instance_map'],
                                                       self.bbox_max_inclusive)
            h, w = results['gt_seg_map'].shape
            sample.gt_instances = InstanceData(labels=to_tensor(labels),
                                               masks=BitmapMasks(masks, h, w),
                                               bboxes=to_tensor(boxes))
        if 'gt_seg_map' in results:
            sample.gt_sem_seg = PixelData(
                sem_seg=to_tensor(results['gt_seg_map'][None].astype(np.int64)))
        if 'gt_depth_map' in results:
            sample.gt_depth_map = PixelData(
                data=to_tensor(results['gt_depth_map'][None].astype(np.float32)))
        meta = {k: results[k] for k in self.meta_keys if k in results}
        sample.set_metainfo(meta)
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(meta_keys={self.meta_keys}, '
                f'bbox_max_inclusive={self.bbox_max_inclusive})')
