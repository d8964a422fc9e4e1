"""Visualizer of DPS samples: image | panoptic overlay | metric depth (GT row and/or prediction)."""
from typing import Optional

import mmcv
import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from mmpdepth.registry import VISUALIZERS

from .dps_drawing import draw_legend, draw_row, legend_entries, prediction_panel, stack_rows


@VISUALIZERS.register_module()
class DPSLocalVisualizer(Visualizer):
    """Draw DPS ground truth and predictions as picture panels.

    Each row is ``image | panoptic overlay (stuff in class colours, things in per-instance
    colours, white outlines) | depth on a fixed metric range with a colour bar in metres`` (no
    depth in grey), every picture titled (``GT ...`` / ``prediction ...`` when both rows are
    drawn), with a legend of the classes present below. ``add_datasample`` has mmdet's
    signature, so mmdet's ``DetVisualizationHook`` (``tools/test.py --show-dir``) uses it
    unchanged.

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

    def _meta(self) -> dict:
        """The dataset meta (the drawing functions generate a palette without one)."""
        return dict(self.dataset_meta or {})

    def draw_row(self, image: np.ndarray, ids: Optional[np.ndarray], depth: Optional[np.ndarray],
                 label_divisor: int, title_prefix: str = '') -> dict:
        """One titled row (see :func:`draw_row`) with this visualizer's settings."""
        return draw_row(image, ids, depth, self._meta(), label_divisor, self.max_depth,
                        self.alpha, self.draw_labels, title_prefix)

    def draw_prediction(self, rgb: np.ndarray, ids: np.ndarray, depth: Optional[np.ndarray],
                        label_divisor: int, max_depth: Optional[float] = None,
                        draw_labels: Optional[bool] = None) -> dict:
        """The picture of one prediction, as :func:`prediction_panel` draws it with this
        visualizer's dataset meta (``max_depth`` / ``draw_labels``: None = the visualizer's).

        Returns:
            dict: ``panel`` (titled image | panoptic | depth | colour bar, legend below), the
            layers ``panoptic`` and ``depth`` (None without depth), (H, W, 3) uint8 RGB, and
            ``titles`` / ``legend`` (what the panel shows).
        """
        return prediction_panel(rgb, ids, depth, self._meta(), label_divisor,
                                self.max_depth if max_depth is None else max_depth,
                                self.draw_labels if draw_labels is None else draw_labels,
                                self.alpha)

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
        div = self._meta().get('label_divisor', 1000)
        both = draw_gt and draw_pred and data_sample is not None \
            and 'pred_panoptic_seg' in data_sample
        if data_sample is not None and draw_gt:
            gt_ids = self.gt_panoptic_ids(data_sample, div)
            gt_depth = data_sample.gt_depth_map.data[0].cpu().numpy() \
                if 'gt_depth_map' in data_sample else None
            if gt_ids is not None or gt_depth is not None:
                rows.append(self.draw_row(image, gt_ids, gt_depth, div, 'GT' if both else ''))
        if data_sample is not None and draw_pred and 'pred_panoptic_seg' in data_sample:
            ids = data_sample.pred_panoptic_seg.sem_seg[0].cpu().numpy()
            depth = data_sample.pred_depth_map.data[0].cpu().numpy() \
                if 'pred_depth_map' in data_sample else None
            rows.append(self.draw_row(image, ids, depth, div, 'prediction' if both else ''))
        if rows:
            entries = legend_entries(self._meta(), [r['ids'] for r in rows if r['ids'] is not None],
                                     div, any(r['depth'] is not None for r in rows))
            pictures = [r['row'] for r in rows]
            drawn = stack_rows(pictures + [draw_legend(entries, max(p.shape[1] for p in pictures),
                                                       image.shape[0])])
        else:
            drawn = image
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
