# Cityscapes panoptic for stage 2 (full-scale fine-tuning, official FullScaleFinetune.yaml):
# short edge in {1024, 1088, ..., 1536}, 1024x2048 crops, flip, colour jitter, 1 image per GPU.
_base_ = './cityscapes_panoptic.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDPSAnnotations', with_depth=False),
    dict(type='DPSResize', short_edge_choices=tuple(range(1024, 1537, 64)), max_size=4096),
    dict(type='DPSRandomFlip', prob=0.5),
    dict(type='DPSRandomCrop', crop_size=(1024, 2048), crop_type='random'),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackDPSInputs'),
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))  # x 8 GPUs
