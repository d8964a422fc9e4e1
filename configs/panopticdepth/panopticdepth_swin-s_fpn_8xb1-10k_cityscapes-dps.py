# PanopticDepth Swin-S, stage 3 of 3: depth-aware panoptic training on
# Cityscapes-DVPS, full 1024x2048 frames with flip and colour jitter, batch 8 (8 GPUs x 1; any
# batch size works here, the official code asserts 1 per GPU), Adam 1e-4, 10k iterations.
# The official config disables the crop, and with it the paper's [0.8, 1.2] rescaling and depth
# scaling; we follow the official config (README: "paper vs official code").
# Initialised from stage 2 (depth branches start from scratch).
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/models/swin_backbones.py',
    '../_base_/datasets/cityscapes_dps.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
# stage-2 output
load_from = 'work_dirs/panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-panoptic-fsf/iter_10000.pth'
# strict loading (DPSRunner): the stage-2 checkpoint has every tensor but the depth branches'
load_from_allow_missing = ('panoptic_head.depth_', )
model = dict(
    data_preprocessor={{_base_.swin_data_preprocessor}},
    backbone={{_base_.swin_s_finetune}},  # stages 2-3: first stage frozen, no ImageNet load
    neck={{_base_.swin_neck}})
train_dataloader = dict(batch_size=1)  # x 8 GPUs
default_hooks = dict(checkpoint=dict(interval=3000))
