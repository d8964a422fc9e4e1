# Official solver (spec §3.1), every stage: Adam (coupled L2 weight decay 1e-4, none on norm
# layers), per-element gradient clipping at 35; linear warm-up 2000 iterations from 0.001 x and
# poly 0.9 decay applied during warm-up too (two chained schedulers multiply, as the official
# WarmupPolyLR does). The poly decay has no `end`: mmengine ends it at train_cfg.max_iters, so
# the length is set once (iters_10k.py / iters_130k.py, or --cfg-options train_cfg.max_iters=N).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4),
    clip_grad=dict(type='value', clip_value=35.0),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2000),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0),
]
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
