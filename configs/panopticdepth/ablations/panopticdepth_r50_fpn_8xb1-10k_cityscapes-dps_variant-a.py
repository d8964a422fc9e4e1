# Table 3 variant A: pixel-wise depth (no instance-wise depth estimation, no normalisation, no L^I).
_base_ = '../panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py'
depth_cfg = dict(mode='pixel', embed_channels=1, d_max=88.0, clamp=(0.0, 80.0))
model = dict(panoptic_head=dict(depth=depth_cfg))
