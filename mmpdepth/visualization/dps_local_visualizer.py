"""Visualizer of DPS samples: image | panoptic overlay | metric depth (GT row and/or prediction)."""
from typing import Optional

import cv2
import mmcv
import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from mmpdepth.registry import VISUALIZERS

from .dps_drawing import (colourize_depth, depth_colour_bar, overlay_panoptic, panel,
                          prediction_panel)


@VISUALIZERS.register_module()
class DPSLocalVisualizer(Visualizer):
    """Draw DPS ground truth and predictions as picture panels.

    Each row is ``image | panoptic overlay (stuff in class colours, things in per-instance
    colours, white outlines) | depth on a fixed metric range with a colour bar`` (invalid depth
    in magenta). ``add_datasample`` has mmdet's signature, so mmdet's ``DetVisualizationHook``
    (``tools/test.py --show-dir``) uses it unchanged.

    Args:
        max_depth (float): top of the fixed depth colour range in metres. Defaults to 80.
        alpha (float): overlay opacity. Defaults to 0.6.
        draw_labels (bool): write class names on large segments. Defaults to False.
    """

    def __init__(self, name: str = 'visualizer', image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None, save_dir: Optional[str] = None,
                 max_depth: float = 80.0, alpha: float = 0.6, draw_labels: bool = False,
                 **kwargs) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends, save_dir=save_dir)
        self.max_depth = max_depth
        self.alpha = alpha
        self.draw_labels = draw_labels
        self.dataset_meta = {}

    def _meta(self):
        meta = self.dataset_meta or {}
        palette = meta.get('palette') or [tuple(int(c) for c in np.random.default_rng(i).integers(
            0, 255, 3)) for i in range(256)]
        return (palette, meta.get('thing_ids', ()), meta.get('classes'),
                meta.get('label_divisor', 1000))

    def draw_row(self, image: np.ndarray, ids: Optional[np.ndarray], depth: Optional[np.ndarray],
                 label_divisor: int) -> np.ndarray:
        palette, things, names, _ = self._meta()
        h, w = image.shape[:2]
        parts = [image]
        if ids is not None:
            if ids.shape != (h, w):
                ids = cv2.resize(ids.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
            parts.append(overlay_panoptic(image, ids, palette, label_divisor, things, self.alpha,
                                          names if self.draw_labels else None))
        if depth is not None:
            if depth.shape != (h, w):
                depth = cv2.resize(depth.astype(np.float32), (w, h),
                                   interpolation=cv2.INTER_NEAREST)
            parts.append(colourize_depth(depth, self.max_depth))
            parts.append(depth_colour_bar(h, self.max_depth))
        return panel(parts)

    def draw_prediction(self, rgb: np.ndarray, ids: np.ndarray, depth: Optional[np.ndarray],
                        label_divisor: int, max_depth: Optional[float] = None,
                        draw_labels: Optional[bool] = None) -> dict:
        """The picture of one prediction, as :func:`prediction_panel` draws it with this
        visualizer's dataset meta (``max_depth`` / ``draw_labels``: None = the visualizer's).

        Returns:
            dict: ``panel`` (image | panoptic | depth | colour bar) and the layers ``panoptic``
            and ``depth`` (None without depth), (H, W, 3) uint8 RGB.
        """
        return prediction_panel(rgb, ids, depth, self.dataset_meta or {}, label_divisor,
                                self.max_depth if max_depth is None else max_depth,
                                self.draw_labels if draw_labels is None else draw_labels)

    @staticmethod
    def gt_panoptic_ids(data_sample, label_divisor: int) -> Optional[np.ndarray]:
        """GT ids from ``gt_sem_seg`` + ``gt_instances`` (255 = void)."""
        if 'gt_sem_seg' not in data_sample:
            return None
        sem = data_sample.gt_sem_seg.sem_seg[0].cpu().numpy().astype(np.int64)
        ids = sem * label_divisor
        if 'gt_instances' in data_sample and len(data_sample.gt_instances) > 0:
            masks = data_sample.gt_instances.masks
            masks = masks.to_ndarray() if hasattr(masks, 'to_ndarray') else np.asarray(masks)
            for k, m in enumerate(masks.astype(bool)):
                ids[m[:ids.shape[0], :ids.shape[1]]] += k + 1
        return ids

    @master_only
    def add_datasample(self, name: str, image: np.ndarray, data_sample=None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3, step: int = 0) -> None:
        """Draw GT (top row) and prediction (bottom row) of one sample; save, show or log it."""
        image = np.asarray(image).clip(0, 255).astype(np.uint8)
        rows = []
        div = self._meta()[3]
        if data_sample is not None and draw_gt:
            gt_ids = self.gt_panoptic_ids(data_sample, div)
            gt_depth = data_sample.gt_depth_map.data[0].cpu().numpy() \
                if 'gt_depth_map' in data_sample else None
            if gt_ids is not None or gt_depth is not None:
                rows.append(self.draw_row(image, gt_ids, gt_depth, div))
        if data_sample is not None and draw_pred and 'pred_panoptic_seg' in data_sample:
            ids = data_sample.pred_panoptic_seg.sem_seg[0].cpu().numpy()
            depth = data_sample.pred_depth_map.data[0].cpu().numpy() \
                if 'pred_depth_map' in data_sample else None
            rows.append(self.draw_row(image, ids, depth, div))
        if not rows:
            rows.append(image)
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                for r in rows]
        drawn = np.concatenate([np.concatenate([r, np.full((4, width, 3), 255, np.uint8)])
                                for r in rows])[:-4]
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
