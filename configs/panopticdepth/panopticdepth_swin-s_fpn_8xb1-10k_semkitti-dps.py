# PanopticDepth Swin-S on SemKITTI-DVPS: initialised from the Cityscapes-DPS model,
# 384x1280 crops (paper §4.3), resize [0.8, 1.2] with depth scaled accordingly, batch 8, Adam 1e-4,
# 10k iterations. No official recipe exists (spec §3.4): iterations and LR follow the Cityscapes
# DPS stage. Things are classes 0-7; the stuff area limit is scaled to KITTI's smaller frames.
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/models/swin_backbones.py',
    '../_base_/datasets/semkitti_dps.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
# Cityscapes-DPS model
load_from = 'work_dirs/panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-dps/iter_10000.pth'
model = dict(
    data_preprocessor={{_base_.swin_data_preprocessor}},
    backbone={{_base_.swin_s_finetune}},  # stages 2-3: first stage frozen, no ImageNet load
    neck={{_base_.swin_neck}},
    # SemKITTI-DVPS things: classes 0-7 (mmpdepth.formats.SEMKITTI_DVPS_FORMAT); the fusion head
    # takes them from here. Output ids stay class * 1000 + instance: DPQMetric writes and scores
    # them in SemKITTI's class * 2**20 + instance encoding (val_evaluator of the dataset base).
    panoptic_head=dict(thing_class_ids=(0, 1, 2, 3, 4, 5, 6, 7)),
    test_cfg=dict(fusion=dict(stuff_area_limit=512)))
train_dataloader = dict(batch_size=1)  # x 8 GPUs
default_hooks = dict(checkpoint=dict(interval=3000))
