# Table 3 variant B: instance-wise depth (IDE) without normalisation, no L^I.
_base_ = '../panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py'
depth_cfg = dict(mode='instance', d_max=88.0, clamp=(0.0, 80.0))
model = dict(panoptic_head=dict(depth=depth_cfg))
