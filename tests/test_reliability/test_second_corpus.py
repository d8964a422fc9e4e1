"""Second bad-input corpus: nothing the user gave is replaced, no wrong number is printed
quietly, errors are clear. Each case runs a tool the way a user would (in-process ``main()``
through ``run_tool``) and checks the exit status, the one error line (file / option and the
problem) and what is left on disk.

One tiny training run (``trained`` fixture, 2 iterations through ``tools/train.py``) gives the
checkpoint the ``--tta``, resume, non-finite and strict-loading cases use.
"""
import glob
import json
import os
import os.path as osp
import shutil
import socket
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, write_depth_png
from tests.test_datasets.dps_trees import write_cityscapes_dvps
from tests.test_evaluation.test_eval_dpq_cli import cityscapes_tree

from .helpers import ROOT, TINY, assert_clear_error, call_tool, error_lines, snapshot
from .test_bad_input_corpus import tiny_opts

EVAL = 'tools/analysis_tools/eval_dpq.py'
DEMO = 'tools/demo/image_demo.py'
D2 = 'tools/model_converters/panopticdepth_d2_to_mmpdepth.py'
DEPLOY = 'tools/deployment/deploy.py'
CS_PANOPTIC = 'tools/dataset_converters/cityscapes_panoptic.py'
TRAIN, TEST = 'tools/train.py', 'tools/test.py'
STATIC = 'configs/deploy/panoptic-depth_onnxruntime_static.py'


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def synth(tiny_synthetic_root):
    return tiny_synthetic_root


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_synthetic_root):
    """``tools/train.py --amp`` for 2 iterations into a work dir that holds a stale lock (of
    a process that has ended) and the user's own config file of the same name as the run's
    config dump. Returns (work dir, config path, the config's original text, result)."""
    work = tmp_path_factory.mktemp('trained')
    cfg = work / osp.basename(TINY)
    text = f'_base_ = [{osp.join(ROOT, TINY)!r}]\n# my own notes\n'
    cfg.write_text(text)
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    (work / '.mmpdepth_run.lock').write_text(json.dumps(
        dict(pid=dead.pid, host=socket.gethostname())))
    r = call_tool(TRAIN, [str(cfg), '--work-dir', str(work), '--amp', '--cfg-options'] +
                  tiny_opts(tiny_synthetic_root))
    return work, cfg, text, r


def ckpt_of(trained_dir) -> str:
    return str(trained_dir / 'iter_2.pth')


def write_state(path, state):
    torch.save(dict(state_dict=state, meta=dict(iter=2)), path)
    return str(path)


def tiny_state_of(trained_dir) -> dict:
    return torch.load(ckpt_of(trained_dir), weights_only=True)['state_dict']


# ----------------------------------------------------------------------------- data loss
def test_show_dir_that_is_the_dataset_image_folder_is_refused(tmp_path, trained):
    work, _, _, _ = trained
    images = tmp_path / 'leftImg8bit'
    images.mkdir()
    (images / 'frame_000000.png').write_bytes(b'my input image')
    before = snapshot(str(images))
    r = call_tool(TEST, [TINY, ckpt_of(work), '--work-dir', str(tmp_path / 'w'), '--show-dir',
                         str(images)])
    assert_clear_error(r, str(images), '--overwrite', 'named like the input images')
    # a relative path that climbs out of WORK_DIR/<timestamp>/ to the same folder
    r = call_tool(TEST, [TINY, ckpt_of(work), '--work-dir', str(tmp_path / 'w'), '--show-dir',
                         '../../leftImg8bit'])
    assert_clear_error(r, '../../leftImg8bit', '--overwrite', 'named like the input images')
    assert snapshot(str(images)) == before


def test_train_run_keeps_the_users_config_and_takes_over_a_stale_lock(trained):
    work, cfg, text, (code, out, err) = trained
    assert code == 0, err[-3000:]
    assert cfg.read_text() == text  # mmengine's dump went to the run's log folder instead
    dumps = [osp.join(d, cfg.name) for d in os.listdir(work) if osp.isdir(work / d)]
    assert any(osp.isfile(work / d) for d in dumps)
    assert 'taking over the lock of an earlier run' in out + err
    assert 'is not running' in out + err
    assert not (work / '.mmpdepth_run.lock').exists()  # released at the end


def test_amp_says_which_precision_it_chose(trained):
    _, _, _, (code, out, err) = trained
    assert code == 0
    assert ('mixed precision (--amp): torch.bfloat16 autocast on cpu' in out + err or
            'no native bfloat16' in out + err and 'training in float32' in out + err)


def test_second_run_into_a_locked_work_dir_is_refused(tmp_path, synth):
    work = tmp_path / 'work'
    work.mkdir()
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        (work / '.mmpdepth_run.lock').write_text(json.dumps(
            dict(pid=live.pid, host=socket.gethostname())))
        r = call_tool(TRAIN, [TINY, '--work-dir', str(work), '--cfg-options'] +
                      tiny_opts(synth))
    finally:
        live.kill()
        live.wait()
    assert_clear_error(r, str(work), f'pid {live.pid}', '--break-lock')
    assert not list(work.glob('*.pth'))
    assert json.loads((work / '.mmpdepth_run.lock').read_text())['pid'] == live.pid


def test_outfile_prefix_with_earlier_predictions_is_refused(tmp_path, synth, trained):
    work, _, _, _ = trained
    prefix = tmp_path / 'preds'
    (prefix / 'panoptic').mkdir(parents=True)
    (prefix / 'panoptic' / 'earlier.png').write_bytes(b'earlier result')
    r = call_tool(TEST, [TINY, ckpt_of(work), '--work-dir', str(tmp_path / 'w'),
                         '--cfg-options', f'test_evaluator.outfile_prefix={prefix}',
                         'test_evaluator.format_only=True'] + tiny_opts(synth))
    assert_clear_error(r, str(prefix), 'overwrite_outputs')
    assert (prefix / 'panoptic' / 'earlier.png').read_bytes() == b'earlier result'


def test_deploy_does_not_replace_an_earlier_parity_report(tmp_path, trained):
    from .test_bad_input_corpus import png
    work, _, _, _ = trained
    img = str(tmp_path / 'img.png')
    png(img, np.zeros((64, 128, 3), np.uint8))
    (tmp_path / 'parity.json').write_text('[]')
    r = call_tool(DEPLOY, [STATIC, TINY, ckpt_of(work), img, '--work-dir', str(tmp_path)])
    assert_clear_error(r, 'parity.json', '--overwrite')
    assert (tmp_path / 'parity.json').read_text() == '[]'
    assert not (tmp_path / 'end2end.onnx').exists()


# ----------------------------------------------------------------------------- quiet wrong numbers
def nan_state(trained_dir):
    state = dict(tiny_state_of(trained_dir))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    state[key] = state[key].clone()
    state[key][0, 0, 0, 0] = float('nan')
    return state, key


@pytest.mark.parametrize('tool', ['test.py', 'image_demo.py', 'deploy.py'])
def test_nonfinite_weights_are_refused_at_load(tool, tmp_path, synth, trained):
    from .test_bad_input_corpus import png
    work, _, _, _ = trained
    state, key = nan_state(work)
    bad = write_state(tmp_path / 'diverged.pth', state)
    img = str(tmp_path / 'img.png')
    png(img, np.zeros((64, 128, 3), np.uint8))
    if tool == 'test.py':
        r = call_tool(TEST, [TINY, bad, '--work-dir', str(tmp_path / 'w'), '--cfg-options'] +
                      tiny_opts(synth))
    elif tool == 'image_demo.py':
        r = call_tool(DEMO, [img, TINY, '--weights', bad, '--out-dir', str(tmp_path / 'o')])
    else:
        r = call_tool(DEPLOY, [STATIC, TINY, bad, img, '--work-dir', str(tmp_path / 'd')])
    assert_clear_error(r, bad, 'NaN or Inf', key)
    assert not (tmp_path / 'o').exists() and not (tmp_path / 'd' / 'end2end.onnx').exists()


def test_inferencer_refuses_nonfinite_weights(tmp_path, trained):
    from mmpdepth.apis import DPSInferencer
    from mmpdepth.engine import CheckpointError
    state, key = nan_state(trained[0])
    bad = write_state(tmp_path / 'diverged.pth', state)
    with pytest.raises(CheckpointError, match=key):
        DPSInferencer(osp.join(ROOT, TINY), bad, device='cpu')


def test_diverging_training_stops_at_that_iteration_and_keeps_the_last_checkpoint(
        tmp_path, synth, monkeypatch):
    from mmpdepth.models.detectors.panoptic_depth import PanopticDepth
    calls = []
    loss = PanopticDepth.loss

    def diverging_loss(self, *args, **kwargs):
        losses = loss(self, *args, **kwargs)
        calls.append(1)
        if len(calls) >= 3:  # the third iteration diverges
            losses = {k: v * float('nan') if k.startswith('loss') else v
                      for k, v in losses.items()}
        return losses

    monkeypatch.setattr(PanopticDepth, 'loss', diverging_loss)
    work = tmp_path / 'work'
    opts = [o for o in tiny_opts(synth) if not o.startswith(('train_cfg.max_iters',
                                                              'param_scheduler.1.end'))]
    r = call_tool(TRAIN, [TINY, '--work-dir', str(work), '--cfg-options'] + opts +
                  ['train_cfg.max_iters=4', 'param_scheduler.1.end=4'])
    line = assert_clear_error(r, 'iteration 3', 'not finite', 'loss', 'iter_2.pth', 'kept')
    assert 'nan' in line
    assert len(calls) == 3  # stopped at once
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth']
    state = torch.load(work / 'iter_2.pth', weights_only=True)['state_dict']
    assert all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())
    assert not (work / '.mmpdepth_run.lock').exists()


def test_nonfinite_loss_hook_is_in_the_default_runtime():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, TINY))
    assert dict(type='NonFiniteLossHook', patience=1) in cfg.custom_hooks


def test_stage2_checkpoint_with_dps_config_is_refused_at_test(tmp_path, synth, trained):
    """``load_from_allow_missing`` lets a depth stage start from a panoptic checkpoint; testing
    must not inherit it (the depth branches would be random)."""
    work, _, _, _ = trained
    state = {k: v for k, v in tiny_state_of(work).items() if 'depth' not in k}
    ps_only = write_state(tmp_path / 'stage2.pth', state)
    stage3 = tmp_path / 'stage3_dps.py'  # a depth stage's training allowances
    stage3.write_text(f'_base_ = [{osp.join(ROOT, TINY)!r}]\n'
                      "load_from_allow_missing = ('panoptic_head.depth', )\n"
                      'load_from_strict = False\n')
    r = call_tool(TEST, [str(stage3), ps_only, '--work-dir', str(tmp_path / 'w'),
                         '--cfg-options'] + tiny_opts(synth))
    assert_clear_error(r, ps_only, 'does not fit this model', 'missing', 'depth')


def test_tta_with_a_checkpoint_written_by_train(tmp_path, synth, trained):
    work, _, _, _ = trained
    r = call_tool(TEST, [TINY, ckpt_of(work), '--tta', '--work-dir', str(tmp_path / 'w'),
                         '--cfg-options'] + tiny_opts(synth))
    code, out, err = r
    assert code == 0, err[-3000:]
    assert 'does not fit' not in out + err
    assert 'dps/PQ' in out + err


def test_resume_with_another_batch_size_warns_with_both_values(tmp_path, synth, trained):
    work, _, _, _ = trained
    resumed = tmp_path / 'work'
    shutil.copytree(work, resumed)
    os.remove(resumed / 'last_checkpoint')  # names the original work dir
    opts = [o for o in tiny_opts(synth) if not o.startswith('train_dataloader.batch_size')]
    r = call_tool(TRAIN, [TINY, '--work-dir', str(resumed), '--resume', '--cfg-options'] +
                  opts + ['train_dataloader.batch_size=2'])
    code, out, err = r
    assert code == 0, err[-3000:]
    assert 'effective batch size 1 -> 2' in out + err


def test_eval_json_has_no_nan_and_the_table_says_why(tmp_path):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    out = tmp_path / 'res.json'
    code, stdout, err = call_tool(EVAL, ['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan,
                                         '--depth-dir', dep, '--out', str(out)])
    assert code == 0, err
    assert 'nan: a class absent from both GT and predictions' in stdout
    assert '--skip-absent' in stdout

    def refuse(name):
        raise AssertionError(f'{name} in the JSON')

    res = json.loads(out.read_text(), parse_constant=refuse)
    assert res['PQ'] is None and 'not defined' in res['_null']
    assert res['AbsRel'] == pytest.approx(0.0, abs=1e-3)


def test_demo_segments_json_is_valid_and_void_is_what_eval_reads(tmp_path, trained):
    from mmpdepth.apis import DPSInferencer
    inf = DPSInferencer(osp.join(ROOT, TINY), ckpt_of(trained[0]), device='cpu')
    ids = np.full((16, 32), 255 * inf.label_divisor, np.int64)  # the model's void
    ids[:, :8] = 13 * inf.label_divisor + 1
    depth = np.full((16, 32), np.nan, np.float32)
    pred = dict(name='frame', panoptic=ids, depth=np.nan_to_num(depth, nan=5.0),
                segments=[dict(id=13001, mean_depth=float('nan'))])
    pred['segments'][0]['mean_depth'] = None  # what to_prediction gives for NaN
    inf._write_prediction(str(tmp_path), pred, None)
    back = CITYSCAPES_DVPS_FORMAT.read_pred_ids([str(tmp_path / 'panoptic' / 'frame.png')])
    CITYSCAPES_DVPS_FORMAT.check_ids(back, 'frame.png', 'predicted')  # eval_dpq's check
    assert set(np.unique(back // 1000).tolist()) == {13, 32}
    json.loads((tmp_path / 'segments' / 'frame.json').read_text(),
               parse_constant=lambda c: pytest.fail(c))


def test_mean_depth_of_a_nan_depth_is_null(trained):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData

    from mmpdepth.apis import DPSInferencer
    inf = DPSInferencer(osp.join(ROOT, TINY), ckpt_of(trained[0]), device='cpu')
    s = DetDataSample()
    s.pred_panoptic_seg = PixelData(sem_seg=torch.full((1, 4, 4), 13001))
    s.pred_depth_map = PixelData(data=torch.full((1, 4, 4), float('nan')))
    s.pred_segments = InstanceData(ids=torch.tensor([13001]), labels=torch.tensor([13]),
                                   scores=torch.tensor([float('nan')]),
                                   areas=torch.tensor([16]))
    seg = inf.to_prediction(s, 'x')['segments'][0]
    assert seg['mean_depth'] is None and seg['score'] is None
    json.dumps(seg, allow_nan=False)


@pytest.mark.parametrize('where', ['GT', 'prediction'])
def test_eval_class_outside_the_format_names_file_and_range(tmp_path, where):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    if where == 'GT':
        victim = osp.join(gt, sorted(f for f in os.listdir(gt) if 'instanceTrainIds' in f)[1])
        ids = np.array(Image.open(victim)).astype(np.int64)
        ids[0, 1] = 25000  # class 25: no Cityscapes-DVPS class
        Image.fromarray(ids.astype(np.uint16)).save(victim)
        bad = 25
    else:
        victim = osp.join(pan, sorted(os.listdir(pan))[1])
        ids = CITYSCAPES_DVPS_FORMAT.read_pred_ids([victim])
        ids[0, 1] = 19000  # class 19 = the evaluator's internal "wrong depth" class
        CITYSCAPES_DVPS_FORMAT.write_pred_ids([victim], ids)
        bad = 19
    r = call_tool(EVAL, ['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan, '--depth-dir',
                         dep])
    assert_clear_error(r, victim, f'[{bad}]', 'valid: 0..18, void 32')


def test_training_gt_class_outside_the_format_names_the_file(tmp_path):
    from mmengine.registry import init_default_scope

    from mmpdepth.registry import DATASETS
    init_default_scope('mmdet')
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    victim = osp.join(d, [f for f in os.listdir(d) if 'instanceTrainIds' in f][0])
    ids = np.array(Image.open(victim)).astype(np.int64)
    ids[0, :4] = 40000
    Image.fromarray(ids.astype(np.uint16)).save(victim)
    ds = DATASETS.build(dict(type='CityscapesDPSDataset', data_root=str(tmp_path), ann_file='',
                             data_prefix=dict(img_path='video_sequence/val'),
                             pipeline=[dict(type='LoadImageFromFile'),
                                       dict(type='LoadDPSAnnotations')]))
    with pytest.raises(ValueError, match=r'instanceTrainIds\.png: GT class ids \[40\] are not '
                       r'classes of cityscapes-dvps \(valid: 0\.\.18, void 32'):
        ds[0]


def test_eval_absurd_gt_depth_is_reported_and_excluded(tmp_path):
    """A map written all 65535 (the 16-bit ceiling) and a few pixels at 1/256 m: reported per
    file with the count and evaluated exactly as if those pixels were invalid (0)."""
    runs = {}
    for variant in ('absurd', 'invalid'):
        gt, pan, dep = cityscapes_tree(str(tmp_path / variant), perfect=False)
        depths = sorted(f for f in os.listdir(gt) if f.endswith('_depth.png'))
        saturated, speck = osp.join(gt, depths[0]), osp.join(gt, depths[3])
        near = np.array(Image.open(speck)).astype(np.float64) / 256
        near[2, :3] = 1 / 256 if variant == 'absurd' else 0
        write_depth_png(speck, near)
        write_depth_png(saturated, np.full((16, 32), 65535 / 256 if variant == 'absurd' else 0))
        out = tmp_path / f'{variant}.json'
        runs[variant] = call_tool(EVAL, ['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan,
                                         '--depth-dir', dep, '--skip-absent', '--out',
                                         str(out)]), json.loads(out.read_text()), \
            (saturated, speck)
    (code, _, err), res, (saturated, speck) = runs['absurd']
    assert code == 0, err
    assert f'{saturated}: 512 GT depth pixel(s)' in err
    assert f'{speck}: 3 GT depth pixel(s)' in err
    assert res['_gt_depth_excluded'] == {saturated: 512, speck: 3}
    clean = runs['invalid'][1]
    for k in ('AbsRel', 'RMSE', 'DPQ', 'PQ'):
        assert res[k] == clean[k], k
    assert 'GT depth' not in runs['invalid'][0][2]


def test_metric_excludes_absurd_gt_depth_per_file(tmp_path):
    from mmpdepth.evaluation.metrics import DPQMetric
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    stem = [f for f in os.listdir(d) if f.endswith('_depth.png')][0]
    depth_path = osp.join(d, stem)
    pan_path = depth_path.replace('_depth.png', '_gtFine_instanceTrainIds.png')
    gt_ids = np.array(Image.open(pan_path)).astype(np.int64)
    depth = np.array(Image.open(depth_path)).astype(np.float64) / 256
    metrics = {}
    for variant, value in (('absurd', 65535 / 256), ('invalid', 0.0)):
        dd = depth.copy()
        dd[:4, :4] = value
        path = str(tmp_path / f'{variant}_depth.png')
        write_depth_png(path, dd)
        m = DPQMetric()
        m.process({}, [dict(pred_panoptic_seg=dict(sem_seg=torch.from_numpy(gt_ids)[None]),
                            pred_depth_map=dict(data=torch.from_numpy(depth).float()[None]),
                            pan_path=pan_path, depth_path=path, ann_format='cityscapes-dvps',
                            img_path=path)])
        metrics[variant] = m
    assert metrics['absurd'].results[0]['depth_excluded'] == (
        str(tmp_path / 'absurd_depth.png'), 16)
    assert 'depth_excluded' not in metrics['invalid'].results[0]
    for a, b in zip(metrics['absurd'].results[0]['depth'], metrics['invalid'].results[0]['depth']):
        np.testing.assert_array_equal(a, b)


def test_outputs_of_two_inputs_with_one_stem_are_not_merged(tmp_path):
    from mmpdepth.evaluation.metrics import DPQMetric
    m = DPQMetric(outfile_prefix=str(tmp_path / 'p'), format_only=True)
    pred = torch.zeros(1, 4, 4, dtype=torch.long)
    m.process({}, [dict(pred_panoptic_seg=dict(sem_seg=pred), img_path='/d/frame.png')])
    with pytest.raises(ValueError, match=r'/d/frame\.jpg: .* /d/frame\.png'):
        m.process({}, [dict(pred_panoptic_seg=dict(sem_seg=pred), img_path='/d/frame.jpg')])


# ----------------------------------------------------------------------------- clear errors
def bomb_png(path, width=200000, height=200000):
    """A valid-looking PNG header that declares a huge image, with a few bytes of data."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + \
            struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + chunk(b'IEND', b''))
    return str(path)


def test_demo_folder_skips_a_bomb_and_a_colliding_name_and_goes_on(tmp_path, trained):
    from .test_bad_input_corpus import png
    folder = tmp_path / 'imgs'
    folder.mkdir()
    rng = np.random.default_rng(0)
    png(str(folder / 'frame.png'), rng.integers(0, 255, (64, 128, 3), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(
        folder / 'frame.jpg')
    bomb = bomb_png(folder / 'bomb.png')
    out = tmp_path / 'out'
    code, stdout, err = call_tool(DEMO, [str(folder), TINY, '--weights', ckpt_of(trained[0]),
                                         '--out-dir', str(out)])
    assert code == 0, err[-3000:]
    assert 'Traceback' not in err
    skipped = [ln for ln in err.splitlines() if ln.startswith('skipped:')]
    assert len(skipped) == 2, err
    assert any(bomb in ln and '200000x200000' in ln and 'MMPDEPTH_MAX_IMAGE_PIXELS' in ln
               for ln in skipped)
    assert any(str(folder / 'frame.png') in ln and str(folder / 'frame.jpg') in ln
               for ln in skipped)
    assert 'processed 1 image(s)' in stdout
    seg = json.loads((out / 'preds' / 'segments' / 'frame.json').read_text(),
                     parse_constant=lambda c: pytest.fail(c))
    assert seg['image'] == str(folder / 'frame.jpg')


def test_eval_bomb_gt_png_names_the_file(tmp_path):
    gt, pan, dep = cityscapes_tree(str(tmp_path))
    victim = osp.join(gt, sorted(f for f in os.listdir(gt) if 'instanceTrainIds' in f)[0])
    bomb_png(victim)
    assert_clear_error(call_tool(EVAL, ['cityscapes-dvps', '--gt-dir', gt, '--pan-dir', pan]),
                       victim, 'megapixels', 'MMPDEPTH_MAX_IMAGE_PIXELS')


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    from mmpdepth.formats import read_image
    path = str(tmp_path / 'img.png')
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)
    assert read_image(path).shape == (40, 50, 3)
    monkeypatch.setenv('MMPDEPTH_MAX_IMAGE_PIXELS', '1999')
    with pytest.raises(ValueError, match=r'img\.png: declares 50x40 px'):
        read_image(path)
    monkeypatch.setenv('MMPDEPTH_MAX_IMAGE_PIXELS', '2000')
    assert read_image(path).shape == (40, 50, 3)


def test_batch_size_zero_says_what_is_expected(tmp_path):
    from .test_bad_input_corpus import png
    img = str(tmp_path / 'img.png')
    png(img, np.zeros((64, 128, 3), np.uint8))
    r = call_tool(DEMO, [img, TINY, '--batch-size', '0', '--out-dir', str(tmp_path / 'o')])
    assert_clear_error(r, '--batch-size', 'expected an integer >= 1, got 0')


def test_eval_out_in_a_file_is_refused_before_evaluating(tmp_path):
    blocker = tmp_path / 'results'
    blocker.write_text('a file')
    # the GT folder does not exist: an --out problem must be reported first, before any work
    r = call_tool(EVAL, ['cityscapes-dvps', '--gt-dir', str(tmp_path / 'nope'), '--pan-dir',
                         str(tmp_path), '--out', str(blocker / 'res.json')])
    assert_clear_error(r, str(blocker / 'res.json'), 'is a file, not a folder')
    assert blocker.read_text() == 'a file'


def test_demo_without_weights_refuses_to_run_a_random_model(tmp_path):
    from .test_bad_input_corpus import png
    img = str(tmp_path / 'img.png')
    png(img, np.zeros((64, 128, 3), np.uint8))
    r = call_tool(DEMO, [img, TINY, '--out-dir', str(tmp_path / 'o')])
    assert_clear_error(r, '--weights', '--random-weights')
    assert not (tmp_path / 'o').exists()


def test_truncated_cityscapes_panoptic_json_names_the_file(tmp_path):
    ann = tmp_path / 'gtFine' / 'cityscapes_panoptic_val.json'
    ann.parent.mkdir()
    ann.write_text('{"images": [{"fi')
    assert_clear_error(call_tool(CS_PANOPTIC, ['--root', str(tmp_path)]), str(ann),
                       'not valid JSON')


def test_cfg_option_without_equals_sign(tmp_path):
    r = call_tool(TRAIN, [TINY, '--work-dir', str(tmp_path / 'w'), '--cfg-options', 'foo'])
    assert_clear_error(r, 'foo', 'expected key=value')


@pytest.mark.parametrize('option,hint', [
    ('train_cfg.max_iter=6', 'did you mean train_cfg.max_iters'),
    ('train_dataloader.batch_sizee=2', 'did you mean train_dataloader.batch_size'),
    ('model.backbone.depthh=18', 'did you mean model.backbone.depth'),
], ids=['train_cfg', 'dataloader', 'backbone'])
def test_misspelt_nested_cfg_option(tmp_path, option, hint):
    r = call_tool(TRAIN, [TINY, '--work-dir', str(tmp_path / 'w'), '--cfg-options', option])
    assert_clear_error(r, option.split('=')[0].rsplit('.', 1)[1], hint)
    assert not (tmp_path / 'w').exists()


def test_new_nested_keys_a_component_takes_are_accepted():
    from mmengine.config import Config

    from mmpdepth.utils.cli import merge_cfg_options
    cfg = Config.fromfile(osp.join(ROOT, TINY))
    merge_cfg_options(cfg, {'default_hooks.logger.log_metric_by_epoch': False,
                            'train_dataloader.pin_memory': False,
                            'param_scheduler.1.eta_min': 0.5})
    assert cfg.default_hooks.logger.log_metric_by_epoch is False
    assert cfg.train_dataloader.pin_memory is False and cfg.param_scheduler[1].eta_min == 0.5


def test_d2_converter_recognises_an_mmpdepth_checkpoint(tmp_path, trained):
    dst = tmp_path / 'out.pth'
    r = call_tool(D2, [ckpt_of(trained[0]), str(dst)])
    assert_clear_error(r, ckpt_of(trained[0]), 'already an mmpdepth checkpoint')
    assert not dst.exists()


#: every command-line tool (tools/env holds the build scripts, run before mmpdepth exists)
TOOLS = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'tools', '*', '*.py'))
               if '/env/' not in p) + ['tools/train.py', 'tools/test.py']


@pytest.mark.parametrize('tool', TOOLS, ids=[osp.basename(t) for t in TOOLS])
def test_debug_is_in_every_tools_help(tool):
    code, out, err = call_tool(tool, ['--help'])
    assert code == 0, err
    assert '--debug' in out


def test_ctrl_c_prints_one_line():
    import contextlib
    import io

    from mmpdepth.utils.cli import run_tool

    def interrupted():
        raise KeyboardInterrupt

    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        run_tool(interrupted, ['tools/train.py'])
    assert info.value.code == 130
    assert err.getvalue().splitlines() == [
        'train.py: interrupted (Ctrl-C); outputs written so far are kept']


def test_static_onnx_export_refuses_an_image_of_another_size():
    from mmengine.config import Config
    sys.path.insert(0, osp.join(ROOT, 'tools', 'deployment'))
    import deploy
    static = Config.fromfile(osp.join(ROOT, STATIC))
    with pytest.raises(ValueError, match=r'b\.png: gives a model input of \(128, 160\) px, but '
                       r'the static graph was exported for \(128, 256\)'):
        deploy.check_static_shapes(static, ['a.png', 'b.png'], [(1, 3, 128, 256),
                                                                (1, 3, 128, 160)])
    dynamic = Config.fromfile(osp.join(ROOT, 'configs/deploy/'
                                       'panoptic-depth_onnxruntime_dynamic.py'))
    deploy.check_static_shapes(dynamic, ['a.png', 'b.png'], [(1, 3, 128, 256),
                                                             (1, 3, 128, 160)])


def test_error_lines_helper_sees_one_line():
    assert error_lines('a\nprog: error: x\n') == ['prog: error: x']


def test_work_dir_lock_of_another_host_needs_break_lock(tmp_path):
    from mmpdepth.engine.work_dir_lock import LOCK_NAME, WorkDirLock, WorkDirLockedError
    (tmp_path / LOCK_NAME).write_text(json.dumps(dict(pid=1, host='elsewhere')))
    with pytest.raises(WorkDirLockedError, match='pid 1 on host elsewhere.*--break-lock'):
        WorkDirLock(str(tmp_path)).acquire()
    with WorkDirLock(str(tmp_path), break_lock=True):
        assert json.loads((tmp_path / LOCK_NAME).read_text())['pid'] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_ctrl_c_during_a_parallel_evaluation_prints_no_worker_tracebacks(tmp_path):
    """SIGINT reaches the whole process group: the pool workers must leave it to the main
    process (one line from eval_dpq's wrapper), not print a traceback each."""
    import signal
    import time
    script = tmp_path / 'slow_eval.py'
    script.write_text(
        'import sys, time\n'
        'sys.path.insert(0, "tools/analysis_tools")\n'
        'import eval_dpq\n'  # the light import of the evaluator (no torch), as the tool runs
        '_run = eval_dpq._folders._run\n'
        'def load(t):\n    time.sleep(0.5)\n    return t\n'
        'def score(x):\n    return x\n'
        'try:\n'
        '    print("started", flush=True)\n'
        '    _run(load, score, list(range(40)), 2, False)\n'
        'except KeyboardInterrupt:\n'
        '    print("interrupted", file=sys.stderr)\n'
        '    sys.exit(130)\n')
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == 'started'
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert 'Traceback' not in err and err.strip() == 'interrupted', err


def test_dataset_image_with_a_huge_declared_size_names_the_file(tmp_path):
    from mmengine.registry import init_default_scope

    from mmpdepth.registry import DATASETS
    init_default_scope('mmdet')
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    victim = bomb_png(osp.join(d, [f for f in os.listdir(d) if f.endswith('_leftImg8bit.png')][0]))
    ds = DATASETS.build(dict(type='CityscapesDPSDataset', data_root=str(tmp_path), ann_file='',
                             data_prefix=dict(img_path='video_sequence/val'),
                             pipeline=[dict(type='LoadImageFromFile'),
                                       dict(type='LoadDPSAnnotations')]))
    with pytest.raises(ValueError, match=f'{victim}: declares 200000x200000 px'):
        ds[0]


def test_static_onnx_export_with_a_second_image_of_another_size(tmp_path, trained):
    pytest.importorskip('mmdeploy')
    pytest.importorskip('onnxruntime')
    from .test_bad_input_corpus import png
    rng = np.random.default_rng(0)
    first, second = str(tmp_path / 'a.png'), str(tmp_path / 'b.png')
    png(first, rng.integers(0, 255, (128, 256, 3), dtype=np.uint8))
    png(second, rng.integers(0, 255, (128, 160, 3), dtype=np.uint8))  # another aspect ratio
    work = tmp_path / 'deploy'
    r = call_tool(DEPLOY, [STATIC, TINY, ckpt_of(trained[0]), first, second, '--work-dir',
                           str(work)])
    assert_clear_error(r, second, 'static graph was exported for', 'dynamic deploy config')
    assert (work / 'end2end.onnx').exists() and not (work / 'parity.json').exists()


def test_test_out_in_a_file_is_refused_before_testing(tmp_path, trained):
    blocker = tmp_path / 'results'
    blocker.write_text('a file')
    r = call_tool(TEST, [TINY, ckpt_of(trained[0]), '--work-dir', str(tmp_path / 'w'), '--out',
                         str(blocker / 'preds.pkl')])
    assert_clear_error(r, str(blocker / 'preds.pkl'), 'is a file, not a folder')
    assert not (tmp_path / 'w').exists()  # nothing ran
