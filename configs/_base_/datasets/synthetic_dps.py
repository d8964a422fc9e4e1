# The embedded synthetic DPS set (Cityscapes-DVPS layout, 256x512), made by
#   python tools/misc/make_synthetic_dps.py --out data/synthetic_dps
# Loaded by the same CityscapesDPSDataset as the real data.
dataset_type = 'CityscapesDPSDataset'
data_root = 'data/synthetic_dps/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=True),
    dict(type='DPSResize', ratio_range=(0.8, 1.2), scale_depth=True),
    dict(type='DPSRandomCrop', crop_size=(256, 512), crop_type='random'),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='DPSRandomFlip', prob=0.5),
    dict(type='PackDPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDPSAnnotations', with_depth=True),
    dict(type='PackDPSInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix=dict(img_path='video_sequence/train', camera='camera.json'),
                 pipeline=train_pipeline, backend_args=backend_args))
val_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    # whole sequences per process, frames in order: the tracker and DVPQ need them
    sampler=dict(type='SequenceSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix=dict(img_path='video_sequence/val', camera='camera.json'),
                 test_mode=True, pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(type='DPQMetric', protocol='cityscapes-dvps', skip_absent=True)
test_evaluator = val_evaluator

# test-time augmentation (tools/test.py --tta): horizontal flip x 2 scales
tta_model = dict(type='DPSTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='TestTimeAug',
         transforms=[[dict(type='DPSResize', ratio_range=(1.0, 1.0)),
                      dict(type='DPSResize', ratio_range=(1.25, 1.25))],
                     [dict(type='DPSRandomFlip', prob=0.0),
                      dict(type='DPSRandomFlip', prob=1.0)],
                     [dict(type='PackDPSInputs')]])
]
