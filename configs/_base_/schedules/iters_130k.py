# Stage 1 (panoptic pre-training): 130k iterations, total batch 32 (8 GPUs x 4); the LR schedule
# (adam_poly.py) decays to 0 at max_iters. auto_scale_lr lets mmengine rescale the LR for other
# batch sizes (--auto-scale-lr).
max_iters = 130000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(enable=False, base_batch_size=32)
