"""Plugin skeleton: registration into mmdet's registries and the install check messages."""
import warnings

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from mmpdepth.registry import DATASETS, METRICS, MODELS, TRANSFORMS, VISUALIZERS
from mmpdepth.utils.dependency_check import (FIX_HINT, check_dependencies, format_problems,
                                             warn_if_unsupported)


def test_registered_component_builds_from_a_config_dict():
    @MODELS.register_module(force=True)
    class DummyDPSComponent(nn.Module):

        def __init__(self, width: int = 3):
            super().__init__()
            self.width = width

    cfg = Config(dict(default_scope='mmdet', model=dict(type='DummyDPSComponent', width=7)))
    init_default_scope(cfg.default_scope)
    built = ROOT_MODELS.build(cfg.model)  # plain mmengine tooling, through the default scope
    assert isinstance(built, DummyDPSComponent) and built.width == 7


@pytest.mark.parametrize('registry,name', [
    (MODELS, 'PanopticDepth'), (MODELS, 'PanopticDepthHead'),
    (MODELS, 'PanopticDepthFusionHead'), (MODELS, 'AdaptiveKernelFusion'),
    (MODELS, 'InstanceDepthLoss'), (MODELS, 'DPSDataPreprocessor'),
    (DATASETS, 'CityscapesDPSDataset'), (DATASETS, 'SemKITTIDPSDataset'),
    (DATASETS, 'CityscapesPanopticDataset'), (TRANSFORMS, 'LoadDPSAnnotations'),
    (TRANSFORMS, 'PackDPSInputs'), (TRANSFORMS, 'DPSResize'), (METRICS, 'DPQMetric'),
    (VISUALIZERS, 'DPSLocalVisualizer')
])
def test_components_live_in_mmdet_registries(registry, name):
    assert registry.scope == 'mmdet'
    assert registry.get(name) is not None
    # mmdet's own components stay reachable beside ours
    assert MODELS.get('ResNet') is not None and MODELS.get('DiceLoss') is not None


def test_version_check_explains_problems_and_fix():
    problems = check_dependencies(
        versions={'mmcv': '2.2.0', 'mmengine': '0.10.7', 'mmdet': None,
                  'mmsegmentation': '1.2.2'}, has_mmcv_ops=False)
    text = format_problems(problems)
    assert 'mmcv 2.2.0 is outside the supported range [2.0.0rc4, 2.2.0)' in text
    assert 'mmdet is not installed' in text
    assert 'no compiled ops' in text and 'MMCV_WITH_OPS=1' in text
    assert FIX_HINT in text and 'make test' in text
    lite = check_dependencies(versions={'mmcv': 'lite:2.1.0', 'mmengine': '0.10.7',
                                        'mmdet': '3.3.0', 'mmsegmentation': '1.2.2'})
    assert len(lite) == 1 and 'mmcv-lite' in lite[0] and 'mmcv._ext' in lite[0]


def test_installed_stack_passes_the_check():
    assert check_dependencies() == []
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert warn_if_unsupported() == []
