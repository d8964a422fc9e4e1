# Cityscapes panoptic (stages 1-2): data/cityscapes/ with leftImg8bit/ and gtFine/ made by
# cityscapesscripts createPanopticImgs (README: "Datasets"). Stage 1 pipeline of the official
# config: short edge in {512, ..., 2048}, random 512x1024 crop, flip, colour jitter.
dataset_type = 'CityscapesPanopticDataset'
data_root = 'data/cityscapes/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=False),
    dict(type='DPSResize', short_edge_choices=(512, 768, 1024, 1152, 1216, 1344, 1408, 1536,
                                               1664, 1728, 1856, 1920, 2048), max_size=4096),
    dict(type='DPSRandomFlip', prob=0.5),
    dict(type='DPSRandomCrop', crop_size=(512, 1024), crop_type='random'),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackDPSInputs'),
]
# Stage 2 (full-scale fine-tuning, official FullScaleFinetune.yaml): short edge in
# {1024, 1088, ..., 1536}, 1024x2048 crops, flip, colour jitter, 1 image per GPU. A stage-2 config
# selects it (this file has no base, so configs stay three levels deep):
#   train_pipeline = {{_base_.fsf_train_pipeline}}
#   train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))
fsf_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=False),
    dict(type='DPSResize', short_edge_choices=tuple(range(1024, 1537, 64)), max_size=4096),
    dict(type='DPSRandomFlip', prob=0.5),
    dict(type='DPSRandomCrop', crop_size=(1024, 2048), crop_type='random'),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackDPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=False),
    dict(type='PackDPSInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='gtFine/cityscapes_panoptic_train.json',
                 data_prefix=dict(img_path='leftImg8bit/train',
                                  seg='gtFine/cityscapes_panoptic_train'),
                 filter_cfg=dict(filter_empty_gt=False),
                 pipeline=train_pipeline, backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='gtFine/cityscapes_panoptic_val.json',
                 data_prefix=dict(img_path='leftImg8bit/val',
                                  seg='gtFine/cityscapes_panoptic_val'),
                 test_mode=True, pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(type='DPQMetric', protocol='cityscapes-dvps', with_depth=False)
test_evaluator = val_evaluator
