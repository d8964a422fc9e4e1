"""Every config under configs/ loads, builds its model (no downloads) and its pipelines; one loss
forward runs for the R-50 / Swin-T / Swin-S DPS models at a small input size."""
import copy
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import InstanceData, PixelData

from mmpdepth.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p and osp.sep + 'deploy' + osp.sep not in p)
DEPLOY_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'deploy', '*.py')))


def no_download(model_cfg):
    cfg = copy.deepcopy(model_cfg)
    cfg.backbone.init_cfg = None
    return cfg


def test_there_are_configs_for_every_backbone_stage_and_ablation():
    names = {osp.relpath(p, osp.join(ROOT, 'configs')) for p in CONFIGS}
    for bb in ('r50', 'swin-t', 'swin-s'):
        for stage in ('130kx32_cityscapes-panoptic', '10kx8_cityscapes-panoptic-fsf',
                      '10kx8_cityscapes-dps', '10kx8_semkitti-dps'):
            assert f'panopticdepth/panopticdepth_{bb}_fpn_{stage}.py' in names
        assert f'pdepth_{bb}_cityscapes-dps.py' in names
    for v in 'abcdef':
        assert f'panopticdepth/ablations/panopticdepth_r50_fpn_10kx8_cityscapes-dps_variant-{v}.py' \
            in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds_model_and_pipelines(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet' and 'mmpdepth' in cfg.custom_imports['imports']
    model = MODELS.build(no_download(cfg.model))
    assert sum(p.numel() for p in model.parameters()) > 0
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        Compose(cfg[loader].dataset.pipeline)
    if 'stage' in path or '_fpn_' in path:
        # later stages document where they start from
        if 'fsf' in path or 'cityscapes-dps' in path or 'semkitti' in path:
            if 'official' not in path and 'synthetic' not in path:
                assert cfg.load_from, f'{path} should set load_from to the previous stage'


def fake_batch(h=64, w=128, num_classes=19, things=(11, 13)):
    img = torch.randint(0, 255, (3, h, w), dtype=torch.uint8)
    sem = torch.zeros(1, h, w, dtype=torch.long)
    sem[:, h // 2:] = 0
    sem[:, :h // 2] = 10
    masks = np.zeros((2, h, w), np.uint8)
    masks[0, 20:40, 10:40] = 1
    masks[1, 30:60, 60:100] = 1
    for m, c in zip(masks, things):
        sem[0][torch.from_numpy(m).bool()] = c
    ds = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    ds.gt_instances = InstanceData(labels=torch.tensor(things), masks=BitmapMasks(masks, h, w),
                                   bboxes=torch.tensor([[10., 20., 40., 40.], [60., 30., 100., 60.]]))
    ds.gt_sem_seg = PixelData(sem_seg=sem)
    ds.gt_depth_map = PixelData(data=torch.rand(1, h, w) * 50 + 1)
    return dict(inputs=[img], data_samples=[ds])


@pytest.mark.parametrize('name', ['r50', 'swin-t', 'swin-s'])
def test_loss_forward_of_each_backbone(name):
    cfg = Config.fromfile(osp.join(ROOT, f'configs/pdepth_{name}_cityscapes-dps.py'))
    model = revert_sync_batchnorm(MODELS.build(no_download(cfg.model)))
    model.train()
    data = model.data_preprocessor(fake_batch(), True)
    losses = model(**data, mode='loss')
    assert {'loss_pos_th', 'loss_seg_th', 'loss_depth', 'loss_depth_ins'} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()


@pytest.mark.parametrize('path', DEPLOY_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_deploy_configs_are_complete_mmdeploy_configs(path):
    """configs/deploy/ are mmdeploy deploy configs (not model configs): ONNX Runtime backend,
    our backend model and module, opset >= 16 (GridSample)."""
    pytest.importorskip('mmdeploy')
    from mmdeploy.utils import get_backend, get_codebase_config, get_onnx_config, load_config
    cfg = load_config(path)[0]
    assert get_backend(cfg).value == 'onnxruntime'
    codebase = get_codebase_config(cfg)
    assert codebase['model_type'] == 'panoptic_depth'
    assert codebase['module'] == ['mmpdepth.deploy']
    assert get_onnx_config(cfg)['opset_version'] >= 16


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'dps' in osp.basename(p)],
                         ids=lambda p: osp.relpath(p, ROOT))
def test_classes_are_set_once_and_match_the_datasets_annotation_format(path):
    """The fusion head takes its classes and depth settings from the head; the head's thing
    classes are those of the dataset's format, and the metric's protocol is that format."""
    from mmpdepth.formats import get_format
    from mmpdepth.models.detectors.panoptic_depth import merge_head_cfgs
    from mmpdepth.registry import DATASETS
    cfg = Config.fromfile(path)
    assert set(cfg.model.panoptic_fusion_head) == {'type'}
    head, fusion = merge_head_cfgs(cfg.model.panoptic_head, cfg.model.panoptic_fusion_head)
    assert fusion['thing_class_ids'] == head['thing_class_ids']
    meta = DATASETS.get(cfg.val_dataloader.dataset.type).METAINFO
    fmt = get_format(meta['dvps_protocol'])
    assert tuple(head['thing_class_ids']) == fmt.thing_ids
    assert cfg.val_evaluator.get('protocol', fmt.name) == fmt.name
