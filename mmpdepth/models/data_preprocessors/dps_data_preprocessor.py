"""Batching of DPS samples: mmdet's ``DetDataPreprocessor`` plus depth padding."""
from typing import Sequence

import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData

from mmpdepth.registry import MODELS


@MODELS.register_module()
class DPSDataPreprocessor(DetDataPreprocessor):
    """Normalise, pad and batch images; pad GT to the batch shape.

    Instance masks are padded with 0, ``gt_sem_seg`` with ``seg_pad_value`` (255 = void) and
    ``gt_depth_map`` with 0 (invalid), bottom/right like the image. Padding of GT happens in
    training (``pad_mask``/``pad_seg``/``pad_depth``) where the losses need batch-sized targets.

    For the official PanopticDepth weights use ``mean=[123.675, 116.28, 103.53]``, ``std=[1, 1,
    1]`` and ``bgr_to_rgb=False``: the official model subtracts the RGB-ordered ImageNet mean
    from a BGR image (see docs/en/model.md, "paper vs official code").

    Args:
        pad_depth (bool): pad ``gt_depth_map`` in training. Defaults to True.
        **kwargs: see mmdet ``DetDataPreprocessor`` (``pad_mask`` and ``pad_seg`` default to
            True here).
    """

    def __init__(self, pad_depth: bool = True, pad_mask: bool = True, pad_seg: bool = True,
                 **kwargs) -> None:
        super().__init__(pad_mask=pad_mask, pad_seg=pad_seg, **kwargs)
        self.pad_depth = pad_depth

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if self.pad_depth and training and data.get('data_samples') is not None:
            self.pad_gt_depth(data['data_samples'])
        return data

    @staticmethod
    def pad_gt_depth(batch_data_samples: Sequence[DetDataSample]) -> None:
        """Pad ``gt_depth_map`` to ``batch_input_shape`` with 0 (invalid)."""
        for ds in batch_data_samples:
            if 'gt_depth_map' not in ds:
                continue
            d = ds.gt_depth_map.data
            h, w = d.shape[-2:]
            ph, pw = ds.batch_input_shape
            ds.gt_depth_map = PixelData(
                data=F.pad(d, (0, max(pw - w, 0), 0, max(ph - h, 0)), value=0.0))
