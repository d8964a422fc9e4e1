# PanopticDepth Swin-S on SemKITTI-DVPS: initialised from the Cityscapes-DPS model,
# 384x1280 crops (paper §4.3), resize [0.8, 1.2] with depth scaled accordingly, batch 8, Adam 1e-4,
# 10k iterations. No official recipe exists (spec §3.4): iterations and LR follow the Cityscapes
# DPS stage. Things are classes 0-7; the stuff area limit is scaled to KITTI's smaller frames.
_base_ = [
    '../_base_/models/panopticdepth_swin-s_fpn.py', '../_base_/datasets/semkitti_dps.py',
    '../_base_/schedules/adam_poly_10k.py', '../_base_/default_runtime.py'
]
load_from = 'work_dirs/panopticdepth_swin-s_fpn_10kx8_cityscapes-dps/iter_10000.pth'  # Cityscapes-DPS model
thing_class_ids = (0, 1, 2, 3, 4, 5, 6, 7)
model = dict(
    # stages 2-3: patch embedding and the first stage frozen (as res2 for R-50)
    backbone=dict(frozen_stages=1, init_cfg=None),
    panoptic_head=dict(thing_class_ids=thing_class_ids),
    panoptic_fusion_head=dict(thing_class_ids=thing_class_ids),
    test_cfg=dict(fusion=dict(stuff_area_limit=512, label_divisor=2**20)))
val_evaluator = dict(type='DPQMetric', protocol='semkitti-dvps', pred_label_divisor=2**20)
test_evaluator = val_evaluator
train_dataloader = dict(batch_size=1)  # x 8 GPUs
default_hooks = dict(checkpoint=dict(interval=3000))
