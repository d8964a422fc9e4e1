# Tiny CPU config: ResNet-18 PanopticDepth on the embedded synthetic DPS set, trained and tested
# at half resolution (128x256; predictions are rescaled to the 256x512 originals). Random
# initialisation, no download. Make the data first:
#   python tools/misc/make_synthetic_dps.py --out data/synthetic_dps
# `make demo` trains this config for fewer iterations (see README).
_base_ = [
    '../_base_/models/panopticdepth_r18_tiny.py', '../_base_/datasets/synthetic_dps.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDPSAnnotations', with_depth=True),
    # fixed downscale of the input (a smaller camera image: depth values unchanged) ...
    dict(type='DPSResize', scale=(256, 128), keep_ratio=True),
    # ... then the paper's random zoom with depth scaled accordingly
    dict(type='DPSResize', ratio_range=(0.8, 1.2), scale_depth=True),
    dict(type='DPSRandomCrop', crop_size=(128, 256), crop_type='random'),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='DPSRandomFlip', prob=0.5),
    dict(type='PackDPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDPSAnnotations', with_depth=True),
    dict(type='DPSResize', scale=(256, 128), keep_ratio=True),
    dict(type='PackDPSInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# instance_scales stay the official pixel ranges: a level's range is tied to its stride
# (4-16 cells), not to the image size
model = dict(test_cfg=dict(fusion=dict(stuff_area_limit=128)))  # 0.1 % of 256x512, as 2048 px official

max_iters = 2000
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
auto_scale_lr = dict(enable=False, base_batch_size=4)

# test-time augmentation at the training resolution: flip x 2 scales
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug',
         transforms=[[dict(type='DPSResize', scale=(256, 128), keep_ratio=True)],
                     [dict(type='DPSResize', ratio_range=(1.0, 1.0)),
                      dict(type='DPSResize', ratio_range=(1.25, 1.25))],
                     [dict(type='DPSRandomFlip', prob=0.0),
                      dict(type='DPSRandomFlip', prob=1.0)],
                     [dict(type='PackDPSInputs')]])
]
