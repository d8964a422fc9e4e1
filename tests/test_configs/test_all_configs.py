"""Every config under configs/ loads, builds its model (no downloads) and its pipelines; one loss
forward runs for the R-50 / Swin-T / Swin-S DPS models at a small input size. Configs are at most
three levels deep; configs/panopticdepth/ lists each experiment once, under its mmdet-style name."""
import ast
import copy
import glob
import json
import os.path as osp
import re

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
ALL_CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                     if '_base_' not in p and osp.sep + 'deploy' + osp.sep not in p)
CONFIGS = ALL_CONFIGS
EXPERIMENTS = [p for p in CONFIGS
               if osp.relpath(p, osp.join(ROOT, 'configs')).startswith('panopticdepth' + osp.sep)]
SHORT_NAMES = sorted(glob.glob(osp.join(ROOT, 'configs', 'pdepth_*.py')))
# names that were never released: the schedule written as 10kx8 / 130kx32 / 2kx4, or _1gpu-24gb
OLD_NAME = re.compile(r'_\d+kx\d+_|_1gpu-\d+gb')
# panopticdepth_{backbone}_fpn_{GPUs}xb{images per GPU}-{iterations}_{data}[_variant-x].py, or
# the official-architecture configs
MMDET_STYLE_NAME = re.compile(
    r'panopticdepth_(r18-tiny|r50|swin-t|swin-s)_fpn_(amp-)?\d+xb\d+-\d+k_[a-z]+(-[a-z]+)*'
    r'(_variant-[a-f])?\.py$|panopticdepth_r50-d2_official_cityscapes-(dps|panoptic)\.py$')
DEPLOY_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'deploy', '*.py')))


def no_download(model_cfg):
    cfg = copy.deepcopy(model_cfg)
    cfg.backbone.init_cfg = None
    return cfg


def test_there_are_configs_for_every_backbone_stage_and_ablation():
    names = {osp.relpath(p, osp.join(ROOT, 'configs')) for p in CONFIGS}
    for bb in ('r50', 'swin-t', 'swin-s'):
        for stage in ('8xb4-130k_cityscapes-panoptic', '8xb1-10k_cityscapes-panoptic-fsf',
                      '8xb1-10k_cityscapes-dps', '8xb1-10k_semkitti-dps'):
            assert f'panopticdepth/panopticdepth_{bb}_fpn_{stage}.py' in names
        assert f'pdepth_{bb}_cityscapes-dps.py' in names
    for v in 'abcdef':
        assert f'panopticdepth/ablations/panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps_variant-{v}.py' \
            in names


def inheritance_depth(path: str) -> int:
    """Levels of a text config: 1 + the deepest of its ``_base_`` files (read, not executed)."""
    bases = []
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    return 1 + max((inheritance_depth(osp.join(osp.dirname(path), b)) for b in bases),
                   default=0)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_configs_are_at_most_three_levels_deep(path):
    assert inheritance_depth(path) <= 3


def test_inheritance_depth_counts_levels(tmp_path):
    (tmp_path / 'a.py').write_text('x = 1\n')
    (tmp_path / 'b.py').write_text("_base_ = './a.py'\n")
    (tmp_path / 'c.py').write_text("_base_ = ['./b.py', './a.py']\ny = 2\n")
    assert [inheritance_depth(str(tmp_path / f'{f}.py')) for f in 'abc'] == [1, 2, 3]


def resolved(path: str) -> str:
    """The whole resolved config as canonical text (dict order and file names left out)."""
    cfg = Config.fromfile(path).to_dict()
    return json.dumps(cfg, sort_keys=True, default=repr)


def test_the_experiment_folder_lists_each_experiment_once():
    """Every config under configs/panopticdepth/ has an mmdet-style name, none is a renamed copy
    of another (no two resolve to the same config) and no never-released name is left."""
    names = [osp.basename(p) for p in EXPERIMENTS]
    assert len(set(names)) == len(names)
    assert [n for n in names if not MMDET_STYLE_NAME.match(n)] == []
    assert [p for p in ALL_CONFIGS if OLD_NAME.search(osp.basename(p))] == []
    by_content = {}
    for p in EXPERIMENTS:
        by_content.setdefault(resolved(p), []).append(osp.relpath(p, ROOT))
    assert [ps for ps in by_content.values() if len(ps) > 1] == []
    ablations = sorted(n for n in names if '_variant-' in n)
    assert ablations == [f'panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps_variant-{v}.py'
                         for v in 'abcdef']


def test_name_patterns_tell_old_and_mmdet_style_names_apart():
    assert OLD_NAME.search('panopticdepth_r50_fpn_10kx8_cityscapes-dps.py')
    assert OLD_NAME.search('panopticdepth_r50_fpn_10kx8_cityscapes-dps_1gpu-24gb.py')
    assert not OLD_NAME.search('panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py')
    assert MMDET_STYLE_NAME.match('panopticdepth_r50_fpn_amp-1xb1-80k_cityscapes-dps.py')
    assert MMDET_STYLE_NAME.match('panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py')
    assert not MMDET_STYLE_NAME.match('panopticdepth_r50_fpn_10kx8_cityscapes-dps.py')
    assert not MMDET_STYLE_NAME.match('panopticdepth_r18-tiny_fpn_2kx4_synthetic-dps.py')


def test_short_names_are_the_dps_and_semkitti_stage_configs():
    """configs/pdepth_{bb}_{data}-dps.py resolve to exactly the stage config they name, and that
    is the DPS stage (stage 3) or the SemKITTI stage, one per backbone and dataset."""
    targets = {}
    for path in SHORT_NAMES:
        base = re.search(r"_base_ = '\./panopticdepth/([\w\-.]+)'", open(path).read()).group(1)
        target = osp.join(ROOT, 'configs', 'panopticdepth', base)
        assert resolved(path) == resolved(target), path
        targets[osp.basename(path)] = base
    assert targets == {f'pdepth_{bb}_{data}-dps.py': f'panopticdepth_{bb}_fpn_8xb1-10k_{data}-dps.py'
                       for bb in ('r50', 'swin-t', 'swin-s') for data in ('cityscapes', 'semkitti')}


@pytest.mark.parametrize('name', ['swin-t', 'swin-s'])
def test_swin_stage_configs_get_their_backbone_from_the_swin_base(name):
    depths = {'swin-t': [2, 2, 6, 2], 'swin-s': [2, 2, 18, 2]}[name]
    stages = {'8xb4-130k_cityscapes-panoptic': -1, '8xb1-10k_cityscapes-panoptic-fsf': 1,
              '8xb1-10k_cityscapes-dps': 1, '8xb1-10k_semkitti-dps': 1}
    for stage, frozen in stages.items():
        cfg = Config.fromfile(
            osp.join(ROOT, f'configs/panopticdepth/panopticdepth_{name}_fpn_{stage}.py'))
        bb = cfg.model.backbone
        assert bb.type == 'SwinTransformer' and bb.depths == depths, stage
        assert bb.frozen_stages == frozen and (bb.init_cfg is None) == (frozen == 1), stage
        assert 'style' not in bb and cfg.model.neck.in_channels == [96, 192, 384, 768]
        assert cfg.model.data_preprocessor.bgr_to_rgb is True


def test_full_scale_finetuning_configs_use_the_fsf_pipeline():
    for bb in ('r50', 'swin-t', 'swin-s'):
        name = f'panopticdepth_{bb}_fpn_8xb1-10k_cityscapes-panoptic-fsf.py'
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'panopticdepth', name))
        crop = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'DPSRandomCrop']
        assert crop[0].crop_size == (1024, 2048) and cfg.train_dataloader.batch_size == 1
        assert cfg.optim_wrapper.optimizer.lr == 1e-5 and cfg.train_cfg.max_iters == 10000


@pytest.mark.parametrize('name', ['panopticdepth_r50_fpn_8xb4-130k_cityscapes-panoptic',
                                  'panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-dps',
                                  'panopticdepth_r50_fpn_amp-1xb1-80k_cityscapes-dps'])
def test_lr_schedule_warms_up_and_decays_to_zero_at_max_iters(name, tmp_path):
    """mmengine builds the config's schedulers after the train loop and ends the poly decay at
    train_cfg.max_iters; the LR is the official WarmupPolyLR product at every iteration."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'panopticdepth', f'{name}.py'))
    runner = Runner(model=torch.nn.Linear(2, 1), work_dir=str(tmp_path),
                    train_dataloader=dict(dataset=[torch.zeros(2)] * 2, batch_size=1,
                                          sampler=dict(type='DefaultSampler', shuffle=False)),
                    train_cfg=cfg.train_cfg, param_scheduler=cfg.param_scheduler,
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-4)), default_scope='mmdet')
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    warmup, poly = runner.build_param_scheduler(cfg.param_scheduler)
    max_iters = cfg.train_cfg.max_iters
    assert poly.end == max_iters and warmup.end == cfg.param_scheduler[0].end
    lrs = {}
    for it in range(max_iters):
        if it in (0, warmup.end // 2, warmup.end, max_iters // 2, max_iters - 1):
            lrs[it] = runner.optim_wrapper.get_lr()['lr'][0]
        warmup.step()
        poly.step()
    # mmengine's linear and poly factors run over end - begin - 1 steps
    n_w, n_p = warmup.end - 1, max_iters - 1
    for it, lr in lrs.items():
        w = 0.001 + (1 - 0.001) * min(it, n_w) / n_w
        assert lr == pytest.approx(1e-4 * w * (1 - it / n_p) ** 0.9, rel=1e-6), it


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
    our backend model and module, opset >= 16 (GridSample), a DCN export form the opset has."""
    pytest.importorskip('mmdeploy')
    from mmdeploy.utils import get_backend, get_codebase_config, get_onnx_config, load_config

    from mmpdepth.deploy.panoptic_depth_rewriter import dcn_export_form_of
    cfg = load_config(path)[0]
    assert get_backend(cfg).value == 'onnxruntime'
    codebase = get_codebase_config(cfg)
    assert codebase['model_type'] == 'panoptic_depth'
    assert codebase['module'] == ['mmpdepth.deploy']
    assert get_onnx_config(cfg)['opset_version'] >= 16
    dcn_export_form_of(cfg)


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
