# PanopticDepth Swin-T on SemKITTI-DVPS: initialised from the Cityscapes-DPS model,
# 384x1280 crops (paper §4.3), resize [0.8, 1.2] with depth scaled accordingly, batch 8, Adam 1e-4,
# 10k iterations. No official recipe exists (spec §3.4): iterations and LR follow the Cityscapes
# DPS stage. Things are classes 0-7; the stuff area limit is scaled to KITTI's smaller frames.
_base_ = [
    '../_base_/models/panopticdepth_swin-t_fpn.py', '../_base_/datasets/semkitti_dps.py',
    '../_base_/schedules/adam_poly_10k.py', '../_base_/default_runtime.py'
]
load_from = 'work_dirs/panopticdepth_swin-t_fpn_10kx8_cityscapes-dps/iter_10000.pth'  # Cityscapes-DPS model
model = dict(
    # stages 2-3: patch embedding and the first stage frozen (as res2 for R-50)
    backbone=dict(frozen_stages=1, init_cfg=None),
    # SemKITTI-DVPS things: classes 0-7 (mmpdepth.formats.SEMKITTI_DVPS_FORMAT); the fusion head
    # takes them from here. Output ids stay class * 1000 + instance: DPQMetric writes and scores
    # them in SemKITTI's class * 2**20 + instance encoding (val_evaluator of the dataset base).
    panoptic_head=dict(thing_class_ids=(0, 1, 2, 3, 4, 5, 6, 7)),
    test_cfg=dict(fusion=dict(stuff_area_limit=512)))
train_dataloader = dict(batch_size=1)  # x 8 GPUs
default_hooks = dict(checkpoint=dict(interval=3000))
