# Table 3 variant F: IDE + T2 + instance-level loss L^I on the mean instance depth (full model).
_base_ = '../panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py'
depth_cfg = dict(mode='T2', d_max=88.0, clamp=(0.0, 80.0))
model = dict(panoptic_head=dict(depth=depth_cfg, loss_depth=dict(instance_weight=1.0)),
             train_cfg=dict(shift_target='mean'))
