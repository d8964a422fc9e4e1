"""Registries used by mmpdepth.

mmpdepth registers every component directly into **mmdet's** registries (which are children of
mmengine's root registries). A config with ``default_scope='mmdet'`` and
``custom_imports=dict(imports=['mmpdepth'])`` therefore finds our models, datasets, transforms,
metrics and visualizers with plain mmengine/mmdet tooling, and mmdet's own components
(ResNet, SwinTransformer, FPN, DiceLoss, PhotoMetricDistortion, ...) stay available beside ours.
"""
from mmdet.registry import (DATA_SAMPLERS, DATASETS, EVALUATOR, HOOKS, LOOPS,
                            METRICS, MODELS, OPTIM_WRAPPERS, PARAM_SCHEDULERS,
                            RUNNERS, TASK_UTILS, TRANSFORMS, VISBACKENDS,
                            VISUALIZERS)

__all__ = [
    'DATASETS', 'DATA_SAMPLERS', 'EVALUATOR', 'HOOKS', 'LOOPS', 'METRICS',
    'MODELS', 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'RUNNERS', 'TASK_UTILS',
    'TRANSFORMS', 'VISBACKENDS', 'VISUALIZERS'
]
