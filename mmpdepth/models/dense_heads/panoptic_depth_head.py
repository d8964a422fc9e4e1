"""Kernel producer and embeddings of PanopticDepth (paper §3.1-3.3; spec §1-2).

``forward`` maps FPN features to the shared stride-4 embeddings and per-level maps; ``loss``
selects training kernels and computes the position, segmentation and depth losses;
``predict`` selects and fuses test kernels and returns per-image thing / stuff candidates (mask
logits at stride 4, classes, scores, depth kernels) for :class:`PanopticDepthFusionHead`.
"""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.utils import multi_apply
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, normal_init
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmpdepth.registry import MODELS, TASK_UTILS

from ..layers.center_heatmap import center_peaks_topk
from ..layers.conv_tower import ConvTower
from ..layers.deform_conv import dcn_workspace
from ..layers.instance_depth import InstanceDepthGenerator
from ..layers.precision import autocast_off, to_float32
from ..task_modules import PanopticTargetGenerator  # noqa: F401 (registers it)

#: PanopticDepth's thing-size ranges per level P3..P7 (sqrt of box area, input pixels)
OFFICIAL_INSTANCE_SCALES = ((1, 128), (64, 256), (128, 512), (256, 1024), (512, 2048))


@MODELS.register_module()
class PanopticDepthHead(BaseModule):
    """Kernel producer (position / kernel / depth-kernel heads shared over levels), mask
    embedding E^m and depth embedding E^d.

    Args:
        num_classes (int): classes of the region (stuff) head; all classes, things included, as
            in the official code. Defaults to 19.
        thing_class_ids (Sequence[int]): dataset class index of each thing channel of the centre
            head. Defaults to Cityscapes trainIds 11..18.
        in_channels (int): FPN channels. feat_channels (int): tower channels.
        mask_embed_channels (int): e^m (256).
        sem_fpn_levels (Sequence[int]): indices of P2..P5 in the FPN outputs.
        kernel_levels (Sequence[int]): indices of P3..P7 in the FPN outputs.
        semantic_fpn (dict): config of the stride-4 fusion.
        num_convs (int): layers per tower (3).
        position_deform, kernel_deform, encoder_deform, depth_kernel_deform (bool): DCNv2 in
            the position head, kernel head, both embeddings, depth-kernel head.
        norm_cfg (dict): norm of the position / kernel / depth-kernel towers (GN 32).
        dcn_impl (str): DCNv2 implementation, 'auto' (default: on CPU multiply-then-gather,
            in training only up to ``dcn_train_gather_mb`` per layer, else torchvision; on CUDA
            torchvision; standard ops under ONNX export), 'torchvision', 'grid_sample' or
            'gather'.
        dcn_train_gather_mb (float): the largest multiply-then-gather buffer (MiB per DCN
            layer) kept for a CPU backward by 'auto' (1024: the stride-4 layers of two
            512x1024 crops fit, a 1024x2048 frame's do not; trades memory for a ~8x faster CPU
            backward).
        embed_with_cp (bool): activation checkpointing of the two stride-4 embedding towers.
        tower_with_cp (bool): activation checkpointing of the position / kernel / depth-kernel
            towers (all levels).
        center_bias_init (float): bias of the centre and region outputs (-2.19).
        depth (dict, optional): :class:`InstanceDepthGenerator` args; ``None`` builds a PS-only
            head without depth branches.
        kernel_fusion (dict): config of :class:`AdaptiveKernelFusion` (test time).
        loss_center, loss_region (dict): focal losses on soft targets (mmdet ``FocalLoss``).
        loss_dice (dict): mmdet ``DiceLoss`` on probabilities (weight 4 = λ_seg).
        loss_depth (dict): :class:`InstanceDepthLoss`.
        train_cfg (dict): ``pos_num`` (7), ``instance_scales``, ``gaussian_sigma`` (3),
            ``min_overlap`` (0.7), ``shift_target`` ('mean' or 'min'), ``stuff_depth_class_ids``
            (classes whose region kernels get depth supervision; default: non-thing classes).
        test_cfg (dict): ``center_pool_sizes`` (3,3,3,5,5), ``center_top_num`` (100 per level =
            TOP_NUM // 2), ``center_thr`` (0.01).
    """

    def __init__(self,
                 num_classes: int = 19,
                 thing_class_ids: Sequence[int] = tuple(range(11, 19)),
                 in_channels: int = 256,
                 feat_channels: int = 256,
                 mask_embed_channels: int = 256,
                 sem_fpn_levels: Sequence[int] = (0, 1, 2, 3),
                 kernel_levels: Sequence[int] = (1, 2, 3, 4, 5),
                 semantic_fpn: ConfigType = dict(type='SemanticFPNFusion'),
                 num_convs: int = 3,
                 position_deform: bool = True,
                 kernel_deform: bool = False,
                 encoder_deform: bool = True,
                 depth_kernel_deform: bool = True,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=32, requires_grad=True),
                 dcn_impl: str = 'auto',
                 dcn_train_gather_mb: float = 1024,
                 embed_with_cp: bool = False,
                 tower_with_cp: bool = False,
                 center_bias_init: float = -2.19,
                 depth: OptConfigType = dict(mode='official', embed_channels=16, d_max=88.0,
                                             clamp=(0.0, 80.0)),
                 kernel_fusion: ConfigType = dict(type='AdaptiveKernelFusion'),
                 loss_center: ConfigType = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                                alpha=0.25, reduction='sum', loss_weight=1.0),
                 loss_region: ConfigType = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                                alpha=0.25, reduction='sum', loss_weight=1.0),
                 loss_dice: ConfigType = dict(type='DiceLoss', use_sigmoid=False, activate=False,
                                              naive_dice=False, eps=5e-9, reduction='sum',
                                              loss_weight=4.0),
                 loss_depth: ConfigType = dict(type='InstanceDepthLoss', si_weight=5.0,
                                               loss_weight=5.0, instance_weight=1.0),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.thing_class_ids = tuple(thing_class_ids)
        self.num_things = len(self.thing_class_ids)
        self.sem_fpn_levels = tuple(sem_fpn_levels)
        self.kernel_levels = tuple(kernel_levels)
        self.mask_embed_channels = mask_embed_channels
        self.train_cfg = dict(dict(pos_num=7, instance_scales=OFFICIAL_INSTANCE_SCALES,
                                   gaussian_sigma=3.0, min_overlap=0.7, shift_target='mean',
                                   stuff_depth_class_ids=None), **(train_cfg or {}))
        self.test_cfg = dict(dict(center_pool_sizes=(3, 3, 3, 5, 5), center_top_num=100,
                                  center_thr=0.01), **(test_cfg or {}))
        if len(self.train_cfg['instance_scales']) != len(self.kernel_levels):
            raise ValueError('train_cfg.instance_scales needs one range per kernel level')

        self.semantic_fpn = MODELS.build(semantic_fpn)
        dcn_opts = dict(dcn_impl=dcn_impl, dcn_train_gather_mb=dcn_train_gather_mb)
        embed_opts = dict(dcn_opts, with_cp=embed_with_cp)
        tower_opts = dict(dcn_opts, with_cp=tower_with_cp)
        self.mask_encoder = ConvTower(feat_channels, mask_embed_channels, num_convs,
                                      deform=encoder_deform, coord=True, norm_cfg=None,
                                      **embed_opts)
        self.position_tower = ConvTower(in_channels, feat_channels, num_convs,
                                        deform=position_deform, coord=False, norm_cfg=norm_cfg,
                                        **tower_opts)
        self.center_out = nn.Conv2d(feat_channels, self.num_things, 3, padding=1)
        self.region_out = nn.Conv2d(feat_channels, num_classes, 3, padding=1)
        self.kernel_tower = ConvTower(in_channels, feat_channels, num_convs,
                                      deform=kernel_deform, coord=True, norm_cfg=norm_cfg,
                                      **tower_opts)
        self.kernel_out = nn.Conv2d(feat_channels, mask_embed_channels, 3, padding=1)
        # kernel projections ("embed_extractor"), one for things and one for stuff
        self.thing_kernel_proj = nn.Linear(mask_embed_channels, mask_embed_channels)
        self.stuff_kernel_proj = nn.Linear(mask_embed_channels, mask_embed_channels)
        self.center_bias_init = center_bias_init

        self.with_depth = depth is not None
        if self.with_depth:
            self.depth_generator = InstanceDepthGenerator(**depth)
            e = self.depth_generator.embed_channels
            self.depth_encoder = ConvTower(feat_channels, feat_channels, num_convs,
                                           deform=encoder_deform, coord=True, norm_cfg=None,
                                           **embed_opts)
            self.depth_embed_out = nn.Conv2d(feat_channels, e, 1)
            dk = self.depth_generator.kernel_channels
            if dk > 0:
                self.depth_kernel_tower = ConvTower(in_channels, feat_channels, num_convs,
                                                    deform=depth_kernel_deform, coord=True,
                                                    norm_cfg=norm_cfg, **tower_opts)
                self.depth_kernel_out = nn.Conv2d(feat_channels, dk, 3, padding=1)
            self.loss_depth = MODELS.build(loss_depth)
        self.kernel_fusion = MODELS.build(kernel_fusion)
        self.loss_center = MODELS.build(loss_center)
        self.loss_region = MODELS.build(loss_region)
        self.loss_dice = MODELS.build(loss_dice)
        self.target_generator = TASK_UTILS.build(dict(
            type='PanopticTargetGenerator', num_classes=num_classes,
            thing_class_ids=self.thing_class_ids, with_depth=self.with_depth,
            instance_scales=self.train_cfg['instance_scales'],
            gaussian_sigma=self.train_cfg['gaussian_sigma'],
            min_overlap=self.train_cfg['min_overlap']))
        thing = self.target_generator.is_thing_class
        depth_ids = self.train_cfg['stuff_depth_class_ids']
        stuff_depth = ~thing if depth_ids is None else torch.zeros_like(thing).index_fill_(
            0, torch.as_tensor(list(depth_ids), dtype=torch.long), True)
        self.register_buffer('stuff_depth_classes', stuff_depth, persistent=False)

    def init_weights(self) -> None:
        super().init_weights()
        for layer in (self.center_out, self.region_out):
            normal_init(layer, std=0.01, bias=self.center_bias_init)
        for layer in (self.kernel_out, self.thing_kernel_proj, self.stuff_kernel_proj):
            normal_init(layer, std=0.01, bias=0)
        if self.with_depth:
            normal_init(self.depth_embed_out, std=0.01, bias=0)
            if hasattr(self, 'depth_kernel_out'):
                normal_init(self.depth_kernel_out, std=0.01, bias=0)

    # ------------------------------------------------------------------------------------------
    def forward(self, x: Sequence[Tensor]) -> Dict[str, object]:
        """FPN features -> embeddings and per-level maps.

        Args:
            x (Sequence[Tensor]): FPN outputs P2..P7, each (B, C, H/s, W/s).

        Returns:
            dict: ``mask_embed`` (B, e^m, h, w) and ``depth_embed`` (B, e^d, h, w) at stride 4
            (``depth_embed`` None without depth); lists over kernel levels of ``center_logits``
            (B, T, H_l, W_l), ``region_logits`` (B, K, H_l, W_l), ``kernel_maps`` (B, e^m, H_l,
            W_l) and ``depth_kernel_maps`` (B, D, H_l, W_l) or None.
        """
        if torch.is_grad_enabled():
            return self._forward_towers(x)
        with dcn_workspace():  # inference: the DCN layers share one product buffer
            return self._forward_towers(x)

    def _forward_towers(self, x: Sequence[Tensor]) -> Dict[str, object]:
        sem_feat = self.semantic_fpn([x[i] for i in self.sem_fpn_levels])
        out = dict(sem_feat=sem_feat, mask_embed=self.mask_encoder(sem_feat), depth_embed=None)
        if self.with_depth:
            out['depth_embed'] = self.depth_embed_out(self.depth_encoder(sem_feat))
        centers, regions, kernels, depth_kernels = [], [], [], []
        for i in self.kernel_levels:
            feat = x[i]
            pos = self.position_tower(feat)
            centers.append(self.center_out(pos))
            regions.append(self.region_out(pos))
            kernels.append(self.kernel_out(self.kernel_tower(feat)))
            if self.with_depth and hasattr(self, 'depth_kernel_out'):
                depth_kernels.append(self.depth_kernel_out(self.depth_kernel_tower(feat)))
            else:
                depth_kernels.append(None)
        out.update(center_logits=centers, region_logits=regions, kernel_maps=kernels,
                   depth_kernel_maps=depth_kernels)
        return out

    # ------------------------------------------------------------------------------------------
    # training
    def loss(self, x: Sequence[Tensor], batch_data_samples: SampleList) -> Dict[str, Tensor]:
        outs = self(x)
        # mixed precision: kernel selection, dynamic convs and every loss (focal, dice, the
        # depth loss's logs and ratios) in float32
        with autocast_off(x[0].device.type):
            return self.loss_by_feat(to_float32(outs), batch_data_samples)

    def get_targets(self, data_sample, embed_hw: Tuple[int, int],
                    level_hw: Sequence[Tuple[int, int]], pad_hw: Tuple[int, int]) -> dict:
        """Targets of one image (:class:`PanopticTargetGenerator`)."""
        return self.target_generator(data_sample, embed_hw, level_hw, pad_hw)

    def loss_by_feat(self, outs: dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of spec §2.4-2.6 with per-image kernel selection (any batch size).

        Per image (:meth:`get_targets`, then :meth:`_select_single` through ``multi_apply``):
        targets, the selected thing / stuff kernels and their mask probabilities and depth
        pairs; here they are only concatenated over the batch and scored.
        """
        mask_embed = outs['mask_embed']
        b = mask_embed.shape[0]
        embed_hw = tuple(mask_embed.shape[-2:])
        level_hw = [tuple(c.shape[-2:]) for c in outs['center_logits']]
        pad_hw = tuple(batch_data_samples[0].batch_input_shape)
        with_depth_loss = self.with_depth and all('gt_depth_map' in ds
                                                  for ds in batch_data_samples)
        targets = [self.get_targets(ds, embed_hw, level_hw, pad_hw) for ds in batch_data_samples]
        things, stuff, depth = multi_apply(self._select_single, list(range(b)), targets,
                                           outs=outs, with_depth=with_depth_loss)

        loss_center = mask_embed.new_zeros(())
        loss_region = mask_embed.new_zeros(())
        for li, (hl, wl) in enumerate(level_hw):
            loss_center = loss_center + self.loss_center(
                outs['center_logits'][li], torch.stack([t['center_target'][li] for t in targets]))
            loss_region = loss_region + self.loss_region(
                outs['region_logits'][li],
                torch.stack([t['region_target'][li] for t in targets])) / float(hl * wl)
        thing_total = sum(int(t.num_instances) for t in things)
        stuff_total = sum(len(t) for t in stuff)
        things, stuff = InstanceData.cat(things), InstanceData.cat(stuff)
        zero = mask_embed.sum() * 0.0
        losses = dict(
            loss_pos_th=loss_center / max(thing_total, 1),
            loss_pos_st=loss_region / b,
            loss_seg_th=(self.loss_dice(things.probs, things.targets, weight=things.weights)
                         if len(things) else zero) / max(thing_total, 1),
            loss_seg_st=(self.loss_dice(stuff.probs, stuff.targets) if len(stuff) else zero)
            / max(stuff_total, 1))
        if with_depth_loss:
            dz = outs['depth_embed'].sum() * 0.0
            pairs = {k: torch.cat([d[k] for d in depth]) for k in depth[0]}
            # the official order (it is the order of the sum that is backpropagated)
            if self.depth_generator.has_shift and self.loss_depth.with_instance_term:
                losses['loss_depth_ins'] = self.loss_depth.loss_instance(
                    pairs['shift_pred'], pairs['shift_gt'], pairs['shift_img']) \
                    if len(pairs['shift_pred']) else dz
            losses['loss_depth'] = self.loss_depth.loss_pixel(pairs['pred'], pairs['gt']) \
                if len(pairs['pred']) else dz
        return losses

    def _select_single(self, i: int, tg: dict, outs: dict,
                       with_depth: bool) -> Tuple[InstanceData, InstanceData, dict]:
        """Kernel selection of image ``i`` and what the losses score (spec §2.4-2.6).

        Things: per assigned instance, the top ``pos_num`` centre positions inside it (weighted
        by their centre probability); stuff: per class present at a level, the kernel pooled
        over its binary target.

        Returns:
            tuple: ``things`` (one row per selected position: ``probs`` / ``targets`` (hw,)
            mask probabilities and soft targets, ``weights``, and where the kernel was taken:
            ``levels``, ``positions`` (y·W_l + x), ``instances``; metainfo ``num_instances``),
            ``stuff`` (one row per class and level: ``probs``, ``targets``) and the depth
            pairs (``pred`` / ``gt`` pixel depths; ``shift_pred`` / ``shift_gt`` /
            ``shift_img`` instance shifts), empty without depth supervision.
        """
        pos_num = self.train_cfg['pos_num']
        th_kernels, th_weights, th_depth_k, th_inst, th_pos, th_lvl = [], [], [], [], [], []
        st_kernels, st_class, st_depth_k = [], [], []
        for li, (hl, wl) in enumerate(tuple(c.shape[-2:]) for c in outs['center_logits']):
            kmap = outs['kernel_maps'][li][i]
            dkmap = outs['depth_kernel_maps'][li][i] \
                if outs['depth_kernel_maps'][li] is not None else None
            # things: top-k centre positions inside each assigned instance
            idx = tg['thing_index'][li]
            if len(idx):
                guide_mask = F.interpolate(tg['inst_s4'][idx][None], size=(hl, wl),
                                           mode='bilinear', align_corners=False)[0]
                probs = outs['center_logits'][li][i].sigmoid()[tg['inst_thing'][idx]]
                inside = (guide_mask > 0.1) & (guide_mask < 255)
                guidance = torch.where(inside, probs, torch.zeros_like(probs))
                k = min(pos_num, hl * wl)
                w, pos = torch.topk(guidance.flatten(1), k=k, dim=1)  # (n, k)
                th_kernels.append(kmap.flatten(1)[:, pos.flatten()].t().reshape(len(idx), k, -1))
                th_weights.append(w)
                th_inst.append(idx)
                th_pos.append(pos)
                th_lvl.append(torch.full_like(pos, li))
                if dkmap is not None:
                    th_depth_k.append(dkmap.flatten(1)[:, pos.flatten()].t().reshape(
                        len(idx), k, -1))
            # stuff (all classes): masked mean of G over the binary level target
            present = tg['region_target'][li].flatten(1).sum(1) > 0
            cls = torch.nonzero(present).flatten()
            if len(cls):
                m = (tg['region_target'][li][cls] > 0).float().flatten(1)
                denom = m.sum(1, keepdim=True).clamp(min=1)
                st_kernels.append((m @ kmap.flatten(1).t()) / denom)
                st_class.append(cls)
                if dkmap is not None:
                    st_depth_k.append((m @ dkmap.flatten(1).t()) / denom)
        embed = outs['mask_embed'][i].flatten(1)  # (e, hw)
        things = InstanceData(metainfo=dict(num_instances=0))
        things.probs, things.targets = embed.new_zeros(0, embed.shape[1]), \
            embed.new_zeros(0, embed.shape[1])
        things.weights = embed.new_zeros(0)
        things.levels = things.positions = things.instances = torch.zeros(
            0, dtype=torch.long, device=embed.device)
        if th_kernels:
            kern = torch.cat(th_kernels)  # (N, k, e)
            n_inst, k = kern.shape[:2]
            weights = torch.cat(th_weights)
            things = InstanceData(metainfo=dict(num_instances=n_inst))
            things.probs = (self.thing_kernel_proj(kern.reshape(n_inst * k, -1)) @ embed).sigmoid()
            target = tg['inst_s4'][torch.cat(th_inst)].flatten(1)
            things.targets = target[:, None].expand(-1, k, -1).reshape(n_inst * k, -1)
            things.weights = (weights / weights.sum(1, keepdim=True).clamp(min=1e-8)).reshape(-1)
            # where each row's kernel was taken: level, flat position y·W_l + x, instance index
            things.levels = torch.cat(th_lvl).reshape(-1)
            things.positions = torch.cat(th_pos).reshape(-1)
            things.instances = torch.cat(th_inst)[:, None].expand(-1, k).reshape(-1)
        stuff = InstanceData()
        stuff.probs = embed.new_zeros(0, embed.shape[1])
        stuff.targets = embed.new_zeros(0, embed.shape[1])
        st_targets = [tg['sem_s4'][c] for c in st_class]
        if st_kernels:
            stuff = InstanceData()
            stuff.probs = (self.stuff_kernel_proj(torch.cat(st_kernels)) @ embed).sigmoid()
            stuff.targets = torch.cat(st_targets).flatten(1)
        depth = dict()
        if with_depth:
            depth = self._depth_pairs(i, tg, outs['depth_embed'][i], th_inst, th_depth_k,
                                      st_class, st_targets, st_depth_k)
        return things, stuff, depth

    def _depth_pairs(self, img_idx: int, tg: dict, depth_embed: Tensor, th_inst: List[Tensor],
                     th_depth_k: List[Tensor], st_class: List[Tensor],
                     st_targets: List[Tensor], st_depth_k: List[Tensor]) -> Dict[str, Tensor]:
        """(prediction, GT) depth pairs of one image (spec §2.6): pixel depths of each selected
        thing kernel on its (dilated) mask and of each depth-supervised stuff class on its
        region, and the instance shifts with their GT statistic."""
        gt = tg['depth_s4']
        pred_px, gt_px, shift_pred, shift_gt, shift_img = [], [], [], [], []
        valid = gt > 0 if gt is not None else None
        gen = self.depth_generator
        if gt is not None and th_inst:
            inst_ids = torch.cat(th_inst)
            sel = (tg['inst_s4'][inst_ids] > 0) & valid  # dilated (bilinear) mask ∧ valid
            ok = sel.flatten(1).any(1)
            if ok.any():
                sel = sel[ok]
                n = sel.shape[0]
                if th_depth_k:
                    dk = torch.cat(th_depth_k)[ok]  # (n, k, D)
                    k = dk.shape[1]
                    maps = gen(depth_embed, dk.reshape(n * k, -1)).reshape(n, k, *gt.shape)
                else:  # pixel-wise depth (variant A): one dense map for every instance
                    k = self.train_cfg['pos_num']
                    maps = gen(depth_embed, None)[0].expand(n, k, *gt.shape)
                m = sel[:, None].expand(-1, k, -1, -1)
                pred_px.append(maps[m])
                gt_px.append(gt[None, None].expand(n, k, -1, -1)[m])
                if th_depth_k and gen.has_shift and self.loss_depth.with_instance_term:
                    g = gt[None].expand(n, -1, -1)
                    if self.train_cfg['shift_target'] == 'min':
                        stat = torch.where(sel, g, torch.full_like(g, float('inf')))
                        stat = stat.flatten(1).min(1).values
                    else:
                        stat = (g * sel).flatten(1).sum(1) / sel.flatten(1).sum(1).clamp(min=1)
                    shift_pred.append(gen.shift(dk).reshape(-1))
                    shift_gt.append(stat[:, None].expand(-1, k).reshape(-1))
                    shift_img.append(torch.full((n * k, ), img_idx, dtype=torch.long,
                                                device=gt.device))
        if gt is not None and st_class:
            cls = torch.cat(st_class)
            targets = torch.cat(st_targets)
            use = self.stuff_depth_classes[cls]
            sel = (targets > 0.5) & valid
            use = use & sel.flatten(1).any(1)
            if use.any():
                sel = sel[use]
                if st_depth_k:
                    maps = gen(depth_embed, torch.cat(st_depth_k)[use])
                else:
                    maps = gen(depth_embed, None)[0].expand(sel.shape[0], *gt.shape)
                pred_px.append(maps[sel])
                gt_px.append(gt[None].expand(sel.shape[0], -1, -1)[sel])
        empty = depth_embed.new_zeros(0)
        return dict(pred=torch.cat(pred_px) if pred_px else empty,
                    gt=torch.cat(gt_px) if gt_px else empty,
                    shift_pred=torch.cat(shift_pred) if shift_pred else empty,
                    shift_gt=torch.cat(shift_gt) if shift_gt else empty,
                    shift_img=torch.cat(shift_img) if shift_img else empty.long())

    # ------------------------------------------------------------------------------------------
    # inference
    def predict(self, x: Sequence[Tensor], batch_data_samples: SampleList) -> List[dict]:
        outs = self(x)
        return self.predict_by_feat(outs)

    @torch.no_grad()
    def predict_by_feat(self, outs: dict, with_candidates: bool = False) -> List[dict]:
        """Per image: fused thing and stuff candidates with their stride-4 mask logits.

        :meth:`candidates_by_feat` (fixed shapes) then :meth:`predict_by_candidates`.
        """
        return self.predict_by_candidates(self.candidates_by_feat(outs), with_candidates)

    def candidates_by_feat(self, outs: dict) -> dict:
        """Fixed-size candidates of a batch: the graph part of inference (ONNX export ends here).

        Per kernel level l: the top K = ``center_top_num`` thing-centre peaks
        with their projected kernels, and every stuff class with its pooled, projected kernel
        (score -1 when no pixel votes for it). No thresholds are applied here.

        Returns:
            dict: ``mask_embed`` (B, e^m, h, w), ``depth_embed`` (B, e^d, h, w) or None, and
            ``levels``: per level a dict of ``thing_scores`` / ``thing_index`` (y·W_l + x) /
            ``thing_classes`` (B, K), ``thing_kernels`` (B, K, e^m), ``stuff_scores``
            (B, K), ``stuff_kernels`` (B, K, e^m), and ``thing_depth_kernels`` (B, K, D) /
            ``stuff_depth_kernels`` (B, K, D) or None.
        """
        cfg = self.test_cfg
        levels = []
        for li, pool in enumerate(cfg['center_pool_sizes'][:len(outs['center_logits'])]):
            kmap = outs['kernel_maps'][li]
            dkmap = outs['depth_kernel_maps'][li]
            scores, index, classes = center_peaks_topk(outs['center_logits'][li], pool,
                                                       cfg['center_top_num'])
            lv = dict(thing_scores=scores, thing_index=index, thing_classes=classes,
                      thing_kernels=self.thing_kernel_proj(_gather_pixels(kmap, index)),
                      thing_depth_kernels=_gather_pixels(dkmap, index)
                      if dkmap is not None else None)
            st = self.kernel_fusion.pool_stuff_dense(outs['region_logits'][li].sigmoid(),
                                                     kmap, dkmap)
            lv.update(stuff_scores=st.scores, stuff_kernels=self.stuff_kernel_proj(st.kernels),
                      stuff_depth_kernels=st.depth_kernels)
            levels.append(lv)
        return dict(mask_embed=outs['mask_embed'], depth_embed=outs['depth_embed'],
                    levels=levels)

    @torch.no_grad()
    def predict_by_candidates(self, cands: dict, with_candidates: bool = False) -> List[dict]:
        """Thresholds, kernel fusion and mask logits on :meth:`candidates_by_feat` outputs.

        Returns:
            list[dict]: per image ``things`` and ``stuff`` (:class:`InstanceData` with
            ``mask_logits`` (n, h, w), ``labels`` (dataset class ids), ``scores``, the fused
            mask ``kernels`` (n, e^m), ``depth_kernels`` (n, D) when the model has depth
            kernels) and ``depth_embed`` (e^d, h, w) or None; with ``with_candidates`` (parity checks) also
            ``thing_candidates``: the pre-fusion candidates' ``level``, ``pixel_index``
            (y·W_l + x), ``fusion_keep`` (N,) and ``fusion_members`` (M, N), or None.
        """
        return [self._predict_single(cands, i, with_candidates)
                for i in range(cands['mask_embed'].shape[0])]

    def _predict_single(self, cands: dict, i: int, with_candidates: bool = False) -> dict:
        cfg = self.test_cfg
        akf = self.kernel_fusion
        embed = cands['mask_embed'][i]
        e, h, w = embed.shape
        embed_flat = embed.reshape(e, -1)
        th_k, th_s, th_c, th_d, th_lvl, th_pix = [], [], [], [], [], []
        st_k, st_s, st_c, st_d = [], [], [], []
        for li, lv in enumerate(cands['levels']):
            keep = lv['thing_scores'][i] > cfg['center_thr']
            if keep.any():
                index = lv['thing_index'][i][keep]
                th_k.append(lv['thing_kernels'][i][keep])
                th_s.append(lv['thing_scores'][i][keep])
                th_c.append(lv['thing_classes'][i][keep])
                th_lvl.append(torch.full_like(index, li))
                th_pix.append(index)
                if lv['thing_depth_kernels'] is not None:
                    th_d.append(lv['thing_depth_kernels'][i][keep])
            keep = lv['stuff_scores'][i] > akf.stuff_score_thr
            if keep.any():
                st_k.append(lv['stuff_kernels'][i][keep])
                st_s.append(lv['stuff_scores'][i][keep])
                st_c.append(keep.nonzero()[:, 0])
                if lv['stuff_depth_kernels'] is not None:
                    st_d.append(lv['stuff_depth_kernels'][i][keep])
        things = InstanceData()
        candidates = None
        if th_k:
            scores = torch.cat(th_s)
            order = torch.argsort(scores, descending=True)
            kern = torch.cat(th_k)[order]
            dk = torch.cat(th_d)[order] if th_d else None
            fused = akf.fuse_things(kern, torch.cat(th_c)[order], scores[order], dk)
            things.mask_logits = (fused.kernels @ embed_flat).reshape(-1, h, w)
            things.labels = torch.as_tensor(self.thing_class_ids, device=embed.device)[
                fused.classes]
            things.scores = fused.scores
            things.kernels = fused.kernels  # instance embeddings (KernelTracker)
            if fused.depth_kernels is not None:
                things.depth_kernels = fused.depth_kernels
            if with_candidates:
                candidates = dict(level=torch.cat(th_lvl)[order],
                                  pixel_index=torch.cat(th_pix)[order], fusion_keep=fused.keep,
                                  fusion_members=fused.members)
        else:
            things = self._no_candidates(embed)
        stuff = InstanceData()
        if st_k:
            fused = akf.fuse_stuff(torch.cat(st_k), torch.cat(st_c), torch.cat(st_s),
                                   torch.cat(st_d) if st_d else None)
            stuff.mask_logits = (fused.kernels @ embed_flat).reshape(-1, h, w)
            stuff.labels = fused.classes
            stuff.scores = fused.scores
            stuff.kernels = fused.kernels
            if fused.depth_kernels is not None:
                stuff.depth_kernels = fused.depth_kernels
        else:
            stuff = self._no_candidates(embed)
        depth_embed = cands['depth_embed'][i] if cands['depth_embed'] is not None else None
        out = dict(things=things, stuff=stuff, depth_embed=depth_embed)
        if with_candidates:
            out['thing_candidates'] = candidates
        return out

    def _no_candidates(self, embed: Tensor) -> InstanceData:
        """Empty thing / stuff candidates (the fields of a non-empty set, zero rows)."""
        empty = InstanceData(mask_logits=embed.new_zeros(0, *embed.shape[-2:]),
                             labels=torch.zeros(0, dtype=torch.long, device=embed.device),
                             scores=embed.new_zeros(0), kernels=embed.new_zeros(0, len(embed)))
        if self.with_depth and self.depth_generator.kernel_channels > 0:
            empty.depth_kernels = embed.new_zeros(0, self.depth_generator.kernel_channels)
        return empty


def _gather_pixels(maps: Tensor, index: Tensor) -> Tensor:
    """(B, C, H, W) maps at flat pixel indices (B, K) -> (B, K, C)."""
    b, c, h, w = maps.shape
    # peaks of a map with fewer than K pixels may point past H*W (score 0, see
    # center_peaks_topk): K zero columns keep them in range without a shape-dependent clamp
    flat = F.pad(maps.reshape(b, c, h * w), (0, index.shape[1]))
    return torch.gather(flat, 2, index[:, None, :].expand(-1, c, -1)).transpose(1, 2)
