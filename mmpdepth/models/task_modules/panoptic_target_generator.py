"""Training targets of one image for PanopticDepth (PanopticFCN targets plus depth; spec §2.1-2.2,
§2.6): soft class maps, thing-centre heatmaps per level, the instances each level owns, soft
instance masks and the stride-4 depth map."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmpdepth.registry import TASK_UTILS

from ..layers.center_heatmap import draw_gaussian, panopticfcn_gaussian_radius


@TASK_UTILS.register_module()
class PanopticTargetGenerator(BaseModule):
    """Targets of :class:`PanopticDepthHead` for one image; no parameters (class-lookup buffers
    only, not saved in checkpoints).

    Args:
        num_classes (int): classes of the region (stuff) head, things included.
        thing_class_ids (Sequence[int]): dataset class of each thing channel.
        instance_scales (Sequence[Tuple[float, float]]): per kernel level, the range of
            sqrt(box area) (input pixels) of the things it is assigned.
        gaussian_sigma (float): divisor of the Gaussian radius of the centre heatmaps (3).
        min_overlap (float): CornerNet overlap of the Gaussian radius (0.7).
        with_depth (bool): make the stride-4 depth target.
    """

    def __init__(self, num_classes: int, thing_class_ids: Sequence[int],
                 instance_scales: Sequence[Tuple[float, float]], gaussian_sigma: float = 3.0,
                 min_overlap: float = 0.7, with_depth: bool = True) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_things = len(thing_class_ids)
        self.instance_scales = tuple(tuple(s) for s in instance_scales)
        self.gaussian_sigma = gaussian_sigma
        self.min_overlap = min_overlap
        self.with_depth = with_depth
        thing = torch.zeros(num_classes, dtype=torch.bool)
        thing[list(thing_class_ids)] = True
        self.register_buffer('is_thing_class', thing, persistent=False)
        class_to_thing = torch.full((num_classes, ), -1, dtype=torch.long)
        class_to_thing[list(thing_class_ids)] = torch.arange(self.num_things)
        self.register_buffer('class_to_thing', class_to_thing, persistent=False)

    @torch.no_grad()
    def forward(self, data_sample, embed_hw: Tuple[int, int], level_hw: Sequence[Tuple[int, int]],
                pad_hw: Tuple[int, int]) -> dict:
        """Targets of one image.

        Args:
            data_sample: with ``gt_instances`` (labels, masks, bboxes), ``gt_sem_seg`` and
                (with depth) ``gt_depth_map``, padded to ``pad_hw``.
            embed_hw: (h, w) of the stride-4 embeddings. level_hw: (H_l, W_l) per level.
            pad_hw: (H, W) of the padded input.

        Returns:
            dict with ``sem_s4`` (K, h, w) soft class maps; per level lists ``region_target``
            (K, H_l, W_l), ``center_target`` (T, H_l, W_l), ``thing_index`` (n_l,) indices of the
            instances assigned to the level; and ``inst_s4`` (N, h, w) soft instance masks,
            ``inst_thing`` (N,) thing channels, ``depth_s4`` (h, w) or None.
        """
        sem_s4 = self._class_maps(data_sample.gt_sem_seg.sem_seg[0], embed_hw)
        region_targets = []
        for hw in level_hw:
            t = F.interpolate(sem_s4[None], size=hw, mode='bilinear', align_corners=False)[0]
            t = t.clamp(max=1.0)
            t[t < 0.5] = 0.0
            region_targets.append(t)
        targets = dict(sem_s4=sem_s4, region_target=region_targets,
                       depth_s4=self._depth_map(data_sample, embed_hw))
        targets.update(self._thing_targets(data_sample.gt_instances, embed_hw, level_hw, pad_hw))
        return targets

    def _class_maps(self, sem: Tensor, embed_hw: Tuple[int, int]) -> Tensor:
        """(H, W) class ids -> (K, h, w) soft one-hot maps at stride 4 (void: all zero)."""
        k = self.num_classes
        device = self.is_thing_class.device
        sem = sem.to(device).long()
        sem = torch.where(sem >= k, torch.full_like(sem, k), sem)
        onehot = F.one_hot(sem, k + 1).permute(2, 0, 1)[:k].float()
        H, W = sem.shape
        nh, nw = int(H / 4 + 0.5), int(W / 4 + 0.5)
        sem_s4 = torch.zeros(k, *embed_hw, device=device)
        sem_s4[:, :nh, :nw] = F.interpolate(onehot[None], size=(nh, nw), mode='bilinear',
                                            align_corners=False)[0][:, :embed_hw[0], :embed_hw[1]]
        return sem_s4

    def _thing_targets(self, gt, embed_hw: Tuple[int, int], level_hw: Sequence[Tuple[int, int]],
                       pad_hw: Tuple[int, int]) -> dict:
        """Soft instance masks, level assignment by size and Gaussian centre heatmaps."""
        h4, w4 = embed_hw
        device = self.is_thing_class.device
        labels = gt.labels.to(device).long()
        keep = self.is_thing_class[labels] if len(labels) else labels.bool()
        n = int(keep.sum())
        center_targets = [torch.zeros(self.num_things, *hw, device=device) for hw in level_hw]
        thing_index: List[Tensor] = [torch.zeros(0, dtype=torch.long, device=device)
                                     for _ in level_hw]
        out = dict(center_target=center_targets, thing_index=thing_index,
                   inst_s4=torch.zeros(0, h4, w4, device=device),
                   inst_thing=torch.zeros(0, dtype=torch.long, device=device))
        if n == 0:
            return out
        masks = gt.masks
        masks = masks.to_tensor(torch.float32, device) if hasattr(masks, 'to_tensor') \
            else masks.to(device).float()
        masks = masks[keep]
        inst_thing = self.class_to_thing[labels[keep]]
        boxes = gt.bboxes.to(device).float()[keep] if 'bboxes' in gt else _boxes_from_masks(masks)
        mh, mw = masks.shape[-2:]
        s4 = F.interpolate(masks[None], size=(int(mh / 4 + 0.5), int(mw / 4 + 0.5)),
                           mode='bilinear', align_corners=False)[0]
        inst_s4 = torch.zeros(n, h4, w4, device=device)
        inst_s4[:, :s4.shape[1], :s4.shape[2]] = s4[:, :h4, :w4]
        centers = _mass_centers(s4)  # (n, 2) x, y at stride 4
        sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        for li, (hw, (lo, hi)) in enumerate(zip(level_hw, self.instance_scales)):
            assigned = torch.nonzero((sizes >= lo) & (sizes <= hi)).flatten()
            thing_index[li] = assigned
            if len(assigned) == 0:
                continue
            c = centers[assigned].clone()
            c[:, 0] *= hw[1] / w4
            c[:, 1] *= hw[0] / h4
            c = c.to(torch.int64)
            c[:, 0].clamp_(0, hw[1])
            c[:, 1].clamp_(0, hw[0])
            b = boxes[assigned]
            wh = torch.stack([(b[:, 2] - b[:, 0]) * hw[1] / pad_hw[1],
                              (b[:, 3] - b[:, 1]) * hw[0] / pad_hw[0]], dim=1)
            radius = panopticfcn_gaussian_radius(wh, self.min_overlap).clamp(min=0).to(torch.int64)
            for j, inst in enumerate(assigned.tolist()):
                draw_gaussian(center_targets[li][inst_thing[inst]], (c[j, 0], c[j, 1]),
                              int(radius[j]), self.gaussian_sigma)
        out.update(inst_s4=inst_s4, inst_thing=inst_thing)
        return out

    def _depth_map(self, data_sample, embed_hw: Tuple[int, int]) -> Optional[Tensor]:
        """(h, w) GT depth at stride 4 (nearest), zero on the padding; None without depth."""
        if not self.with_depth or 'gt_depth_map' not in data_sample:
            return None
        d = data_sample.gt_depth_map.data.to(self.is_thing_class.device).float()
        dh, dw = d.shape[-2:]
        d4 = F.interpolate(d[None], size=(int(dh / 4 + 0.5), int(dw / 4 + 0.5)),
                           mode='nearest')[0, 0]
        depth_s4 = d4.new_zeros(embed_hw)
        depth_s4[:d4.shape[0], :d4.shape[1]] = d4[:embed_hw[0], :embed_hw[1]]
        return depth_s4


def _mass_centers(masks: Tensor) -> Tensor:
    """(N, h, w) soft masks -> (N, 2) mean (x, y) of their non-zero pixels."""
    centers = []
    for m in masks:
        nz = torch.nonzero(m > 0).float()
        if len(nz) == 0:
            centers.append(m.new_zeros(2))
        else:
            c = nz.mean(0)
            centers.append(torch.stack([c[1], c[0]]))
    return torch.stack(centers) if centers else masks.new_zeros(0, 2)


def _boxes_from_masks(masks: Tensor) -> Tensor:
    """(N, H, W) masks -> (N, 4) boxes x0, y0, x1, y1 of their non-zero pixels."""
    boxes = []
    for m in masks:
        ys, xs = torch.nonzero(m > 0, as_tuple=True)
        if len(xs) == 0:
            boxes.append(m.new_zeros(4))
        else:
            boxes.append(torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float())
    return torch.stack(boxes) if boxes else masks.new_zeros(0, 4)
