# Stages 2 (full-scale fine-tuning) and 3 (DPS): 10k iterations, total batch 8 (8 GPUs x 1); the
# LR schedule (adam_poly.py) decays to 0 at max_iters.
max_iters = 10000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(enable=False, base_batch_size=8)
