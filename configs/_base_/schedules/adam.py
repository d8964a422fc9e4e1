# Official solver (spec §3.1), every stage: Adam (coupled L2 weight decay 1e-4, none on norm
# layers), per-element gradient clipping at 35. The LR schedule and its length come from
# poly_10k.py / poly_130k.py.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4),
    clip_grad=dict(type='value', clip_value=35.0),
    paramwise_cfg=dict(norm_decay_mult=0.0))
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
