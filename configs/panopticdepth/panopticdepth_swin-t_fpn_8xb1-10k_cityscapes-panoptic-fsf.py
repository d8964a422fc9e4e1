# PanopticDepth Swin-T, stage 2 of 3: full-scale fine-tuning ("FSF", paper §3.2):
# 1024x2048 crops of images resized to a short edge in {1024, 1088, ..., 1536}, batch 8
# (8 GPUs x 1), Adam **1e-5** (official FullScaleFinetune.yaml; the paper does not give the LR).
# Initialised from stage 1; next: panopticdepth_swin-t_fpn_8xb1-10k_cityscapes-dps.py
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/models/swin_backbones.py',
    '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
train_pipeline = {{_base_.fsf_train_pipeline}}
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))  # x 8 GPUs
# stage-1 output
load_from = 'work_dirs/panopticdepth_swin-t_fpn_8xb4-130k_cityscapes-panoptic/iter_130000.pth'
model = dict(
    data_preprocessor={{_base_.swin_data_preprocessor}},
    backbone={{_base_.swin_t_finetune}},  # stages 2-3: first stage frozen, no ImageNet load
    neck={{_base_.swin_neck}},
    panoptic_head=dict(depth=None),
    test_cfg=dict(fusion=dict(merge_mode='ps')))
optim_wrapper = dict(optimizer=dict(lr=1e-5))
default_hooks = dict(checkpoint=dict(interval=5000))
