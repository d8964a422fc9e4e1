"""Folding BatchNorms into convolutions for inference (``--fuse-conv-bn``, DPSInferencer)."""
import copy
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mmpdepth.engine.hooks import FuseConvBNHook
from mmpdepth.models.conv_bn_fusion import fuse_conv_bn_for_inference, unwrap_detector
from mmpdepth.models.test_time_augs import DPSTTAModel
from mmpdepth.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OFFICIAL = osp.join(ROOT, 'configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-dps.py')
TINY = osp.join(ROOT, 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py')


def _batch_norms(module):
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def _model(config):
    """The config's model in eval mode, its BatchNorms given non-trivial statistics (the
    defaults, mean 0 and variance 1, would make most of the folding a no-op)."""
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model).eval()
    g = torch.Generator().manual_seed(1)
    for bn in _batch_norms(model):
        c = bn.num_features
        bn.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
        bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
        bn.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
        bn.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    return model


def _outputs(model, x):
    with torch.no_grad():
        out = model._forward(x)
    return [t for v in out.values() if v is not None
            for t in (v if isinstance(v, tuple) else (v, )) if torch.is_tensor(t)]


@pytest.mark.parametrize('config', [OFFICIAL, TINY], ids=['official-r50', 'tiny-r18'])
def test_folding_keeps_every_head_output(config):
    model = _model(config)
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(2)) * 50
    ref = _outputs(model, x)
    n_backbone = len(_batch_norms(model.backbone)) + len(_batch_norms(model.neck))
    assert n_backbone > 0
    fused = copy.deepcopy(model)
    assert fuse_conv_bn_for_inference(fused) == n_backbone
    assert not _batch_norms(fused.backbone) and not _batch_norms(fused.neck)
    out = _outputs(fused, x)
    assert len(out) == len(ref)
    for a, b in zip(ref, out):
        scale = a.abs().max().clamp_min(1e-6)
        assert ((a - b).abs().max() / scale) < 1e-4
    # the head's own norms are not touched
    assert len(_batch_norms(fused)) == len(_batch_norms(model)) - n_backbone


def test_hook_folds_the_detector_inside_a_tta_wrapper_and_says_how_many(monkeypatch):
    logged = []
    monkeypatch.setattr('mmpdepth.engine.hooks.fuse_conv_bn_hook.print_log',
                        lambda msg, **kw: logged.append(msg))
    model = _model(TINY)
    n = len(_batch_norms(model.backbone)) + len(_batch_norms(model.neck))
    runner = SimpleNamespace(model=DPSTTAModel(module=model))
    assert unwrap_detector(runner.model) is model
    FuseConvBNHook().before_test(runner)
    assert not _batch_norms(model.backbone)
    assert logged == [f'FuseConvBNHook: folded {n} BatchNorm layers into their convolutions']
    # a second call finds nothing left to fold
    assert fuse_conv_bn_for_inference(runner.model) == 0


def test_a_part_that_normalises_before_its_conv_is_left_unfolded():
    """``fuse_conv_bn`` pairs a conv with the BatchNorm registered after it; a ConvModule with
    ``order=('norm', 'conv', 'act')`` applies that BatchNorm first, so folding would change
    the output: the part is skipped with a warning."""
    from mmcv.cnn import ConvModule
    pre_norm = ConvModule(8, 8, 3, padding=1, norm_cfg=dict(type='BN'),
                          order=('norm', 'conv', 'act')).eval()
    post_norm = ConvModule(8, 8, 3, padding=1, norm_cfg=dict(type='BN')).eval()
    detector = torch.nn.Module()
    detector.backbone, detector.neck = pre_norm, post_norm
    with pytest.warns(UserWarning, match='backbone has a ConvModule that normalises before'):
        assert fuse_conv_bn_for_inference(detector) == 1
    assert len(_batch_norms(detector.backbone)) == 1 and not _batch_norms(detector.neck)
