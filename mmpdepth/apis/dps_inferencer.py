"""Inference for people: images, folders or arrays in; panoptic + depth (+ point cloud) out."""
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Union

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, write_depth_png
from mmpdepth.visualization.dps_drawing import prediction_panel

from .point_cloud import backproject, default_intrinsics, render_point_cloud, write_ply

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
ANNOTATION_LOADERS = ('LoadDPSAnnotations', 'LoadAnnotations', 'LoadPanopticAnnotations')
#: smallest image side, and largest long / short side ratio, the inferencer accepts
MIN_IMAGE_SIDE = 16
MAX_ASPECT_RATIO = 16


class DPSInferencer(BaseInferencer):
    """Depth-aware panoptic inference (mmengine ``BaseInferencer``, like mmdet's
    ``DetInferencer``).

    Args:
        model (str | Config): a config path (or config object).
        weights (str, optional): checkpoint path (loaded with ``weights_only=True``).
        device (str, optional): 'cpu', 'cuda', ... Defaults to the available device.
        show_progress (bool): progress bar over the inputs.

    ``inferencer(inputs, ...)`` takes an image path, a folder, an ``np.ndarray`` (H, W, 3 BGR) or
    a list of them and returns ``dict(predictions=[...], visualization=[...], errors=[...])``.
    Each prediction is ``dict(name, panoptic (H, W) ids class * label_divisor + instance,
    depth (H, W) metres, segments=[dict(id, class, class_name, score, area, mean_depth)])`` (or
    the ``DetDataSample`` with ``return_datasamples=True``). Inputs that cannot be read are
    reported in ``errors`` (with the reason) and the rest is processed.
    """

    def __init__(self, model: Union[str, Config, ConfigDict], weights: Optional[str] = None,
                 device: Optional[str] = None, scope: str = 'mmdet',
                 show_progress: bool = True) -> None:
        init_default_scope(scope)
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'{model}: config file not found')
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'{weights}: checkpoint not found')
        if weights is None:
            warnings.warn('no weights given: predictions come from a randomly initialised model')
        self._weights_path = weights
        super().__init__(model=model, weights=weights, device=device, scope=scope,
                         show_progress=show_progress)
        meta = {}
        for key in ('test_dataloader', 'val_dataloader'):
            ds = self.cfg.get(key, {}).get('dataset', {})
            if ds:
                from mmpdepth.registry import DATASETS
                cls = DATASETS.get(ds['type'])
                meta = dict(getattr(cls, 'METAINFO', {}))
                break
        self.dataset_meta = meta
        self.label_divisor = self.cfg.model.get('test_cfg', {}).get('fusion', {}).get(
            'label_divisor', 1000)

    # ---------------------------------------------------------------------------------------

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Strict: the checkpoint must hold every tensor of the model with its shape."""
        if checkpoint is not None:
            from mmpdepth.engine.runner import check_weights_complete
            check_weights_complete(model, checkpoint, self._weights_path or 'checkpoint')
        super()._load_weights_to_model(model, checkpoint, cfg)

    def _init_pipeline(self, cfg) -> Compose:
        """The test pipeline without annotation loading, reading paths or arrays."""
        steps = [dict(t) for t in cfg.test_dataloader.dataset.pipeline
                 if t['type'].split('.')[-1] not in ANNOTATION_LOADERS]
        if steps and steps[0]['type'].split('.')[-1] == 'LoadImageFromFile':
            steps[0] = dict(type='InferencerLoader')
        return Compose(steps)

    def _init_visualizer(self, cfg):
        return None  # drawing is done by the mmpdepth.visualization functions below

    @staticmethod
    def read_input(item, index: int) -> dict:
        """One input -> dict(img=BGR uint8, name, img_path); raises ValueError with the reason."""
        if isinstance(item, np.ndarray):
            img, name, path = item, f'array_{index:04d}', None
        else:
            path = str(item)
            name = osp.splitext(osp.basename(path))[0]
            if not osp.isfile(path):
                raise ValueError(f'{path}: file not found')
            img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ValueError(f'{path}: not an image (or a broken file)')
        notes = []
        if img.dtype == np.uint16:
            img = (img.astype(np.float32) / 257.0).round().astype(np.uint8)
            notes.append('16-bit image scaled to 8 bit')
        elif img.dtype != np.uint8:
            raise ValueError(f'{path or name}: unsupported image dtype {img.dtype}')
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            notes.append('grayscale image converted to 3 channels')
        elif img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
            notes.append('alpha channel dropped')
        elif img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{path or name}: unsupported image shape {img.shape}')
        h, w = img.shape[:2]
        if min(h, w) < MIN_IMAGE_SIDE:
            raise ValueError(f'{path or name}: image of {w}x{h} px is too small (each side '
                             f'must be at least {MIN_IMAGE_SIDE} px)')
        if max(h, w) > MAX_ASPECT_RATIO * min(h, w):
            raise ValueError(f'{path or name}: image of {w}x{h} px has an aspect ratio beyond '
                             f'{MAX_ASPECT_RATIO}:1 (the test resize would squeeze one side to '
                             'a few pixels)')
        return dict(img=np.ascontiguousarray(img), name=name, img_path=path, notes=notes)

    def collect_inputs(self, inputs) -> tuple:
        """Expand folders; returns (list of readable inputs, list of error strings)."""
        if isinstance(inputs, (str, os.PathLike)) and osp.isdir(inputs):
            files = sorted(f for f in os.listdir(inputs) if not f.startswith('.'))
            if not files:
                return [], [f'{inputs}: empty folder, no image to process']
            items = [osp.join(inputs, f) for f in files]
        elif isinstance(inputs, (list, tuple)):
            items = list(inputs)
        else:
            items = [inputs]
        ok, errors = [], []
        for i, item in enumerate(items):
            try:
                ok.append(self.read_input(item, i))
            except ValueError as e:
                errors.append(str(e))
        if not ok and not errors:
            errors.append('no input given')
        return ok, errors

    # ---------------------------------------------------------------------------------------
    def __call__(self,
                 inputs,
                 batch_size: int = 1,
                 out_dir: str = '',
                 show: bool = False,
                 no_save_vis: bool = False,
                 no_save_pred: bool = False,
                 save_pcd: bool = False,
                 intrinsics: Optional[Dict[str, float]] = None,
                 max_depth: float = 80.0,
                 draw_labels: bool = False,
                 return_datasamples: bool = False,
                 return_vis: bool = False) -> dict:
        """Run inference; see the class docstring. Files go under ``out_dir`` (if given):
        ``vis/{name}.png`` (image | panoptic | depth panel) and ``vis/layers/``,
        ``preds/panoptic/{name}.png`` + ``preds/depth/{name}.png`` (the formats
        ``tools/analysis_tools/eval_dpq.py`` reads) + ``preds/segments/{name}.json``, and with
        ``save_pcd`` ``pcd/{name}.ply`` (+ ``pcd/{name}_view.png``).
        """
        items, errors = self.collect_inputs(inputs)
        for e in errors:
            warnings.warn(e)
        results = dict(predictions=[], visualization=[], errors=errors)
        bar = ProgressBar(len(items)) if self.show_progress and len(items) > 1 else None
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            data = [self.pipeline(dict(img=it['img'], img_path=it['img_path'],
                                       img_id=it['name'])) for it in chunk]
            with torch.no_grad():
                samples = self.model.test_step(pseudo_collate(data))
            for it, sample in zip(chunk, samples):
                for note in it['notes']:
                    warnings.warn(f'{it["img_path"] or it["name"]}: {note}')
                pred = self.to_prediction(sample, it['name'])
                vis = self.draw(it['img'][..., ::-1], pred, max_depth, draw_labels)
                if out_dir:
                    self.write(out_dir, it, pred, vis, no_save_vis, no_save_pred, save_pcd,
                               intrinsics, max_depth)
                if show:
                    mmcv.imshow(vis['panel'][..., ::-1], it['name'])
                results['predictions'].append(sample if return_datasamples else pred)
                if return_vis:
                    results['visualization'].append(vis['panel'])
                if bar:
                    bar.update()
        if bar:
            print()
        return results

    def to_prediction(self, sample, name: str) -> dict:
        ids = sample.pred_panoptic_seg.sem_seg[0].cpu().numpy()
        depth = sample.pred_depth_map.data[0].cpu().numpy() if 'pred_depth_map' in sample \
            else None
        names = self.dataset_meta.get('classes', ())
        segs = []
        if 'pred_segments' in sample:
            s = sample.pred_segments
            for sid, lbl, score, area in zip(s.ids.tolist(), s.labels.tolist(),
                                             s.scores.tolist(), s.areas.tolist()):
                mean_depth = None
                if depth is not None and area > 0:
                    mean_depth = round(float(depth[ids == sid].mean()), 3)
                segs.append(dict(id=int(sid), **{'class': int(lbl)},
                                 class_name=names[lbl] if lbl < len(names) else str(lbl),
                                 score=round(float(score), 4), area=int(area),
                                 mean_depth=mean_depth))
        return dict(name=name, panoptic=ids, depth=depth, segments=segs,
                    cam_intrinsic=sample.metainfo.get('cam_intrinsic'))

    def draw(self, rgb: np.ndarray, pred: dict, max_depth: float, draw_labels: bool) -> dict:
        return prediction_panel(rgb, pred['panoptic'], pred['depth'], self.dataset_meta,
                                self.label_divisor, max_depth, draw_labels)

    def write(self, out_dir: str, item: dict, pred: dict, vis: dict, no_save_vis: bool,
              no_save_pred: bool, save_pcd: bool, intrinsics: Optional[dict],
              max_depth: float) -> None:
        name = item['name']
        if not no_save_vis:
            mmcv.imwrite(vis['panel'][..., ::-1], osp.join(out_dir, 'vis', f'{name}.png'))
            mmcv.imwrite(vis['panoptic'][..., ::-1],
                         osp.join(out_dir, 'vis', 'layers', f'{name}_panoptic.png'))
            if vis['depth'] is not None:
                mmcv.imwrite(vis['depth'][..., ::-1],
                             osp.join(out_dir, 'vis', 'layers', f'{name}_depth.png'))
        if not no_save_pred:
            for sub in ('panoptic', 'depth', 'segments'):
                os.makedirs(osp.join(out_dir, 'preds', sub), exist_ok=True)
            CITYSCAPES_DVPS_FORMAT.write_pred_ids(
                [osp.join(out_dir, 'preds', 'panoptic', f'{name}.png')], pred['panoptic'],
                self.label_divisor)
            if pred['depth'] is not None:
                write_depth_png(osp.join(out_dir, 'preds', 'depth', f'{name}.png'), pred['depth'])
            with open(osp.join(out_dir, 'preds', 'segments', f'{name}.json'), 'w') as f:
                json.dump(dict(image=item['img_path'] or name, label_divisor=self.label_divisor,
                               segments=pred['segments']), f, indent=1)
        if save_pcd and pred['depth'] is not None:
            os.makedirs(osp.join(out_dir, 'pcd'), exist_ok=True)
            h, w = pred['depth'].shape
            cam = intrinsics or pred.get('cam_intrinsic') or default_intrinsics(h, w)
            rgb = item['img'][..., ::-1]
            write_ply(osp.join(out_dir, 'pcd', f'{name}.ply'), pred['depth'], rgb, cam,
                      pred['panoptic'], self.label_divisor)
            pts, idx = backproject(pred['depth'], cam)
            render_point_cloud(pts, rgb.reshape(-1, 3)[idx],
                               osp.join(out_dir, 'pcd', f'{name}_view.png'),
                               max_depth=max_depth)

    # the mmengine hooks are not used: __call__ does the whole workflow
    def preprocess(self, inputs, batch_size: int = 1, **kwargs):  # pragma: no cover
        raise NotImplementedError('DPSInferencer.__call__ handles preprocessing')

    def visualize(self, inputs, preds, **kwargs):  # pragma: no cover
        raise NotImplementedError

    def postprocess(self, preds, visualization, return_datasample=False,
                    **kwargs):  # pragma: no cover
        raise NotImplementedError


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu') -> torch.nn.Module:
    """Build a model from a config and load a checkpoint (weights-only), in eval mode."""
    return DPSInferencer(config, checkpoint, device=device, show_progress=False).model


def inference_dps(model: torch.nn.Module, imgs: Union[str, np.ndarray, Sequence],
                  batch_size: int = 1) -> List:
    """Run a model from :func:`init_model` on images; returns ``DetDataSample``s."""
    inferencer = DPSInferencer.__new__(DPSInferencer)
    inferencer.model = model
    inferencer.cfg = model.cfg
    inferencer.pipeline = inferencer._init_pipeline(model.cfg)
    inferencer.show_progress = False
    inferencer.dataset_meta = {}
    inferencer.label_divisor = 1000
    single = isinstance(imgs, (str, np.ndarray))
    out = inferencer(imgs, batch_size=batch_size, return_datasamples=True)
    if out['errors']:
        raise ValueError('; '.join(out['errors']))
    return out['predictions'][0] if single else out['predictions']
