# Table 3 variant C: IDE + instance depth normalisation T1 (Eq. 4), no L^I.
_base_ = '../panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py'
depth_cfg = dict(mode='T1', d_max=88.0, clamp=(0.0, 80.0))
model = dict(panoptic_head=dict(depth=depth_cfg, loss_depth=dict(instance_weight=0.0)))
