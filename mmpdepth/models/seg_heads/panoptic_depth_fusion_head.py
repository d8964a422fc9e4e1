"""Thing post-processing, panoptic merge and depth gathering of PanopticDepth (spec §1.12)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.seg_heads.panoptic_fusion_heads import BasePanopticFusionHead
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpdepth.registry import MODELS

from ..layers.instance_depth import InstanceDepthGenerator

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

    @staticmethod
    def _to_output(maps: Tensor, img_hw: Tuple[int, int], ori_hw: Tuple[int, int]) -> Tensor:
        """(N, h, w) stride-4 maps -> x4 bilinear, crop padding, resize to the original size."""
        if maps.shape[0] == 0:
            return maps.new_zeros(0, *ori_hw)
        up = F.interpolate(maps[None], scale_factor=4, mode='bilinear',
                           align_corners=False)[..., :img_hw[0], :img_hw[1]]
        if tuple(up.shape[-2:]) != tuple(ori_hw):
            up = F.interpolate(up, size=ori_hw, mode='bilinear', align_corners=False)
        return up[0]

    def process_things(self, things: InstanceData, img_hw, ori_hw) -> InstanceData:
        """Mask re-scoring, filtering and upsampling of thing candidates (step 1)."""
        cfg = self.test_cfg
        probs = things.mask_logits.sigmoid()
        masks = probs > cfg['mask_thr']
        area = masks.sum((1, 2)).float() + 1e-6
        maskness = (probs * masks.float()).sum((1, 2)) / area
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
        out.src_index = keep
        out.probs = self._to_output(probs[keep], img_hw, ori_hw)
        if 'depth_kernels' in things:
            out.depth_kernels = things.depth_kernels[keep]
        return out

    def predict(self, head_results: List[dict], batch_img_metas: List[dict]) -> List[dict]:
        """Per image: ``pred_panoptic_seg``, ``pred_depth_map`` (with depth), ``pred_instances``
        and ``pred_segments``, ready to be set on the data sample."""
        return [self.predict_single(r, m) for r, m in zip(head_results, batch_img_metas)]

    def predict_single(self, result: dict, img_meta: dict) -> dict:
        cfg = self.test_cfg
        img_hw = tuple(img_meta['img_shape'][:2])
        ori_hw = tuple(img_meta.get('ori_shape', img_hw)[:2])
        things = self.process_things(result['things'], img_hw, ori_hw)
        stuff = result['stuff']
        device = stuff.mask_logits.device
        st_probs = self._to_output(stuff.mask_logits.sigmoid(), img_hw, ori_hw)
        sem_prob = st_probs.new_zeros(self.num_classes, *ori_hw)
        if len(stuff.labels):
            sem_prob[stuff.labels] += st_probs

        with_depth = self.depth_generator is not None and result.get('depth_embed') is not None
        depth_full = None
        if with_depth:
            emb = result['depth_embed']
            if cfg['depth_embed_resize'] == 'official':
                depth_full = F.interpolate(emb[None], size=ori_hw, mode='bilinear',
                                           align_corners=False)[0]
            else:
                depth_full = self._to_output(emb, img_hw, ori_hw)

        # step 3: sequential paste
        paste = torch.zeros(ori_hw, dtype=torch.long, device=device)
        seg_probs, seg_labels, seg_scores, seg_depth_k, seg_is_thing = [], [], [], [], []
        kept = torch.nonzero(things.scores >= cfg['combine_inst_thr']).flatten().tolist()
        for j in kept:
            mask = things.probs[j] > cfg['mask_thr']
            area = int(mask.sum())
            if area == 0:
                continue
            inter = int((mask & (paste > 0)).sum())
            if inter / area > cfg['overlap_thr']:
                continue
            mask &= paste == 0
            paste[mask] = len(seg_labels) + 1
            seg_probs.append(things.probs[j])
            seg_labels.append(int(things.labels[j]))
            seg_scores.append(float(things.scores[j]))
            seg_is_thing.append(True)
            if with_depth and 'depth_kernels' in things:
                seg_depth_k.append(things.depth_kernels[j])
        stuff_arg = sem_prob.argmax(0)
        stuff_labels = stuff.labels.tolist()
        for c in torch.unique(stuff_arg).tolist():
            if c in self.thing_class_ids or c not in stuff_labels:
                continue
            mask = (stuff_arg == c) & (paste == 0)
            if int(mask.sum()) < cfg['stuff_area_limit']:
                continue
            paste[mask] = len(seg_labels) + 1
            k = stuff_labels.index(c)
            seg_probs.append(sem_prob[c])
            seg_labels.append(c)
            seg_scores.append(float(stuff.scores[k]))
            seg_is_thing.append(False)
            if with_depth and 'depth_kernels' in stuff:
                seg_depth_k.append(stuff.depth_kernels[k])

        div = cfg['label_divisor']
        labels_t = torch.as_tensor(seg_labels + [cfg['void_label']], dtype=torch.long,
                                   device=device)
        inst_ids, n_th = [], 0
        for is_thing in seg_is_thing:
            n_th += int(is_thing)
            inst_ids.append(n_th if is_thing else 0)
        inst_t = torch.as_tensor(inst_ids + [0], dtype=torch.long, device=device)
        depth_map = None
        if cfg['merge_mode'] == 'ps' or not seg_probs:
            seg_index = paste - 1  # -1: void
            seg_index[seg_index < 0] = len(seg_labels)
            if with_depth and seg_probs:
                stack_d = self._segment_depths(depth_full, seg_depth_k, len(seg_probs))
                depth_map = torch.zeros(ori_hw, device=device)
                valid = seg_index < len(seg_labels)
                depth_map[valid] = torch.gather(stack_d, 0, seg_index.clamp(
                    max=len(seg_labels) - 1)[None])[0][valid]
        else:
            seg_index = torch.stack(seg_probs).argmax(0)
            if with_depth:
                stack_d = self._segment_depths(depth_full, seg_depth_k, len(seg_probs))
                depth_map = torch.gather(stack_d, 0, seg_index[None])[0]
        if with_depth and depth_map is None:
            depth_map = torch.zeros(ori_hw, device=device)
        panoptic = labels_t[seg_index] * div + inst_t[seg_index]

        out = dict()
        out['pred_panoptic_seg'] = PixelData(sem_seg=panoptic[None])
        if with_depth:
            out['pred_depth_map'] = PixelData(
                data=self.depth_generator.clamp_output(depth_map)[None])
        inst = InstanceData()
        inst.masks = things.probs > cfg['mask_thr']
        inst.labels = things.labels
        inst.scores = things.scores
        out['pred_instances'] = inst
        areas = torch.bincount(seg_index.flatten(), minlength=len(seg_labels) + 1)[:-1] \
            if len(seg_labels) else torch.zeros(0, dtype=torch.long, device=device)
        segs = InstanceData()
        segs.ids = labels_t[:-1] * div + inst_t[:-1]
        segs.labels = labels_t[:-1]
        segs.scores = torch.as_tensor(seg_scores, device=device)
        segs.areas = areas[:len(seg_labels)]
        segs.is_thing = torch.as_tensor(seg_is_thing, dtype=torch.bool, device=device)
        out['pred_segments'] = segs
        return out

    def _segment_depths(self, depth_full: Tensor, kernels: List[Tensor], n: int) -> Tensor:
        """(n, H, W) depth map of every pasted segment (one dense map in 'pixel' mode)."""
        gen = self.depth_generator
        if gen.kernel_channels == 0:
            return gen(depth_full, None)[0:1].expand(n, -1, -1)
        return gen(depth_full, torch.stack(kernels))
