"""Thing post-processing, panoptic merge and depth gathering of PanopticDepth (spec §1.12).

Resizing to the original size and the paste windows: ``layers/output_resize.py``.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import torch
import torch.nn.functional as F
from mmdet.models.seg_heads.panoptic_fusion_heads import BasePanopticFusionHead
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpdepth.registry import MODELS

from ..layers.instance_depth import InstanceDepthGenerator
from ..layers.output_resize import (OriginalSizeMaps, flip_windows, output_windows,
                                     upsample_to_original)

DEFAULT_TEST_CFG = dict(
    merge_mode='dps',          # 'dps': per-pixel argmax, no void; 'ps': sequential paste + void
    mask_thr=0.5,              # INFERENCE.INST_THRES
    min_rescored_score=0.05,   # hard-coded in the official process_inst
    max_per_img=200,           # THING.TOP_NUM
    combine_inst_thr=0.2,      # COMBINE.INST_THRESH
    overlap_thr=0.5,           # COMBINE.OVERLAP_THRESH
    stuff_area_limit=2048,     # COMBINE.STUFF_AREA_LIMIT (pixels at output resolution)
    depth_embed_resize='crop',  # 'crop': x4, crop padding, resize; 'official': straight resize
    label_divisor=1000,
    void_label=255,
)


@MODELS.register_module()
class PanopticDepthFusionHead(BasePanopticFusionHead):
    """Merge thing and stuff candidates into a panoptic map and gather the depth map.

    Steps (official ``process_inst`` / ``combine_thing_and_stuff``, constants in ``test_cfg``):

    1. things: ``p = σ(logits)``, mask ``p > mask_thr``, maskness ``Σ(p·mask)/(Σmask + 1e-6)``,
       score ← score · maskness, keep ``>= min_rescored_score``, top ``max_per_img``; masks and
       stuff maps are upsampled x4 (bilinear), cropped to the un-padded input, resized to the
       original size;
    2. stuff maps fill a ``(num_classes, H, W)`` map at their class index (absent classes 0);
    3. paste: things with score ``>= combine_inst_thr`` in score order, skipped if empty or if
       more than ``overlap_thr`` of the mask is taken; then every non-thing class of the stuff
       argmax with at least ``stuff_area_limit`` free pixels;
    4. ``merge_mode='ps'``: the paste is the result, free pixels are void
       (``void_label * label_divisor``); ``'dps'``: each pixel takes the segment of highest
       probability among the pasted ones (no void), and the depth of that segment's depth map.

    Output ids are ``class * label_divisor + instance`` (things 1, 2, ... in paste order, stuff 0).

    Args:
        num_classes (int): classes of the stuff map (19).
        thing_class_ids (Sequence[int]): thing classes (skipped in the stuff paste).
        depth (dict, optional): :class:`InstanceDepthGenerator` args (same as the head's).
        test_cfg (dict): see :data:`DEFAULT_TEST_CFG`.
    """

    def __init__(self,
                 num_classes: int = 19,
                 thing_class_ids: Sequence[int] = tuple(range(11, 19)),
                 depth: OptConfigType = dict(mode='official', embed_channels=16, d_max=88.0,
                                             clamp=(0.0, 80.0)),
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 **kwargs) -> None:
        cfg = dict(DEFAULT_TEST_CFG, **(test_cfg or {}))
        if cfg['merge_mode'] not in ('dps', 'ps'):
            raise ValueError(f"merge_mode must be 'dps' or 'ps', got {cfg['merge_mode']!r}")
        super().__init__(num_things_classes=len(thing_class_ids),
                         num_stuff_classes=num_classes - len(thing_class_ids), test_cfg=cfg,
                         init_cfg=init_cfg, **kwargs)
        self.num_classes = num_classes
        self.thing_class_ids = tuple(thing_class_ids)
        self.depth_generator = InstanceDepthGenerator(**depth) if depth is not None else None

    def loss(self, **kwargs) -> Dict[str, Tensor]:
        """The fusion head has no loss."""
        return dict()

    def process_things(self, things: InstanceData, img_hw,
                       ori_hw) -> Tuple[InstanceData, OriginalSizeMaps]:
        """Mask re-scoring and filtering of thing candidates (step 1).

        Returns:
            tuple: the kept candidates (``scores``, ``labels``, ``windows`` (n, 4) where their
            original-size masks can be set, ``depth_kernels`` / ``kernels`` if any) and their
            probabilities at the original size, upsampled on demand.
        """
        cfg = self.test_cfg
        probs = things.mask_logits.sigmoid()
        masks = probs > cfg['mask_thr']
        area = masks.sum((1, 2)).float() + 1e-6
        # sum of probs * masks: F.threshold keeps p where p > mask_thr, 0 elsewhere, in one
        # pass (no float copy of the masks, no product tensor)
        maskness = F.threshold(probs, cfg['mask_thr'], 0.0).sum((1, 2)) / area
        scores = things.scores * maskness
        order = torch.argsort(scores, descending=True)
        scores = scores[order]
        keep = order[scores >= cfg['min_rescored_score']]
        scores = things.scores[keep] * maskness[keep]
        order = torch.argsort(scores, descending=True)[:cfg['max_per_img']]
        keep = keep[order]
        out = InstanceData()
        out.scores = scores[order]
        out.labels = things.labels[keep]
        out.windows = output_windows(masks[keep], img_hw, ori_hw)
        if 'depth_kernels' in things:
            out.depth_kernels = things.depth_kernels[keep]
        if 'kernels' in things:
            out.kernels = things.kernels[keep]
        return out, OriginalSizeMaps(probs, img_hw, ori_hw, rows=keep)  # no copy of the kept

    def predict(self, head_results: List[dict], batch_img_metas: List[dict]) -> List[dict]:
        """Per image: ``pred_panoptic_seg``, ``pred_depth_map`` (with depth), ``pred_instances``
        and ``pred_segments``, ready to be set on the data sample."""
        return [self.predict_single(r, m) for r, m in zip(head_results, batch_img_metas)]

    def predict_single(self, result: dict, img_meta: dict) -> dict:
        return self.merge([self.full_resolution_candidates(result, img_meta)])

    def full_resolution_candidates(self, result: dict, img_meta: dict,
                                   flip: bool = False) -> dict:
        """Steps 1-2 for one image: thing and stuff probabilities at the original size.

        Args:
            result (dict): one image of :meth:`PanopticDepthHead.predict_by_feat`.
            img_meta (dict): ``img_shape`` (un-padded input) and ``ori_shape``.
            flip (bool): the input was flipped horizontally; flip everything back.

        Returns:
            dict: ``things`` (:class:`InstanceData` with ``windows``, ``labels``, ``scores``,
            ``depth_kernels`` and the mask ``kernels``), ``thing_probs``
            (:class:`OriginalSizeMaps`, their (n, H, W) probabilities on demand),
            ``stuff_prob`` (K, H, W) with zeros for absent classes, ``stuff`` (the head's stuff
            candidates) and ``depth_embed`` (e, H, W) at the original size, or None.
        """
        cfg = self.test_cfg
        img_hw = tuple(img_meta['img_shape'][:2])
        ori_hw = tuple(img_meta.get('ori_shape', img_hw)[:2])
        things, thing_probs = self.process_things(result['things'], img_hw, ori_hw)
        stuff = result['stuff']
        st_probs = upsample_to_original(stuff.mask_logits.sigmoid(), img_hw, ori_hw)
        sem_prob = st_probs.new_zeros(self.num_classes, *ori_hw)
        if len(stuff.labels):
            sem_prob[stuff.labels] += st_probs
        depth_full = None
        if self.depth_generator is not None and result.get('depth_embed') is not None:
            emb = result['depth_embed'].contiguous()  # NCHW: the channels-last resize is ~5x slower
            if cfg['depth_embed_resize'] == 'official':
                depth_full = F.interpolate(emb[None], size=ori_hw, mode='bilinear',
                                           align_corners=False)[0]
            else:
                depth_full = upsample_to_original(emb, img_hw, ori_hw)
        if flip:
            thing_probs.flip = True
            things.windows = flip_windows(things.windows, ori_hw[1])
            sem_prob = sem_prob.flip(-1)
            depth_full = depth_full.flip(-1) if depth_full is not None else None
        return dict(things=things, thing_probs=thing_probs, stuff_prob=sem_prob, stuff=stuff,
                    depth_embed=depth_full)

    def merge(self, candidates: List[dict], depth_scales: Optional[List[float]] = None) -> dict:
        """Steps 3-4 on the candidates of one or more views of the same image (TTA).

        Thing candidates of all views are pooled (the paste order and overlap rule remove
        duplicates); stuff probabilities are averaged over the views; each pasted segment's depth
        map is computed in the view it came from (stuff: averaged over the views that have the
        class), times ``depth_scales[view]``.
        """
        n_views = len(candidates)
        depth_scales = depth_scales or [1.0] * n_views
        sem_prob = sum(c['stuff_prob'] for c in candidates) / n_views
        paste = torch.zeros(sem_prob.shape[-2:], dtype=torch.long, device=sem_prob.device)
        things, order = self._pool_things(candidates)
        thing_masks = self._thing_masks(candidates, things, order)
        thing_segments = self._paste_things(candidates, things, order, thing_masks, paste)
        stuff_segments = self._paste_stuff(candidates, sem_prob, paste,
                                           first_id=len(thing_segments) + 1)
        if 'kernels' in thing_segments:  # stuff rows: zeros (only things are tracked)
            stuff_segments.kernels = things.kernels.new_zeros(len(stuff_segments),
                                                              things.kernels.shape[1])
        segments = InstanceData.cat([thing_segments, stuff_segments])
        seg_index = self._segment_index(segments, paste)
        out = self._panoptic_outputs(segments, seg_index, things, order, thing_masks)
        if self.depth_generator is not None and candidates[0]['depth_embed'] is not None:
            depth_map = self._gather_segment_depths(candidates, segments.depth_sources,
                                                    depth_scales, seg_index,
                                                    tuple(sem_prob.shape[-2:]))
            out['pred_depth_map'] = PixelData(
                data=self.depth_generator.clamp_output(depth_map)[None])
        return out

    @staticmethod
    def _pool_things(candidates: List[dict]) -> Tuple[InstanceData, Tensor]:
        """Thing candidates of all views in one :class:`InstanceData` (``windows``,
        ``labels``, ``scores``, ``view``, ``row`` in its view's ``thing_probs``,
        ``depth_kernels`` / ``kernels`` if any) and their paste order: by score over the
        views, as given for one view."""
        views = []
        for v, c in enumerate(candidates):
            t = c['things']
            view = InstanceData(windows=t.windows, labels=t.labels, scores=t.scores,
                                view=torch.full_like(t.labels, v),
                                row=torch.arange(len(t), device=t.labels.device))
            if 'depth_kernels' in t:
                view.depth_kernels = t.depth_kernels
            if 'kernels' in t:
                view.kernels = t.kernels
            views.append(view)
        if len(views) == 1:
            return views[0], torch.arange(len(views[0]), device=views[0].scores.device)
        things = InstanceData.cat(views)
        return things, torch.argsort(things.scores, descending=True)

    def _thing_masks(self, candidates: List[dict], things: InstanceData,
                     order: Tensor) -> Tensor:
        """(n, H, W) boolean masks ``probs > mask_thr`` of the pooled things in ``order``,
        upsampled and thresholded one at a time, only inside each thing's window (see
        :func:`output_windows`)."""
        thr = self.test_cfg['mask_thr']
        masks = torch.zeros((len(order), *candidates[0]['thing_probs'].shape[1:]),
                            dtype=torch.bool, device=things.scores.device)
        maps = self._thing_maps(candidates, things)
        for i, (j, (y0, y1, x0, x1)) in enumerate(zip(order.tolist(),
                                                      things.windows[order].tolist())):
            if y1 > y0 and x1 > x0:
                view_maps, row = maps[j]
                torch.gt(view_maps.window(row, (y0, y1, x0, x1)), thr,
                         out=masks[i, y0:y1, x0:x1])
        return masks

    @staticmethod
    def _thing_maps(candidates: List[dict],
                    things: InstanceData) -> List[Tuple[OriginalSizeMaps, int]]:
        """Per pooled thing (see :meth:`_pool_things`): its view's ``thing_probs`` and its
        row there."""
        return [(candidates[v]['thing_probs'], r)
                for v, r in zip(things.view.tolist(), things.row.tolist())]

    def _paste_things(self, candidates: List[dict], things: InstanceData, order: Tensor,
                      masks: Tensor, paste: Tensor) -> InstanceData:
        """Step 3a: paste things in ``order`` (``masks``: their :meth:`_thing_masks`) onto
        ``paste`` (segment k written as k + 1), skipping low scores, empty masks and masks
        mostly taken already.

        Returns:
            InstanceData: the pasted segments (``labels``, ``scores``, ``is_thing``, ``probs``
            (list of functions returning their (H, W) probability maps), ``depth_sources``
            (list of [(view, depth kernel or None)]) and, when the candidates have them, the
            mask ``kernels`` (n, E)).
        """
        cfg = self.test_cfg
        windows = things.windows.tolist()
        maps = self._thing_maps(candidates, things)
        scores_all = things.scores.tolist()
        with_kernels = 'depth_kernels' in things
        taken = paste > 0  # kept up to date with the paste: a bool map is cheaper to test
        probs, labels, scores, sources, pasted = [], [], [], [], []
        for i, j in enumerate(order.tolist()):
            if scores_all[j] < cfg['combine_inst_thr']:
                continue
            # only the window where the mask can be set (see output_windows) is looked at
            y0, y1, x0, x1 = windows[j]
            mask = masks[i, y0:y1, x0:x1]
            area = int(torch.count_nonzero(mask))  # (much faster than a bool sum)
            if area == 0:
                continue
            taken_win = taken[y0:y1, x0:x1]
            inter = int(torch.count_nonzero(mask & taken_win))
            if inter / area > cfg['overlap_thr']:
                continue
            paste[y0:y1, x0:x1][mask & ~taken_win] = len(labels) + 1
            taken_win |= mask
            view_maps, row = maps[j]
            probs.append(lambda view_maps=view_maps, row=row: view_maps.full(row))
            labels.append(int(things.labels[j]))
            scores.append(scores_all[j])
            sources.append([(int(things.view[j]),
                             things.depth_kernels[j] if with_kernels else None)])
            pasted.append(j)
        segments = self._segments(probs, labels, scores, sources, True, paste.device)
        if 'kernels' in things:
            segments.kernels = things.kernels[torch.as_tensor(pasted, dtype=torch.long,
                                                              device=paste.device)]
        return segments

    def _paste_stuff(self, candidates: List[dict], sem_prob: Tensor, paste: Tensor,
                     first_id: int) -> InstanceData:
        """Step 3b: every non-thing class of the stuff argmax that some view predicted, with at
        least ``stuff_area_limit`` free pixels, pasted after the things (ids from
        ``first_id`` on)."""
        stuff_arg = sem_prob.max(0).indices  # = argmax(0) (first on ties), ~3x faster on CPU
        # per view: class -> row of its stuff candidate
        stuff_row = [{c: k for k, c in enumerate(cand['stuff'].labels.tolist())}
                     for cand in candidates]
        probs, labels, scores, sources = [], [], [], []
        present = torch.bincount(stuff_arg.flatten(), minlength=self.num_classes)
        for c in present.nonzero()[:, 0].tolist():  # = torch.unique(stuff_arg), ~20x faster
            if c in self.thing_class_ids:
                continue
            views_with = [(v, rows[c]) for v, rows in enumerate(stuff_row) if c in rows]
            if not views_with:
                continue  # an all-zero pixel's argmax, no kernel predicted this class
            mask = (stuff_arg == c) & (paste == 0)
            if int(torch.count_nonzero(mask)) < self.test_cfg['stuff_area_limit']:
                continue
            paste[mask] = first_id + len(labels)
            probs.append(lambda c=c: sem_prob[c])
            labels.append(c)
            scores.append(float(np.mean([float(candidates[v]['stuff'].scores[k])
                                         for v, k in views_with])))
            sources.append([(v, candidates[v]['stuff'].depth_kernels[k]
                             if 'depth_kernels' in candidates[v]['stuff'] else None)
                            for v, k in views_with])
        return self._segments(probs, labels, scores, sources, False, paste.device)

    @staticmethod
    def _segments(probs: List[Callable[[], Tensor]], labels: List[int], scores: List[float],
                  sources: List[list], is_thing: bool, device) -> InstanceData:
        segs = InstanceData()
        segs.labels = torch.as_tensor(labels, dtype=torch.long, device=device)
        segs.scores = torch.as_tensor(scores, dtype=torch.float32, device=device)
        segs.is_thing = torch.full((len(labels), ), is_thing, dtype=torch.bool, device=device)
        segs.probs = probs
        segs.depth_sources = sources
        return segs

    def _segment_index(self, segments: InstanceData, paste: Tensor) -> Tensor:
        """Step 4: (H, W) segment of each pixel, ``len(segments)`` = void. 'ps': the paste
        (free pixels void); 'dps': the most probable pasted segment (no void)."""
        if self.test_cfg['merge_mode'] == 'ps' or len(segments) == 0:
            seg_index = paste - 1
            seg_index[seg_index < 0] = len(segments)
            return seg_index
        return self._argmax_over_segments(segments.probs)

    def _panoptic_outputs(self, segments: InstanceData, seg_index: Tensor,
                          things: InstanceData, order: Tensor, thing_masks: Tensor) -> dict:
        """``pred_panoptic_seg`` (ids ``class * label_divisor + instance``, things numbered in
        paste order, void ``void_label``), ``pred_instances`` (every pooled thing candidate's
        mask, label and score, in paste order) and ``pred_segments`` (with the things' mask
        ``kernels``, the instance embeddings :class:`KernelTracker` matches)."""
        cfg = self.test_cfg
        device = seg_index.device
        n = len(segments)
        labels = torch.cat([segments.labels, segments.labels.new_tensor([cfg['void_label']])])
        inst = torch.cumsum(segments.is_thing.long(), 0) * segments.is_thing
        inst = torch.cat([inst, inst.new_zeros(1)])
        ids = labels * cfg['label_divisor'] + inst
        out = dict(pred_panoptic_seg=PixelData(sem_seg=ids[seg_index][None]))

        instances = InstanceData()
        instances.masks = thing_masks
        instances.labels = things.labels[order]
        instances.scores = things.scores[order]
        out['pred_instances'] = instances

        pred_segments = InstanceData()
        pred_segments.ids = ids[:n]
        pred_segments.labels = segments.labels
        pred_segments.scores = segments.scores
        pred_segments.areas = torch.bincount(seg_index.flatten(), minlength=n + 1)[:n] \
            if n else torch.zeros(0, dtype=torch.long, device=device)
        pred_segments.is_thing = segments.is_thing
        if 'kernels' in segments:
            pred_segments.kernels = segments.kernels  # things' mask kernels, stuff rows 0
        out['pred_segments'] = pred_segments
        return out

    @staticmethod
    def _argmax_over_segments(seg_probs: List[Callable[[], Tensor]]) -> Tensor:
        """Per-pixel index of the most probable segment, first one on ties (as ``argmax`` of
        the stacked (n, H, W) maps, without building that stack: ``seg_probs`` give one
        (H, W) map at a time)."""
        best = seg_probs[0]().clone()
        index = torch.zeros(best.shape, dtype=torch.long, device=best.device)
        for j, get_prob in enumerate(seg_probs[1:], start=1):
            prob = get_prob()
            better = prob > best
            best = torch.where(better, prob, best)
            index.masked_fill_(better, j)
        return index

    def _gather_segment_depths(self, candidates: List[dict], seg_depth: List[list],
                               depth_scales: List[float], seg_index: Tensor,
                               ori_hw: Tuple[int, int]) -> Tensor:
        """(H, W) depth map: each pixel gets the depth of its segment, computed only on that
        segment's pixels, from the view(s) the segment came from (averaged over views).

        Per-pixel depth only depends on the pixel's embedding and the segment's kernel, so this
        equals gathering from full (n, H, W) per-segment depth maps, at 1/n of the work.
        """
        gen = self.depth_generator
        device = seg_index.device
        depth_map = torch.zeros(ori_hw, device=device)
        flat_index = seg_index.flatten()
        order = torch.argsort(flat_index, stable=True)
        counts = torch.bincount(flat_index, minlength=len(seg_depth) + 1).tolist()
        start = 0
        flat_depth = depth_map.view(-1)
        for j, sources in enumerate(seg_depth):
            pix = order[start:start + counts[j]]
            start += counts[j]
            if pix.numel() == 0:
                continue
            per_view = []
            for v, kernel in sources:
                emb = candidates[v]['depth_embed']
                emb = emb.reshape(emb.shape[0], -1)[:, pix, None]  # (E, N, 1)
                d = gen(emb, None)[0] if gen.kernel_channels == 0 else gen(emb, kernel[None])[0]
                per_view.append(d[:, 0] * depth_scales[v])
            flat_depth[pix] = sum(per_view) / len(per_view)
        return depth_map
