# Stage 1 (panoptic pre-training): 130k iterations, linear warm-up 2000 iterations from 0.001 x,
# poly 0.9 decay applied during warm-up too (two chained schedulers multiply, as the official
# WarmupPolyLR does). Goes with adam.py.
max_iters = 130000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2000),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
# total batch 32 on 8 GPUs in stage 1; lets mmengine rescale the LR for other batch sizes
auto_scale_lr = dict(enable=False, base_batch_size=32)
