# PanopticDepth Swin-S, stage 2 of 3: full-scale fine-tuning ("FSF", paper §3.2):
# 1024x2048 crops of images resized to a short edge in {1024, 1088, ..., 1536}, batch 8
# (8 GPUs x 1), Adam **1e-5** (official FullScaleFinetune.yaml; the paper does not give the LR).
# Initialised from stage 1; next: panopticdepth_swin-s_fpn_10kx8_cityscapes-dps.py
_base_ = [
    '../_base_/models/panopticdepth_swin-s_fpn.py', '../_base_/datasets/cityscapes_panoptic_fsf.py',
    '../_base_/schedules/adam_poly_10k.py', '../_base_/default_runtime.py'
]
load_from = 'work_dirs/panopticdepth_swin-s_fpn_130kx32_cityscapes-panoptic/iter_130000.pth'  # stage-1 output
model = dict(
    # stages 2-3: patch embedding and the first stage frozen (as res2 for R-50)
    backbone=dict(frozen_stages=1, init_cfg=None),
    panoptic_head=dict(depth=None),
    test_cfg=dict(fusion=dict(merge_mode='ps')))
optim_wrapper = dict(optimizer=dict(lr=1e-5))
default_hooks = dict(checkpoint=dict(interval=5000))
