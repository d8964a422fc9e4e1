"""Inference for people: images, folders or arrays in; panoptic + depth (+ point cloud) out."""
import json
import os
import os.path as osp
import warnings
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Union

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmengine.visualization import Visualizer

from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, read_image, write_depth_png
from mmpdepth.models.conv_bn_fusion import fuse_conv_bn_for_inference
from mmpdepth.models.layers.precision import PRECISIONS
from mmpdepth.registry import DATASETS, VISUALIZERS
from mmpdepth.visualization import DPSLocalVisualizer

from .point_cloud import (backproject, intrinsics_record, point_mask, render_point_cloud,
                          sky_classes, write_intrinsics_json, write_ply)
from .video_frames import VideoFrames, is_video_path

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
ANNOTATION_LOADERS = ('LoadDPSAnnotations', 'LoadAnnotations', 'LoadPanopticAnnotations')
#: smallest image side, and largest long / short side ratio, the inferencer accepts
MIN_IMAGE_SIDE = 16
MAX_ASPECT_RATIO = 16


class DPSInferencer(BaseInferencer):
    """Depth-aware panoptic inference (mmengine ``BaseInferencer``, like mmdet's
    ``DetInferencer``).

    Args:
        model (str | Config | nn.Module): a config path, a config object, or a built model with
            its config as ``model.cfg`` (what :func:`init_model` returns).
        weights (str, optional): checkpoint path (loaded with ``weights_only=True``).
        device (str, optional): 'cpu', 'cuda', ... Defaults to the available device.
        show_progress (bool): progress bar over the inputs.
        precision (str, optional): 'fp32', 'bf16' (CPU), 'fp16' (CUDA) or 'auto' (the
            machine's best, see ``resolve_precision``); None keeps the config's
            ``test_cfg.precision`` (default fp32).
        fuse_conv_bn (bool, optional): fold the backbone and neck BatchNorms into their
            convolutions (:func:`fuse_conv_bn_for_inference`; the same predictions up to
            float rounding, faster). None (default): fold in a model the inferencer builds
            itself, leave a given built model as it is.

    ``__call__`` runs mmengine's steps per batch: :meth:`preprocess` (test pipeline and
    collate), :meth:`forward` (``model.test_step``), :meth:`visualize` (panels by the config's
    :class:`DPSLocalVisualizer`, point clouds) and :meth:`postprocess` (prediction dicts and
    files). Panoptic ids use the config's ``test_cfg.fusion.label_divisor``.

    ``inferencer(inputs, ...)`` takes an image path, a folder, an ``np.ndarray`` (H, W, 3 BGR) or
    a list of them and returns ``dict(predictions=[...], visualization=[...], errors=[...])``.
    Each prediction is ``dict(name, panoptic (H, W) ids class * label_divisor + instance,
    depth (H, W) metres, segments=[dict(id, class, class_name, score, area, mean_depth)])`` (or
    the ``DetDataSample`` with ``return_datasamples=True``); ``segments`` lists the segments
    that own pixels of ``panoptic``. Inputs that cannot be read are
    reported in ``errors`` (with the reason) and the rest is processed.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    visualize_kwargs: set = {'show', 'no_save_vis', 'draw_labels', 'max_depth', 'return_vis',
                             'save_pcd', 'intrinsics', 'vis_out_dir', 'pcd_out_dir',
                             'keep_sky'}
    postprocess_kwargs: set = {'return_datasamples', 'no_save_pred', 'pred_out_dir'}

    def __init__(self, model: Union[str, Config, ConfigDict, torch.nn.Module],
                 weights: Optional[str] = None, device: Optional[str] = None,
                 scope: str = 'mmdet', show_progress: bool = True,
                 precision: Optional[str] = None,
                 fuse_conv_bn: Optional[bool] = None) -> None:
        init_default_scope(scope)
        if precision is not None and precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        self._init_precision(model, precision)
        if isinstance(model, torch.nn.Module):  # a built model (init_model / inference_dps)
            if not hasattr(model, 'cfg'):
                raise ValueError('DPSInferencer(model): a built model needs its config as '
                                 '`model.cfg` (init_model sets it)')
            self.scope, self.show_progress = scope, show_progress
            self.cfg, self.model = model.cfg, model
            self.pipeline = self._init_pipeline(self.cfg)
            self.collate_fn = self._init_collate(self.cfg)
            self.visualizer = self._init_visualizer(self.cfg)
            if fuse_conv_bn:
                fuse_conv_bn_for_inference(self.model)
            return
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'{model}: config file not found')
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'{weights}: checkpoint not found')
        if weights is None:
            warnings.warn('no weights given: predictions come from a randomly initialised model')
        self._weights_path = weights
        super().__init__(model=model, weights=weights, device=device, scope=scope,
                         show_progress=show_progress)
        self._init_precision(self.model, precision)
        if fuse_conv_bn is not False:
            fuse_conv_bn_for_inference(self.model)

    @staticmethod
    def _init_precision(model, precision: Optional[str]) -> None:
        """Set ``test_cfg.precision`` of a built model (see ``PanopticDepth.precision``)."""
        if precision is not None and isinstance(model, torch.nn.Module):
            model.test_cfg = dict(model.test_cfg or {}, precision=precision)

    @property
    def dataset_meta(self) -> dict:
        """Class names, palette and thing ids of the config's test dataset (the visualizer's)."""
        return self.visualizer.dataset_meta

    @property
    def label_divisor(self) -> int:
        """Divisor of the model's panoptic ids (``test_cfg.fusion.label_divisor``)."""
        return self.cfg.model.get('test_cfg', {}).get('fusion', {}).get('label_divisor', 1000)

    # ---------------------------------------------------------------------------------------

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Strict: the checkpoint must hold every tensor of the model with its shape."""
        if checkpoint is not None:
            from mmpdepth.engine.runner import check_weights_complete, check_weights_finite
            check_weights_finite(checkpoint, self._weights_path or 'checkpoint')
            check_weights_complete(model, checkpoint, self._weights_path or 'checkpoint')
        super()._load_weights_to_model(model, checkpoint, cfg)

    def _init_pipeline(self, cfg) -> Compose:
        """The test pipeline without annotation loading, reading paths or arrays."""
        steps = [dict(t) for t in cfg.test_dataloader.dataset.pipeline
                 if t['type'].split('.')[-1] not in ANNOTATION_LOADERS]
        if steps and steps[0]['type'].split('.')[-1] == 'LoadImageFromFile':
            steps[0] = dict(type='InferencerLoader')
        return Compose(steps)

    def _init_visualizer(self, cfg) -> DPSLocalVisualizer:
        """The config's :class:`DPSLocalVisualizer` (a default one without), with the test
        dataset's metainfo."""
        vis_cfg = dict(cfg.get('visualizer') or {})
        if vis_cfg.get('type', 'DPSLocalVisualizer').split('.')[-1] != 'DPSLocalVisualizer':
            vis_cfg = {}
        name = 'dps_inferencer'
        if Visualizer.check_instance_created(name):
            name = f'{name}-{datetime.now().timestamp()}-{id(self)}'
        vis_cfg = dict(vis_cfg, type='DPSLocalVisualizer', vis_backends=None, save_dir=None,
                       name=name)
        visualizer = VISUALIZERS.build(vis_cfg)
        meta = {}
        for key in ('test_dataloader', 'val_dataloader'):
            ds = cfg.get(key, {}).get('dataset', {})
            if ds:
                meta = dict(getattr(DATASETS.get(ds['type']), 'METAINFO', {}))
                break
        visualizer.dataset_meta = meta
        return visualizer

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
            img = read_image(path)  # the guarded reader: pixel-count limit, clear errors
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
        """Expand folders and videos; returns (readable inputs, list of error strings).
        A video file gives a :class:`VideoFrames` (frames decoded when processed)."""
        if isinstance(inputs, (str, os.PathLike)) and is_video_path(str(inputs)):
            try:
                return VideoFrames(str(inputs), self.read_input), []
            except ValueError as e:
                return [], [str(e)]
        if isinstance(inputs, (str, os.PathLike)) and osp.isdir(inputs):
            files = sorted(f for f in os.listdir(inputs) if not f.startswith('.'))
            if not files:
                return [], [f'{inputs}: empty folder, no image to process']
            items = [osp.join(inputs, f) for f in files]
        elif isinstance(inputs, (list, tuple)):
            items = list(inputs)
        else:
            items = [inputs]
        ok, errors, names = [], [], {}
        for i, item in enumerate(items):
            try:
                it = self.read_input(item, i)
            except ValueError as e:
                errors.append(str(e))
                continue
            if it['name'] in names:  # frame.png, frame.jpg: one set of outputs would remain
                errors.append(f'{it["img_path"] or it["name"]}: its outputs would be named '
                              f'{it["name"]} like those of {names[it["name"]]}; rename one')
                continue
            names[it['name']] = it['img_path'] or it['name']
            ok.append(it)
        if not ok and not errors:
            errors.append('no input given')
        return ok, errors

    # ---------------------------------------------------------------------------------------
    # mmengine's BaseInferencer contract: preprocess -> forward -> visualize -> postprocess
    def __call__(self,
                 inputs,
                 batch_size: int = 1,
                 out_dir: str = '',
                 show: bool = False,
                 no_save_vis: bool = False,
                 no_save_pred: bool = False,
                 save_pcd: bool = False,
                 intrinsics: Optional[Dict[str, float]] = None,
                 keep_sky: bool = False,
                 max_depth: float = 80.0,
                 draw_labels: bool = False,
                 return_datasamples: bool = False,
                 return_vis: bool = False) -> dict:
        """Run inference; see the class docstring. A video file or a folder of frames is one
        sequence: with ``test_cfg.tracker`` in the config, things keep their ids over its
        frames (the tracker starts afresh at each call). Files go under ``out_dir`` (if given):
        ``vis/{name}.png`` (image | panoptic | depth panel) and ``vis/layers/``,
        ``preds/panoptic/{name}.png`` + ``preds/depth/{name}.png`` (the formats
        ``tools/analysis_tools/eval_dpq.py`` reads) + ``preds/segments/{name}.json``, and with
        ``save_pcd`` ``pcd/{name}.ply`` (+ ``pcd/{name}_view.png`` and the intrinsics used in
        ``pcd/{name}_camera.json``; sky and no-depth pixels are left out unless ``keep_sky``).
        """
        items, errors = self.collect_inputs(inputs)
        self.reset_tracker()
        for e in errors:
            warnings.warn(e)
        results = dict(predictions=[], visualization=[], errors=errors)
        sub = (lambda d: osp.join(out_dir, d)) if out_dir else (lambda d: '')
        bar = ProgressBar(len(items)) if self.show_progress and len(items) > 1 else None
        for chunk, data in self.preprocess(items, batch_size=batch_size):
            samples = self.forward(data)
            vis = self.visualize(chunk, samples, show=show, no_save_vis=no_save_vis,
                                 draw_labels=draw_labels, max_depth=max_depth,
                                 return_vis=return_vis, save_pcd=save_pcd,
                                 intrinsics=intrinsics, vis_out_dir=sub('vis'),
                                 pcd_out_dir=sub('pcd'), keep_sky=keep_sky)
            out = self.postprocess(samples, vis, return_datasamples, no_save_pred=no_save_pred,
                                   pred_out_dir=sub('preds'), items=chunk)
            results['predictions'] += out['predictions']
            results['visualization'] += out['visualization']
            if bar:
                for _ in chunk:
                    bar.update()
        if bar:
            print()
        return results

    def reset_tracker(self) -> None:
        """Start a new sequence for the model's tracker (if the config has one)."""
        if getattr(self.model, 'tracker', None) is not None:
            self.model.tracker.reset()

    def preprocess(self, inputs: List[dict], batch_size: int = 1, **kwargs):
        """Read items (from :meth:`collect_inputs`) through the test pipeline.

        Yields:
            tuple: (the batch's items, the collated batch for ``model.test_step``).
        """
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start:start + batch_size]
            yield chunk, self.collate_fn([
                self.pipeline(dict(img=it['img'], img_path=it['img_path'], img_id=it['name']))
                for it in chunk])

    def visualize(self, inputs: List[dict], preds: List, show: bool = False,
                  no_save_vis: bool = False, draw_labels: bool = False,
                  max_depth: float = 80.0, return_vis: bool = False, save_pcd: bool = False,
                  intrinsics: Optional[Dict[str, float]] = None, vis_out_dir: str = '',
                  pcd_out_dir: str = '', keep_sky: bool = False) -> List[dict]:
        """Panels of a batch, drawn by :class:`DPSLocalVisualizer`; written to ``vis_out_dir``
        (``{name}.png`` and ``layers/``) and, with ``save_pcd``, the coloured point cloud to
        ``pcd_out_dir`` (``{name}.ply`` and a rendered view).

        Returns:
            list[dict]: per input ``panel``, ``panoptic`` and ``depth`` (RGB uint8 pictures).
        """
        out = []
        for item, sample in zip(inputs, preds):
            name, rgb = item['name'], item['img'][..., ::-1]
            ids, depth = self.prediction_maps(sample)
            vis = self.visualizer.draw_prediction(rgb, ids, depth, self.label_divisor, max_depth,
                                                  draw_labels)
            if show:
                mmcv.imshow(vis['panel'][..., ::-1], name)
            if vis_out_dir and not no_save_vis:
                mmcv.imwrite(vis['panel'][..., ::-1], osp.join(vis_out_dir, f'{name}.png'))
                mmcv.imwrite(vis['panoptic'][..., ::-1],
                             osp.join(vis_out_dir, 'layers', f'{name}_panoptic.png'))
                if vis['depth'] is not None:
                    mmcv.imwrite(vis['depth'][..., ::-1],
                                 osp.join(vis_out_dir, 'layers', f'{name}_depth.png'))
            if pcd_out_dir and save_pcd and depth is not None:
                cam, source = intrinsics, 'given'
                if cam is None and sample.metainfo.get('cam_intrinsic'):
                    cam, source = sample.metainfo['cam_intrinsic'], 'the dataset'
                self._write_point_cloud(pcd_out_dir, name, rgb, ids, depth,
                                        intrinsics_record(cam, *depth.shape, source), max_depth,
                                        keep_sky)
            out.append(vis)
        return out

    def postprocess(self, preds: List, visualization: List[dict],
                    return_datasamples: bool = False, no_save_pred: bool = False,
                    pred_out_dir: str = '', items: Optional[List[dict]] = None) -> dict:
        """Prediction dicts (see the class docstring) or the data samples; with
        ``pred_out_dir`` the prediction files (``panoptic/``, ``depth/``, ``segments/``).

        Returns:
            dict: ``predictions`` and ``visualization`` (panels) lists.
        """
        names = [it['name'] for it in items] if items else \
            [f'{i:04d}' for i in range(len(preds))]
        for it in items or []:
            for note in it['notes']:
                warnings.warn(f'{it["img_path"] or it["name"]}: {note}')
        out = dict(predictions=[], visualization=[v['panel'] for v in visualization])
        for i, sample in enumerate(preds):
            pred = self.to_prediction(sample, names[i])
            if pred_out_dir and not no_save_pred:
                self._write_prediction(pred_out_dir, pred,
                                       items[i]['img_path'] if items else None)
            out['predictions'].append(sample if return_datasamples else pred)
        return out

    @staticmethod
    def prediction_maps(sample) -> tuple:
        """(H, W) panoptic ids and depth in metres (None without depth) of a data sample."""
        ids = sample.pred_panoptic_seg.sem_seg[0].cpu().numpy()
        depth = sample.pred_depth_map.data[0].cpu().numpy() if 'pred_depth_map' in sample \
            else None
        return ids, depth

    def to_prediction(self, sample, name: str) -> dict:
        ids, depth = self.prediction_maps(sample)
        names = self.dataset_meta.get('classes', ())
        segs = []
        if 'pred_segments' in sample:
            s = sample.pred_segments
            for sid, lbl, score, area in zip(s.ids.tolist(), s.labels.tolist(),
                                             s.scores.tolist(), s.areas.tolist()):
                if area <= 0:
                    # kept by the fusion filters but won no pixel of the DPS argmax (as in
                    # the official code): not in the panoptic map, so not listed
                    continue
                mean_depth = None
                if depth is not None:
                    mean_depth = float(depth[ids == sid].mean())
                    mean_depth = round(mean_depth, 3) if np.isfinite(mean_depth) else None
                segs.append(dict(id=int(sid), **{'class': int(lbl)},
                                 class_name=names[lbl] if lbl < len(names) else str(lbl),
                                 score=round(float(score), 4) if np.isfinite(score) else None,
                                 area=int(area),
                                 mean_depth=mean_depth))
        return dict(name=name, panoptic=ids, depth=depth, segments=segs,
                    cam_intrinsic=sample.metainfo.get('cam_intrinsic'))

    def _write_prediction(self, pred_dir: str, pred: dict, img_path: Optional[str]) -> None:
        name = pred['name']
        for sub in ('panoptic', 'depth', 'segments'):
            os.makedirs(osp.join(pred_dir, sub), exist_ok=True)
        # the model's void class (test_cfg.fusion.void_label) -> the format's void, as
        # tools/analysis_tools/eval_dpq.py reads it
        ids = np.asarray(pred['panoptic'], np.int64)
        void = self.cfg.model.get('test_cfg', {}).get('fusion', {}).get('void_label', 255)
        ids = np.where(ids // self.label_divisor == void,
                       CITYSCAPES_DVPS_FORMAT.void_category * self.label_divisor, ids)
        CITYSCAPES_DVPS_FORMAT.write_pred_ids([osp.join(pred_dir, 'panoptic', f'{name}.png')],
                                              ids, self.label_divisor)
        if pred['depth'] is not None:
            write_depth_png(osp.join(pred_dir, 'depth', f'{name}.png'), pred['depth'])
        with open(osp.join(pred_dir, 'segments', f'{name}.json'), 'w') as f:
            json.dump(dict(image=img_path or name, label_divisor=self.label_divisor,
                           segments=pred['segments']), f, indent=1, allow_nan=False)

    def _write_point_cloud(self, pcd_dir: str, name: str, rgb: np.ndarray, ids: np.ndarray,
                           depth: np.ndarray, cam: dict, max_depth: float,
                           keep_sky: bool = False) -> None:
        """``{name}.ply``, a rendered view and ``{name}_camera.json`` (the intrinsics
        record ``cam`` and the point counts)."""
        os.makedirs(pcd_dir, exist_ok=True)
        sky = () if keep_sky else sky_classes(self.dataset_meta)
        mask = point_mask(depth, ids, self.label_divisor, sky)
        n = write_ply(osp.join(pcd_dir, f'{name}.ply'), depth, rgb, cam, ids,
                      self.label_divisor, mask)
        pts, idx = backproject(depth, cam, mask)
        render_point_cloud(pts, rgb.reshape(-1, 3)[idx], osp.join(pcd_dir, f'{name}_view.png'),
                           max_depth=max_depth)
        write_intrinsics_json(osp.join(pcd_dir, f'{name}_camera.json'), cam, points=n,
                              left_out=dict(no_depth=int((depth <= 0).sum()),
                                            sky=int((~mask & (depth > 0)).sum())))


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu') -> torch.nn.Module:
    """Build a model from a config and load a checkpoint (weights-only), in eval mode (its
    BatchNorms kept, so its state dict matches the checkpoint)."""
    return DPSInferencer(config, checkpoint, device=device, show_progress=False,
                         fuse_conv_bn=False).model


def inference_dps(model: torch.nn.Module, imgs: Union[str, np.ndarray, Sequence],
                  batch_size: int = 1) -> List:
    """Run a model from :func:`init_model` on images; returns ``DetDataSample``s."""
    out = DPSInferencer(model, show_progress=False)(imgs, batch_size=batch_size,
                                                    return_datasamples=True)
    if out['errors']:
        raise ValueError('; '.join(out['errors']))
    return out['predictions'][0] if isinstance(imgs, (str, np.ndarray)) else out['predictions']
