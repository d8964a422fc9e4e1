# PanopticDepth Swin-S, stage 1 of 3: panoptic pre-training on Cityscapes
# (2975 images), 512x1024 crops of images resized to a short edge in {512..2048}, batch 32
# (8 GPUs x 4), Adam 1e-4, 130k iterations (official PanopticDepth-R50-cityscapes.yaml).
# Next: panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-panoptic-fsf.py
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/models/swin_backbones.py',
    '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_130k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor={{_base_.swin_data_preprocessor}},
    backbone={{_base_.swin_s}},
    neck={{_base_.swin_neck}},
    panoptic_head=dict(depth=None),
    test_cfg=dict(fusion=dict(merge_mode='ps')))
train_dataloader = dict(batch_size=4)  # x 8 GPUs = 32
default_hooks = dict(checkpoint=dict(interval=20000))
