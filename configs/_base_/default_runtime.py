default_scope = 'mmdet'
custom_imports = dict(imports=['mmpdepth'], allow_failed_imports=False)
# DPSRunner: weights-only resume, strict load_from, atomic checkpoints (docs/en/reliability.md)
runner_type = 'DPSRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook', draw=False))
# stores mmengine's message hub as plain data: checkpoints load with weights_only=True;
# stops training at the first NaN / Inf loss, before it is saved (patience: iterations allowed)
custom_hooks = [dict(type='PlainCheckpointHook'), dict(type='NonFiniteLossHook', patience=1)]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DPSLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

# a batch without things leaves the thing-kernel projection without gradient
find_unused_parameters = True

log_level = 'INFO'
# seed=0, deterministic=True make a resumed run end bit-identical to an uninterrupted one
randomness = dict(seed=None, deterministic=False)
load_from = None
resume = False
