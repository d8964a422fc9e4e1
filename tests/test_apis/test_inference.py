"""DPSInferencer, the image demo, point clouds and TTA."""
import copy
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmpdepth.apis import DPSInferencer, backproject, read_ply, write_ply
from mmpdepth.datasets.synthetic import write_synthetic_dps

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py')
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'demo'))


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imgs'))
    write_synthetic_dps(root, num_train_seqs=0, num_val_seqs=1, frames_per_seq=2, height=128,
                        width=256, seed=11)
    d = osp.join(root, 'video_sequence', 'val')
    return sorted(osp.join(d, f) for f in os.listdir(d) if f.endswith('_leftImg8bit.png'))


@pytest.fixture(scope='module')
def inferencer():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY)
    # low thresholds: a random model then still outputs things and stuff
    cfg.model.test_cfg.fusion.update(combine_inst_thr=0.0, min_rescored_score=0.0,
                                     stuff_area_limit=16)
    with pytest.warns(UserWarning, match='randomly initialised'):
        inf = DPSInferencer(cfg, None, device='cpu', show_progress=False)
    return inf


def test_inferencer_on_path_folder_and_array(inferencer, images, tmp_path):
    out = inferencer(images[0], out_dir=str(tmp_path / 'one'))
    assert len(out['predictions']) == 1 and not out['errors']
    p = out['predictions'][0]
    assert p['panoptic'].shape == (128, 256) and p['depth'].shape == (128, 256)
    assert sum(s['area'] for s in p['segments']) == 128 * 256
    name = osp.splitext(osp.basename(images[0]))[0]
    for f in (f'vis/{name}.png', f'vis/layers/{name}_panoptic.png',
              f'vis/layers/{name}_depth.png', f'preds/panoptic/{name}.png',
              f'preds/depth/{name}.png', f'preds/segments/{name}.json'):
        assert osp.isfile(tmp_path / 'one' / f), f
    seg = json.load(open(tmp_path / 'one' / f'preds/segments/{name}.json'))
    assert {'id', 'class', 'class_name', 'score', 'area', 'mean_depth'} <= set(seg['segments'][0])
    folder = osp.dirname(images[0])
    out = inferencer(folder, batch_size=2, no_save_pred=True, out_dir=str(tmp_path / 'f'))
    # the folder also holds GT PNGs: they are images too and get processed (no crash)
    assert len(out['predictions']) == len(os.listdir(folder))
    arr = np.array(Image.open(images[0]))[..., ::-1].copy()
    out_arr = inferencer(arr, return_datasamples=True)
    np.testing.assert_array_equal(out_arr['predictions'][0].pred_panoptic_seg.sem_seg[0].numpy(),
                                  p['panoptic'])


def test_bad_inputs_are_reported_and_the_rest_is_processed(inferencer, images, tmp_path):
    d = tmp_path / 'mixed'
    d.mkdir()
    Image.open(images[0]).save(d / 'good.png')
    (d / 'notes.txt').write_text('not an image')
    rgb = np.array(Image.open(images[0]))
    Image.fromarray(rgb[..., 0]).save(d / 'gray.png')
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(d / 'sixteen.png')
    with pytest.warns(UserWarning) as rec:
        out = inferencer(str(d))
    msgs = ' '.join(str(r.message) for r in rec)
    assert 'notes.txt: not an image' in msgs
    assert 'grayscale image converted' in msgs and '16-bit image scaled to 8 bit' in msgs
    assert len(out['predictions']) == 3 and len(out['errors']) == 1
    out = inferencer([str(d / 'missing.png'), str(d / 'good.png')])
    assert out['errors'] == [f'{d}/missing.png: file not found']
    assert len(out['predictions']) == 1
    empty = tmp_path / 'empty'
    empty.mkdir()
    out = inferencer(str(empty))
    assert out['predictions'] == [] and 'empty folder' in out['errors'][0]


def test_ply_round_trip_and_back_projection(tmp_path):
    depth = np.array([[2.0, 0.0, 4.0], [1.0, 3.0, 0.0]], np.float32)
    rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    cam = dict(fx=2.0, fy=4.0, cx=1.0, cy=0.5)
    pan = np.array([[13001, 0, 2000], [13001, 11002, 8000]])
    n = write_ply(str(tmp_path / 'p.ply'), depth, rgb, cam, pan, 1000)
    assert n == 4  # valid depth pixels
    pts = read_ply(str(tmp_path / 'p.ply'))
    assert len(pts) == 4
    head = open(tmp_path / 'p.ply', 'rb').read(200).decode('ascii', 'ignore')
    assert head.startswith('ply\nformat binary_little_endian 1.0') and 'element vertex 4' in head
    # pixel (v=1, u=1), Z=3: X = (1-1)*3/2 = 0, Y = (1-0.5)*3/4 = 0.375
    k = 3
    assert (pts['x'][k], pts['y'][k], pts['z'][k]) == pytest.approx((0.0, 0.375, 3.0))
    # pixel (v=0, u=2), Z=4: X = (2-1)*4/2 = 2, Y = (0-0.5)*4/4 = -0.5
    assert (pts['x'][1], pts['y'][1], pts['z'][1]) == pytest.approx((2.0, -0.5, 4.0))
    assert pts['class'].tolist() == [13, 2, 13, 11]
    assert pts['instance'].tolist() == [1, 0, 1, 2]
    assert (pts['red'][0], pts['green'][0], pts['blue'][0]) == (0, 1, 2)
    xyz, idx = backproject(depth, cam)
    assert idx.tolist() == [0, 2, 3, 4]


def test_demo_predictions_round_trip_through_eval_dpq(inferencer, images, tmp_path):
    import eval_dpq
    import image_demo
    out_dir = str(tmp_path / 'demo')
    folder = str(tmp_path / 'in')
    os.makedirs(folder)
    for p in images:
        Image.open(p).save(osp.join(folder, osp.basename(p)))
    cfg_path = str(tmp_path / 'cfg.py')
    inferencer.cfg.dump(cfg_path)
    assert image_demo.main([folder, cfg_path, '--random-weights', '--out-dir', out_dir,
                            '--save-pcd', '--fx', '230', '--fy', '230', '--cx', '128',
                            '--cy', '64']) == 0
    # use the predictions as GT (Cityscapes-DVPS GT naming) and evaluate them against themselves
    gt = tmp_path / 'gt'
    gt.mkdir()
    for f in sorted(os.listdir(osp.join(out_dir, 'preds', 'panoptic'))):
        stem = f[:-len('_leftImg8bit.png')]
        rgb = np.array(Image.open(osp.join(out_dir, 'preds', 'panoptic', f)))
        ids = rgb[..., 0].astype(np.int64) * 1000 + rgb[..., 1]
        Image.fromarray(ids.astype(np.uint16)).save(gt / f'{stem}_gtFine_instanceTrainIds.png')
        Image.open(osp.join(out_dir, 'preds', 'depth', f)).save(gt / f'{stem}_depth.png')
    res = str(tmp_path / 'r.json')
    assert eval_dpq.main(['cityscapes-dvps', '--gt-dir', str(gt), '--pan-dir',
                          osp.join(out_dir, 'preds', 'panoptic'), '--depth-dir',
                          osp.join(out_dir, 'preds', 'depth'), '--skip-absent', '--out',
                          res]) == 0
    r = json.load(open(res))
    assert r['PQ'] == pytest.approx(100.0) and r['DPQ'] == pytest.approx(100.0)
    # point cloud: one point per valid depth pixel
    name = osp.splitext(osp.basename(images[0]))[0]
    pts = read_ply(osp.join(out_dir, 'pcd', f'{name}.ply'))
    depth = np.array(Image.open(osp.join(out_dir, 'preds', 'depth', f'{name}.png'))) / 256.0
    assert abs(len(pts) - int((depth > 0).sum())) <= int((depth > 0).size * 0.001)
    assert osp.isfile(osp.join(out_dir, 'pcd', f'{name}_view.png'))


def test_tta_with_one_identity_view_equals_plain_inference(inferencer, images):
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate

    from mmpdepth.models.test_time_augs import DPSTTAModel
    model = inferencer.model
    pipeline = Compose([dict(type='LoadImageFromFile'),
                        dict(type='DPSResize', scale=(256, 128), keep_ratio=True),
                        dict(type='PackDPSInputs')])
    data = pseudo_collate([pipeline(dict(img_path=images[0]))])
    with torch.no_grad():
        plain = model.test_step(copy.deepcopy(data))[0]
    tta = DPSTTAModel(module=model)
    tta_data = {k: [v] for k, v in copy.deepcopy(data).items()}
    merged = tta.test_step(tta_data)[0]
    assert torch.equal(plain.pred_panoptic_seg.sem_seg, merged.pred_panoptic_seg.sem_seg)
    assert torch.equal(plain.pred_depth_map.data, merged.pred_depth_map.data)


def test_tta_flip_views_merge(inferencer, images):
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate

    from mmpdepth.models.test_time_augs import DPSTTAModel
    views = []
    for prob in (0.0, 1.0):
        pipe = Compose([dict(type='LoadImageFromFile'),
                        dict(type='DPSResize', scale=(256, 128), keep_ratio=True),
                        dict(type='DPSRandomFlip', prob=prob), dict(type='PackDPSInputs')])
        views.append(pseudo_collate([pipe(dict(img_path=images[0]))]))
    data = {k: [v[k] for v in views] for k in views[0]}
    merged = DPSTTAModel(module=inferencer.model).test_step(data)[0]
    ids = merged.pred_panoptic_seg.sem_seg[0]
    assert ids.shape == (128, 256) and ((ids // 1000) < 19).all()
    assert merged.metainfo['flip'] is False


def test_inferencer_steps_follow_the_base_inferencer_contract(inferencer, images, tmp_path):
    from mmpdepth.visualization import DPSLocalVisualizer
    assert isinstance(inferencer.visualizer, DPSLocalVisualizer)
    assert inferencer.dataset_meta['classes'][13] == 'car'  # the test dataset's metainfo
    items, errors = inferencer.collect_inputs(images[:2])
    assert not errors
    batches = list(inferencer.preprocess(items, batch_size=2))
    assert len(batches) == 1 and len(batches[0][0]) == 2
    samples = inferencer.forward(batches[0][1])
    vis = inferencer.visualize(items, samples, vis_out_dir=str(tmp_path / 'vis'))
    # titles above, a legend below the 128 px pictures
    assert vis[0]['panel'].shape[0] > 128 and vis[0]['panel'].shape[1] > 3 * 256
    assert vis[0]['titles'] == ['image', 'panoptic', 'depth'] and vis[0]['legend']
    assert osp.isfile(tmp_path / 'vis' / f'{items[0]["name"]}.png')
    out = inferencer.postprocess(samples, vis, pred_out_dir=str(tmp_path / 'preds'),
                                 items=items)
    assert [p['name'] for p in out['predictions']] == [it['name'] for it in items]
    assert osp.isfile(tmp_path / 'preds' / 'panoptic' / f'{items[1]["name"]}.png')
    np.testing.assert_array_equal(out['visualization'][0], vis[0]['panel'])


def test_inference_dps_is_the_inferencer_on_a_built_model(inferencer, images):
    from mmpdepth.apis import inference_dps
    model = inferencer.model
    sample = inference_dps(model, images[0])
    ref = inferencer(images[0], return_datasamples=True)['predictions'][0]
    np.testing.assert_array_equal(sample.pred_panoptic_seg.sem_seg.numpy(),
                                  ref.pred_panoptic_seg.sem_seg.numpy())
    # the label divisor is the config's, not a constant
    cfg = copy.deepcopy(model.cfg)
    cfg.model.test_cfg.fusion.label_divisor = 2**20
    model.cfg, old = cfg, model.cfg
    try:
        from mmpdepth.apis import DPSInferencer as Inf
        assert Inf(model, show_progress=False).label_divisor == 2**20
    finally:
        model.cfg = old
    with pytest.raises(ValueError, match='missing.png: file not found'):
        inference_dps(model, '/nonexistent/missing.png')


def test_segments_without_a_pixel_in_the_map_are_not_listed(inferencer):
    """In DPS mode a segment can pass the fusion filters and win no pixel of the per-pixel
    argmax (the official code keeps it with area 0): it is not in the panoptic map, so the
    user's segment list (JSON, the web demo's table) leaves it out."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData
    s = DetDataSample()
    pan = torch.full((1, 4, 4), 13001)
    pan[0, :, :1] = 0
    s.pred_panoptic_seg = PixelData(sem_seg=pan)
    s.pred_depth_map = PixelData(data=torch.arange(16.).view(1, 4, 4))
    s.pred_segments = InstanceData(ids=torch.tensor([13001, 11002, 0]),
                                   labels=torch.tensor([13, 11, 0]),
                                   scores=torch.tensor([0.9, 0.8, 0.7]),
                                   areas=torch.tensor([12, 0, 4]))
    segs = inferencer.to_prediction(s, 'x')['segments']
    assert [(g['id'], g['area'], g['mean_depth']) for g in segs] == [(13001, 12, 8.0),
                                                                     (0, 4, 6.0)]


def test_inferencer_folds_batch_norms_of_the_model_it_builds_only(inferencer):
    """Its own model: backbone / neck BatchNorms folded (faster, same predictions up to float
    rounding); a model the caller built is left as it is unless asked; init_model keeps
    them (its state dict matches the checkpoint)."""
    from mmpdepth.apis import init_model

    def bns(model):
        return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                   for part in (model.backbone, model.neck) for m in part.modules())

    assert bns(inferencer.model) == 0
    with pytest.warns(UserWarning, match='randomly initialised'):
        model = init_model(TINY)
    n = bns(model)
    assert n > 0
    DPSInferencer(model, show_progress=False)
    assert bns(model) == n
    DPSInferencer(model, show_progress=False, fuse_conv_bn=True)
    assert bns(model) == 0
    with pytest.warns(UserWarning, match='randomly initialised'):
        kept = DPSInferencer(TINY, None, device='cpu', show_progress=False, fuse_conv_bn=False)
    assert bns(kept.model) == n
