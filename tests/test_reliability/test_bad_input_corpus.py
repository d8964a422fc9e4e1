"""Bad-input corpus: each case runs a tool the way a user would, on one kind of bad input, and
asserts a non-zero exit, one error line naming the file (or option) and the problem, no
traceback, and that nothing the user gave was modified. Hostile checkpoints (unpickling one
would create a marker folder) go through every loader; the marker must never appear."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmpdepth.formats import write_depth_png
from tests.test_datasets.dps_trees import write_cityscapes_dvps, write_semkitti_dvps
from tests.test_evaluation.test_eval_dpq_cli import cityscapes_tree

from .helpers import (TINY, assert_clear_error, call_tool, snapshot, write_evil_checkpoint)

EVAL = 'tools/analysis_tools/eval_dpq.py'
CS_INDEX = 'tools/dataset_converters/cityscapes_dvps.py'
SK_INDEX = 'tools/dataset_converters/semkitti_dvps.py'
DEMO = 'tools/demo/image_demo.py'
D2 = 'tools/model_converters/panopticdepth_d2_to_mmpdepth.py'
DEPLOY = 'tools/deployment/deploy.py'
TRAIN, TEST = 'tools/train.py', 'tools/test.py'


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def evtree(tmp_path):
    """A Cityscapes-DVPS GT / prediction tree (2 sequences x 6 frames, 16x32)."""
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    return gt, pan, dep


def eval_args(gt, pan, dep=None):
    return ['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan] + \
        (['--depth-dir', dep] if dep else [])


@pytest.fixture(scope='module')
def synth(tiny_synthetic_root):
    return tiny_synthetic_root


def tiny_opts(root):
    o = [f'{k}.dataset.data_root={root}' for k in
         ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return o + ['train_cfg.max_iters=2', 'train_cfg.val_interval=3', 'param_scheduler.1.end=2',
                'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=1'] + \
        [f'{k}.{v}' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
         for v in ('num_workers=0', 'persistent_workers=False')]


@pytest.fixture(scope='module')
def tiny_state(tmp_path_factory):
    """The tiny model's own state dict, saved as our checkpoints are."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmpdepth.registry import MODELS
    from .helpers import ROOT
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(osp.join(ROOT, TINY)).model)
    return model.state_dict()


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory, tiny_state):
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save(dict(state_dict=tiny_state, meta=dict(iter=0)), path)
    return path


def png(path, arr):
    Image.fromarray(arr).save(path)


# ----------------------------------------------------------------------------- eval_dpq.py
def test_eval_missing_gt_folder(tmp_path, evtree):
    gt, pan, dep = evtree
    r = call_tool(EVAL, eval_args(str(tmp_path / 'nope'), pan, dep))
    assert_clear_error(r, str(tmp_path / 'nope'), 'not found')


def test_eval_empty_prediction_folder(tmp_path, evtree):
    gt, _, dep = evtree
    empty = str(tmp_path / 'empty')
    os.makedirs(empty)
    before = snapshot(gt, dep)
    assert_clear_error(call_tool(EVAL, eval_args(gt, empty, dep)), empty,
                       'no panoptic prediction file for frame')
    assert snapshot(gt, dep) == before


def test_eval_renamed_prediction_is_not_paired_by_order(evtree):
    gt, pan, dep = evtree
    victim = sorted(os.listdir(pan))[3]
    renamed = victim.replace('_leftImg8bit', '_b_leftImg8bit')
    os.rename(osp.join(pan, victim), osp.join(pan, renamed))
    before = snapshot(gt, pan, dep)
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)),
                       victim[:-len('_leftImg8bit.png')], renamed)
    assert snapshot(gt, pan, dep) == before


def test_eval_jpeg_named_png(evtree):
    gt, pan, dep = evtree
    victim = osp.join(pan, sorted(os.listdir(pan))[0])
    arr = np.array(Image.open(victim))
    Image.fromarray(arr).save(victim, format='JPEG')
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), victim, 'JPEG')


def test_eval_truncated_gt_png(evtree):
    gt, pan, dep = evtree
    victim = osp.join(gt, sorted(f for f in os.listdir(gt) if 'instanceTrainIds' in f)[2])
    data = open(victim, 'rb').read()
    open(victim, 'wb').write(data[:len(data) // 2])
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), victim, 'cannot be read')


def test_eval_8bit_gt_depth(evtree):
    gt, pan, dep = evtree
    victim = osp.join(gt, sorted(f for f in os.listdir(gt) if f.endswith('_depth.png'))[0])
    png(victim, np.full((16, 32), 20, np.uint8))
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), victim, '16-bit')


def test_eval_rgb_predicted_depth(evtree):
    gt, pan, dep = evtree
    victim = osp.join(dep, sorted(os.listdir(dep))[1])
    png(victim, np.full((16, 32, 3), 20, np.uint8))
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), victim, 'single-channel')


def test_eval_all_zero_gt_depth(evtree):
    gt, pan, dep = evtree
    for f in os.listdir(gt):
        if f.endswith('_depth.png'):
            write_depth_png(osp.join(gt, f), np.zeros((16, 32)))
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), gt, 'no GT depth > 0')


def test_eval_prediction_of_another_size(evtree):
    gt, pan, dep = evtree
    victim = osp.join(pan, sorted(os.listdir(pan))[0])
    png(victim, np.zeros((8, 32, 3), np.uint8))
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), victim, 'size')


def test_eval_prediction_in_gt_id_encoding(evtree):
    gt, pan, dep = evtree
    victim = osp.join(pan, sorted(os.listdir(pan))[0])
    png(victim, np.full((16, 32), 2000, np.uint16))  # class*1000+inst, not [class, inst, 0]
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep)), victim, '3-channel uint8')


def test_eval_out_exists_without_overwrite(tmp_path, evtree):
    gt, pan, dep = evtree
    out = tmp_path / 'res.json'
    out.write_text('{"mine": 1}')
    assert_clear_error(call_tool(EVAL, eval_args(gt, pan, dep) + ['--out', str(out)]),
                       str(out), '--overwrite')
    assert out.read_text() == '{"mine": 1}'


def test_eval_semkitti_missing_instance_prediction(tmp_path):
    from mmpdepth.formats import SEMKITTI_DVPS_FORMAT
    gt = write_semkitti_dvps(str(tmp_path / 'gt'), n=2)
    pan = str(tmp_path / 'pan')
    os.makedirs(pan)
    for i in range(2):
        SEMKITTI_DVPS_FORMAT.write_pred_ids([osp.join(pan, f'{8:06d}_{i:06d}_cat.png'),
                                             osp.join(pan, f'{8:06d}_{i:06d}_ins.png')],
                                            np.zeros((32, 64), np.int64))
    os.remove(osp.join(pan, f'{8:06d}_{1:06d}_ins.png'))
    r = call_tool(EVAL, ['semkitti-dvps', '--gt-dir', gt, '--pan-dir', pan])
    assert_clear_error(r, pan, f'{8:06d}_{1:06d}', 'ins.png')


# ----------------------------------------------------------------------------- index converters
def test_index_image_missing_beside_its_gt(tmp_path):
    d = write_cityscapes_dvps(str(tmp_path), n=3)
    img = sorted(f for f in os.listdir(d) if f.endswith('_leftImg8bit.png'))[1]
    os.remove(osp.join(d, img))
    before = snapshot(str(tmp_path))
    gt = img.replace('_leftImg8bit.png', '_gtFine_instanceTrainIds.png')
    assert_clear_error(call_tool(CS_INDEX, ['--root', str(tmp_path)]), gt, 'without its image')
    assert snapshot(str(tmp_path)) == before


def test_index_output_exists_without_overwrite(tmp_path):
    write_cityscapes_dvps(str(tmp_path), n=1)
    out = tmp_path / 'val_index.json'
    out.write_text('mine')
    assert_clear_error(call_tool(CS_INDEX, ['--root', str(tmp_path)]), str(out), '--overwrite')
    assert out.read_text() == 'mine'


def test_index_missing_root(tmp_path):
    assert_clear_error(call_tool(CS_INDEX, ['--root', str(tmp_path / 'x')]),
                       str(tmp_path / 'x'), 'not found')


def test_index_8bit_panoptic_ids(tmp_path):
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    victim = osp.join(d, [f for f in os.listdir(d) if 'instanceTrainIds' in f][0])
    png(victim, np.zeros((32, 64), np.uint8))
    assert_clear_error(call_tool(CS_INDEX, ['--root', str(tmp_path)]), victim, '16-bit')


def test_index_label_size_differs_from_image(tmp_path):
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    victim = osp.join(d, [f for f in os.listdir(d) if 'instanceTrainIds' in f][0])
    png(victim, np.zeros((16, 64), np.uint16))
    assert_clear_error(call_tool(CS_INDEX, ['--root', str(tmp_path)]), victim, 'size')


def test_index_semkitti_missing_depth(tmp_path):
    d = write_semkitti_dvps(str(tmp_path), n=2)
    os.remove(osp.join(d, [f for f in sorted(os.listdir(d)) if '_depth_' in f][0]))
    assert_clear_error(call_tool(SK_INDEX, ['--root', str(tmp_path)]), 'missing depth')


# ----------------------------------------------------------------------------- datasets
def test_dataset_pickle_index_is_refused_not_loaded(tmp_path, synth, tiny_ckpt):
    import pickle
    marker = str(tmp_path / 'pwned')

    class Bad:
        def __reduce__(self):
            return (os.makedirs, (marker, ))

    evil = str(tmp_path / 'index.pkl')
    with open(evil, 'wb') as f:
        pickle.dump(dict(data_list=[Bad()]), f)
    r = call_tool(TEST, [TINY, tiny_ckpt, '--work-dir', str(tmp_path / 'w'), '--cfg-options'] +
                  tiny_opts(synth) + [f'test_dataloader.dataset.ann_file={evil}'])
    assert_clear_error(r, evil, 'JSON')
    assert not osp.exists(marker)


def test_dataset_index_not_json(tmp_path, synth, tiny_ckpt):
    bad = tmp_path / 'index.json'
    bad.write_text('{"data_list": [')
    r = call_tool(TEST, [TINY, tiny_ckpt, '--work-dir', str(tmp_path / 'w'), '--cfg-options'] +
                  tiny_opts(synth) + [f'test_dataloader.dataset.ann_file={bad}'])
    assert_clear_error(r, str(bad), 'not valid JSON')


def test_dataset_8bit_depth_in_training(tmp_path):
    from mmengine.registry import init_default_scope

    from mmpdepth.registry import DATASETS
    init_default_scope('mmdet')
    write_cityscapes_dvps(str(tmp_path), n=1, depth_dtype=np.uint8)
    ds = DATASETS.build(dict(type='CityscapesDPSDataset', data_root=str(tmp_path), ann_file='',
                             data_prefix=dict(img_path='video_sequence/val'),
                             pipeline=[dict(type='LoadImageFromFile'),
                                       dict(type='LoadDPSAnnotations')]))
    with pytest.raises(ValueError, match=r'_depth\.png: depth must be a single-channel 16-bit'):
        ds[0]


# ----------------------------------------------------------------------------- train.py / test.py
def test_misspelt_cfg_option_is_an_error(tmp_path, synth, tiny_ckpt):
    r = call_tool(TEST, [TINY, tiny_ckpt, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                         'tset_dataloader.batch_size=2'])
    assert_clear_error(r, 'tset_dataloader', 'did you mean test_dataloader')


def test_cfg_option_of_the_wrong_type(tmp_path, tiny_ckpt):
    r = call_tool(TEST, [TINY, tiny_ckpt, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                         'model.backbone.init_cfg.type=Pretrained'])
    assert_clear_error(r, '--cfg-options', 'init_cfg')


def test_test_missing_checkpoint(tmp_path):
    assert_clear_error(call_tool(TEST, [TINY, str(tmp_path / 'no.pth')]),
                       str(tmp_path / 'no.pth'), 'not found')


def test_test_checkpoint_of_another_model(tmp_path, synth, tiny_state):
    wrong = {k: v for k, v in tiny_state.items() if not k.startswith('panoptic_head.depth')}
    key = next(k for k, v in wrong.items() if v.ndim == 4)
    wrong[key] = torch.zeros(wrong[key].shape[0] + 1, *wrong[key].shape[1:])
    path = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict=wrong), path)
    r = call_tool(TEST, [TINY, path, '--work-dir', str(tmp_path / 'w'), '--cfg-options'] +
                  tiny_opts(synth))
    line = assert_clear_error(r, path, 'does not fit this model', 'missing', 'wrong shape')
    assert key in line


def test_test_truncated_checkpoint(tmp_path, synth, tiny_ckpt):
    path = str(tmp_path / 'half.pth')
    data = open(tiny_ckpt, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    r = call_tool(TEST, [TINY, path, '--work-dir', str(tmp_path / 'w'), '--cfg-options'] +
                  tiny_opts(synth))
    assert_clear_error(r, path, 'truncated')


def test_test_checkpoint_that_is_not_a_torch_file(tmp_path, synth):
    path = tmp_path / 'notes.pth'
    path.write_text('these are my notes')
    r = call_tool(TEST, [TINY, str(path), '--work-dir', str(tmp_path / 'w'), '--cfg-options'] +
                  tiny_opts(synth))
    assert_clear_error(r, str(path), 'not a torch checkpoint')
    assert path.read_text() == 'these are my notes'


def test_test_out_exists_without_overwrite(tmp_path, tiny_ckpt):
    out = tmp_path / 'preds.pkl'
    out.write_bytes(b'mine')
    assert_clear_error(call_tool(TEST, [TINY, tiny_ckpt, '--out', str(out)]), str(out),
                       '--overwrite')
    assert out.read_bytes() == b'mine'


def test_train_does_not_replace_an_earlier_runs_checkpoints(tmp_path, synth):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_2.pth').write_bytes(b'earlier run')
    r = call_tool(TRAIN, [TINY, '--work-dir', str(work), '--cfg-options'] + tiny_opts(synth))
    assert_clear_error(r, str(work), 'earlier run', '--resume', '--overwrite')
    assert (work / 'iter_2.pth').read_bytes() == b'earlier run'


def test_train_missing_stage_checkpoint_names_the_stage(tmp_path):
    r = call_tool(TRAIN, ['configs/pdepth_r50_cityscapes-dps.py', '--work-dir',
                          str(tmp_path / 'w')])
    assert_clear_error(r, 'panoptic-fsf/iter_10000.pth', 'not found',
                       'panopticdepth_r50_fpn_8xb1-10k_cityscapes-panoptic-fsf.py', 'dist_train')
    assert not osp.exists(tmp_path / 'w' / 'iter_1.pth')


def test_train_resume_pointer_outside_the_work_dir(tmp_path, synth, tiny_ckpt):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(tiny_ckpt)
    r = call_tool(TRAIN, [TINY, '--work-dir', str(work), '--resume', '--cfg-options'] +
                  tiny_opts(synth))
    assert_clear_error(r, 'last_checkpoint', 'outside the work dir')


# ----------------------------------------------------------------------------- image_demo.py
@pytest.fixture
def demo_img(tmp_path):
    path = str(tmp_path / 'img.png')
    png(path, np.random.default_rng(0).integers(0, 255, (64, 128, 3), dtype=np.uint8))
    return path


def test_demo_negative_focal_length(tmp_path, demo_img):
    r = call_tool(DEMO, [demo_img, TINY, '--out-dir', str(tmp_path / 'o'), '--save-pcd',
                         '--fx', '-5', '--fy', '0', '--cx', '64', '--cy', '32'])
    assert_clear_error(r, '--fx', 'positive')
    assert not osp.exists(tmp_path / 'o')


def test_demo_camera_json_not_json(tmp_path, demo_img):
    cam = tmp_path / 'camera.json'
    cam.write_text('fx: 1000')
    r = call_tool(DEMO, [demo_img, TINY, '--out-dir', str(tmp_path / 'o'), '--camera-json',
                         str(cam)])
    assert_clear_error(r, str(cam), 'not a camera JSON')


def test_demo_camera_json_nan_focal(tmp_path, demo_img):
    cam = tmp_path / 'camera.json'
    cam.write_text(json.dumps(dict(intrinsic=dict(fx='nan', fy=1000, u0=64, v0=32))))
    r = call_tool(DEMO, [demo_img, TINY, '--out-dir', str(tmp_path / 'o'), '--camera-json',
                         str(cam)])
    assert_clear_error(r, str(cam), 'finite and positive')


def test_demo_out_dir_is_a_file(tmp_path, demo_img):
    out = tmp_path / 'out'
    out.write_text('mine')
    assert_clear_error(call_tool(DEMO, [demo_img, TINY, '--out-dir', str(out)]), str(out),
                       'not a folder')
    assert out.read_text() == 'mine'


def test_demo_existing_outputs_without_overwrite(tmp_path, demo_img):
    out = tmp_path / 'out'
    (out / 'vis').mkdir(parents=True)
    (out / 'vis' / 'img.png').write_bytes(b'mine')
    assert_clear_error(call_tool(DEMO, [demo_img, TINY, '--out-dir', str(out)]), str(out),
                       '--overwrite')
    assert (out / 'vis' / 'img.png').read_bytes() == b'mine'


def test_demo_missing_input(tmp_path):
    assert_clear_error(call_tool(DEMO, [str(tmp_path / 'no.png'), TINY, '--out-dir',
                                        str(tmp_path / 'o')]), str(tmp_path / 'no.png'))


@pytest.mark.parametrize('shape,problem', [((1, 1, 3), 'too small'),
                                           ((20, 2000, 3), 'aspect ratio')],
                         ids=['1x1', 'extreme-aspect'])
def test_demo_unusable_image_size(tmp_path, shape, problem):
    img = str(tmp_path / 'odd.png')
    png(img, np.zeros(shape, np.uint8))
    r = call_tool(DEMO, [img, TINY, '--out-dir', str(tmp_path / 'o')])
    assert_clear_error(r, img, problem)


def test_demo_text_file_named_png(tmp_path):
    img = tmp_path / 'notes.png'
    img.write_text('not an image')
    r = call_tool(DEMO, [str(img), TINY, '--out-dir', str(tmp_path / 'o')])
    assert_clear_error(r, str(img), 'not an image')


# ----------------------------------------------------------------------------- D2 converter
@pytest.fixture(scope='module')
def d2_state():
    from tests.golden_weights import make_d2_state_dict
    return make_d2_state_dict('dps')


def test_d2_converter_missing_tensors(tmp_path, d2_state):
    src, dst = str(tmp_path / 'd2.pth'), str(tmp_path / 'out.pth')
    drop = sorted(k for k in d2_state if 'depth' in k)[:5]
    torch.save(dict(model={k: v for k, v in d2_state.items() if k not in drop}), src)
    assert_clear_error(call_tool(D2, [src, dst]), src, 'missing')
    assert not osp.exists(dst)


def test_d2_converter_wrong_shape(tmp_path, d2_state):
    src, dst = str(tmp_path / 'd2.pth'), str(tmp_path / 'out.pth')
    state = dict(d2_state)
    key = next(k for k, v in state.items() if v.ndim == 4)
    state[key] = torch.zeros(state[key].shape[0] + 2, *state[key].shape[1:])
    torch.save(dict(model=state), src)
    assert_clear_error(call_tool(D2, [src, dst]), src, 'wrong shape')
    assert not osp.exists(dst)


def test_d2_converter_truncated_source(tmp_path, d2_state):
    src, dst = str(tmp_path / 'd2.pth'), str(tmp_path / 'out.pth')
    torch.save(dict(model=d2_state), src)
    data = open(src, 'rb').read()
    open(src, 'wb').write(data[:len(data) // 3])
    assert_clear_error(call_tool(D2, [src, dst]), src, 'truncated')


def test_d2_converter_existing_output(tmp_path, d2_state):
    src, dst = str(tmp_path / 'd2.pth'), tmp_path / 'out.pth'
    torch.save(dict(model=d2_state), src)
    dst.write_bytes(b'mine')
    assert_clear_error(call_tool(D2, [src, str(dst)]), str(dst), '--force')
    assert dst.read_bytes() == b'mine'


# ----------------------------------------------------------------------------- deploy.py
def test_deploy_missing_image(tmp_path, tiny_ckpt):
    r = call_tool(DEPLOY, ['configs/deploy/panoptic-depth_onnxruntime_static.py', TINY,
                           tiny_ckpt, str(tmp_path / 'no.png'), '--work-dir', str(tmp_path)])
    assert_clear_error(r, str(tmp_path / 'no.png'), 'not found')


def test_deploy_existing_model_without_overwrite(tmp_path, tiny_ckpt, demo_img):
    (tmp_path / 'end2end.onnx').write_bytes(b'mine')
    r = call_tool(DEPLOY, ['configs/deploy/panoptic-depth_onnxruntime_static.py', TINY,
                           tiny_ckpt, demo_img, '--work-dir', str(tmp_path)])
    assert_clear_error(r, 'end2end.onnx', '--overwrite')
    assert (tmp_path / 'end2end.onnx').read_bytes() == b'mine'


# ----------------------------------------------------------------------------- hostile checkpoints
LOADERS = ['test.py', 'train.py load_from', 'train.py --resume', 'init_cfg Pretrained',
           'DPSInferencer', 'image_demo.py', 'D2 converter', 'deploy.py']


@pytest.mark.parametrize('loader', LOADERS)
def test_hostile_checkpoint_never_runs(loader, tmp_path, synth, tiny_state, demo_img):
    marker = str(tmp_path / 'pwned')
    evil = write_evil_checkpoint(str(tmp_path / 'evil.pth'), marker, tiny_state)
    work = str(tmp_path / 'work')
    if loader == 'test.py':
        r = call_tool(TEST, [TINY, evil, '--work-dir', work, '--cfg-options'] + tiny_opts(synth))
    elif loader == 'train.py load_from':
        r = call_tool(TRAIN, [TINY, '--work-dir', work, '--cfg-options'] + tiny_opts(synth) +
                      [f'load_from={evil}'])
    elif loader == 'train.py --resume':
        r = call_tool(TRAIN, [TINY, '--work-dir', work, '--resume', evil, '--cfg-options'] +
                      tiny_opts(synth))
    elif loader == 'init_cfg Pretrained':
        from mmengine.config import Config
        from .helpers import ROOT
        cfg = Config.fromfile(osp.join(ROOT, TINY))
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=evil)
        cfg.dump(str(tmp_path / 'pretrained.py'))
        r = call_tool(TRAIN, [str(tmp_path / 'pretrained.py'), '--work-dir', work,
                              '--cfg-options'] + tiny_opts(synth))
    elif loader == 'DPSInferencer':
        from mmpdepth.apis import DPSInferencer
        from mmpdepth.engine import UnsafeCheckpointError
        from .helpers import ROOT
        with pytest.raises(UnsafeCheckpointError, match='refused to load'):
            DPSInferencer(osp.join(ROOT, TINY), evil, device='cpu')
        r = None
    elif loader == 'image_demo.py':
        r = call_tool(DEMO, [demo_img, TINY, '--weights', evil, '--out-dir', work])
    elif loader == 'D2 converter':
        r = call_tool(D2, [evil, str(tmp_path / 'out.pth')])
    else:
        r = call_tool(DEPLOY, ['configs/deploy/panoptic-depth_onnxruntime_static.py', TINY, evil,
                               demo_img, '--work-dir', work])
    if r is not None:
        assert_clear_error(r, evil, 'refused')
    assert not osp.exists(marker)
    assert not osp.exists(osp.join(work, 'end2end.onnx'))
