"""Point clouds: sky and no-depth pixels left out (flag to keep the sky), the intrinsics used
written beside the PLY, and the GLB point cloud the browser demo shows."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmpdepth.apis import DPSInferencer
from mmpdepth.apis.point_cloud import (backproject, default_intrinsics, intrinsics_record,
                                       point_mask, read_glb, read_ply, sky_classes, write_glb)
from mmpdepth.datasets.class_meta import CITYSCAPES_DPS_METAINFO, SEMKITTI_DPS_METAINFO

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py')


def test_sky_comes_from_the_dataset_classes():
    assert sky_classes(CITYSCAPES_DPS_METAINFO) == (10, )
    assert sky_classes(SEMKITTI_DPS_METAINFO) == ()  # SemKITTI has no sky class
    assert sky_classes(dict(classes=('ground', 'sky', 'tree'))) == (1, )
    assert sky_classes({}) == ()


def test_point_mask_leaves_out_sky_and_no_depth():
    depth = np.array([[5.0, 0.0, 7.0], [3.0, 2.0, 1.0]], np.float32)
    ids = np.array([[10000, 0, 13001], [10000, 1000, 0]])
    keep = point_mask(depth, ids, 1000, (10, ))
    assert keep.tolist() == [[False, False, True], [False, True, True]]
    assert point_mask(depth, ids, 1000, ()).tolist() == [[True, False, True], [True, True, True]]
    _, idx = backproject(depth, default_intrinsics(2, 3), keep)
    assert idx.tolist() == [2, 4, 5]


def test_intrinsics_record_says_when_they_are_assumed():
    rec = intrinsics_record(None, 100, 200)
    assert rec['source'].startswith('assumed') and '60' in rec['source']
    assert rec['hfov_deg'] == pytest.approx(60.0)
    assert rec['fx'] == pytest.approx(100 / math.tan(math.radians(30)), abs=1e-3)
    assert (rec['cx'], rec['cy'], rec['width'], rec['height']) == (100.0, 50.0, 200, 100)
    given = intrinsics_record(dict(fx=100.0, fy=90.0, cx=99.5, cy=49.5), 100, 200, 'given')
    assert given['source'] == 'given' and given['hfov_deg'] == pytest.approx(90.0, abs=0.6)


def test_glb_point_cloud_round_trip(tmp_path):
    pts = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 10.0], [0.0, -2.0, 4.0]], np.float32)
    col = np.array([[255, 0, 0], [0, 255, 0], [1, 2, 3]], np.uint8)
    path = str(tmp_path / 'p.glb')
    assert write_glb(path, pts, col) == 3
    raw = open(path, 'rb').read()
    assert raw[:4] == b'glTF' and len(raw) % 4 == 0
    gltf, pos, rgba = read_glb(path)
    assert gltf['meshes'][0]['primitives'][0]['mode'] == 0  # POINTS
    # glTF is y up, camera frame y down / z forward: (x, -y, -z)
    np.testing.assert_array_equal(pos, pts * np.float32([1, -1, -1]))
    np.testing.assert_array_equal(rgba[:, :3], col)
    assert (rgba[:, 3] == 255).all()
    assert gltf['accessors'][0]['min'] == pos.min(0).tolist()
    assert gltf['accessors'][0]['max'] == pos.max(0).tolist()


@pytest.fixture(scope='module')
def inferencer():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY)
    cfg.model.test_cfg.fusion.update(combine_inst_thr=0.0, min_rescored_score=0.0,
                                     stuff_area_limit=16)
    with pytest.warns(UserWarning, match='randomly initialised'):
        return DPSInferencer(cfg, None, device='cpu', show_progress=False)


def test_inferencer_point_cloud_leaves_out_sky_and_records_intrinsics(inferencer, tmp_path,
                                                                      monkeypatch):
    forward = inferencer.forward

    def forward_with_sky(data):  # the random model's prediction, with sky on the top rows
        samples = forward(data)
        for s in samples:
            s.pred_panoptic_seg.sem_seg[..., :20, :] = 10 * inferencer.label_divisor
        return samples

    monkeypatch.setattr(inferencer, 'forward', forward_with_sky)
    img = np.random.default_rng(3).integers(0, 255, (64, 128, 3), dtype=np.uint8)
    out = inferencer(img, out_dir=str(tmp_path / 'a'), save_pcd=True, no_save_vis=True)
    pred = out['predictions'][0]
    ids, depth = pred['panoptic'], pred['depth']
    sky = ids // 1000 == 10
    assert sky[:20].all() and not sky[20:].any() and (depth[:20] > 0).sum() > 100
    pts = read_ply(str(tmp_path / 'a' / 'pcd' / 'array_0000.ply'))
    assert len(pts) == int(((depth > 0) & ~sky).sum())
    assert 10 not in set(pts['class'].tolist())
    cam = json.load(open(tmp_path / 'a' / 'pcd' / 'array_0000_camera.json'))
    assert cam['source'].startswith('assumed') and cam['hfov_deg'] == pytest.approx(60.0)
    assert cam['points'] == len(pts) and cam['left_out']['sky'] == int((sky & (depth > 0)).sum())
    # --keep-sky keeps it; given intrinsics are recorded as given
    given = dict(fx=50.0, fy=50.0, cx=64.0, cy=32.0)
    inferencer(img, out_dir=str(tmp_path / 'b'), save_pcd=True, no_save_vis=True,
               keep_sky=True, intrinsics=given)
    pts = read_ply(str(tmp_path / 'b' / 'pcd' / 'array_0000.ply'))
    assert len(pts) == int((depth > 0).sum()) and 10 in set(pts['class'].tolist())
    cam = json.load(open(tmp_path / 'b' / 'pcd' / 'array_0000_camera.json'))
    assert cam['source'] == 'given' and cam['fx'] == 50.0 and cam['left_out']['sky'] == 0
