# Cityscapes-DVPS ("Cityscapes-DPS"): data/cityscapes-dvps/video_sequence/{train,val}
# (README: "Datasets"). Official DPS stage: full 1024x2048 frames, flip + colour jitter, no crop.
dataset_type = 'CityscapesDPSDataset'
data_root = 'data/cityscapes-dvps/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='DPSRandomFlip', prob=0.5),
    # boxes on the last pixel, as the official DPS mapper (thing level assignment and radius)
    dict(type='PackDPSInputs', bbox_max_inclusive=True),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=True),
    dict(type='PackDPSInputs'),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix=dict(img_path='video_sequence/train'),
                 pipeline=train_pipeline, backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    # whole sequences per process, frames in order: the tracker and DVPQ need them
    sampler=dict(type='SequenceSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix=dict(img_path='video_sequence/val'), test_mode=True,
                 pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(type='DPQMetric', protocol='cityscapes-dvps')
test_evaluator = val_evaluator

# test-time augmentation (tools/test.py --tta): horizontal flip x 3 scales
tta_model = dict(type='DPSTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='TestTimeAug',
         transforms=[[dict(type='DPSResize', ratio_range=(r, r)) for r in (0.75, 1.0, 1.25)],
                     [dict(type='DPSRandomFlip', prob=0.0),
                      dict(type='DPSRandomFlip', prob=1.0)],
                     [dict(type='PackDPSInputs')]])
]
