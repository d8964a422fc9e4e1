# Official solver (spec §3.1): Adam (coupled L2 weight decay 1e-4, none on norm layers),
# per-element gradient clipping at 35, linear warm-up 2000 iters from 0.001 x, poly 0.9 decay
# applied during warm-up too (two chained schedulers multiply, as WarmupPolyLR does).
max_iters = 130000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4),
    clip_grad=dict(type='value', clip_value=35.0),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2000),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# total batch 32 on 8 GPUs in stage 1; lets mmengine rescale the LR for other batch sizes
auto_scale_lr = dict(enable=False, base_batch_size=32)
