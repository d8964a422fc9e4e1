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


def _add_mmpdepth_scope() -> dict:
    """Registries with scope ``'mmpdepth'``, one child of each mmdet registry.

    A config that inherits ``mmpdepth::...`` gets ``_scope_='mmpdepth'`` on its components, and
    mmengine builds those through the registries of that scope. These children hold nothing of
    their own: a lookup falls through to mmdet's registries (where mmpdepth registers everything)
    and on to mmengine's, exactly as with ``default_scope='mmdet'``.
    """
    import mmdet.registry as mmdet_registry
    from mmengine.registry import Registry

    from .utils.package_configs import SCOPE, register_config_scope
    register_config_scope()
    children = {}
    for name, parent in vars(mmdet_registry).items():
        if isinstance(parent, Registry) and name.isupper():
            children[name] = parent.children.get(SCOPE) or Registry(
                parent.name, parent=parent, scope=SCOPE, locations=['mmpdepth'])
    return children


#: the ``'mmpdepth'`` scope's registries (children of mmdet's), by mmdet's registry name
MMPDEPTH_SCOPE_REGISTRIES = _add_mmpdepth_scope()
