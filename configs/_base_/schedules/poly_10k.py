# Stages 2 (full-scale fine-tuning) and 3 (DPS): 10k iterations with stage 1's warm-up and poly
# decay (poly_130k.py), total batch 8. Goes with adam.py.
max_iters = 10000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2000),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(enable=False, base_batch_size=8)
