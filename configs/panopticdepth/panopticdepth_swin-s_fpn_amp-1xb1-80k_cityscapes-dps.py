# Stage 3 (DPS) on ONE 24 GB GPU at the official effective batch 8:
# batch 1 x 8 accumulated iterations (mmengine accumulative_counts: the loss is divided by 8 and
# the optimizer steps every 8th iteration, as the mean over 8 GPUs x 1 does), mixed precision
# (AutoAmpOptimWrapper: fp16 + dynamic loss scaling on CUDA) and activation checkpointing of
# the backbone, the stride-4 embedding towers and the kernel towers (README "Training on GPUs").
# The schedule is counted in iterations = images, so it is 8x the 8-GPU one: 80k iterations,
# warm-up 16k, the same 10k optimizer steps. Norm layers are frozen (BN) or per-sample (LN), so
# batch 1 x 8 gives the 8-GPU run's gradients up to float rounding.
#   python tools/train.py configs/panopticdepth/panopticdepth_swin-s_fpn_amp-1xb1-80k_cityscapes-
# dps.py
_base_ = './panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-dps.py'
accumulate = 8
max_iters = 10000 * accumulate
model = dict(
    backbone=dict(with_cp=True),
    panoptic_head=dict(dcn_impl='auto', embed_with_cp=True, tower_with_cp=True))
optim_wrapper = dict(type='AutoAmpOptimWrapper', loss_scale='dynamic',
                     accumulative_counts=accumulate)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2000 * accumulate),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
train_dataloader = dict(batch_size=1)
default_hooks = dict(checkpoint=dict(interval=3000 * accumulate))
