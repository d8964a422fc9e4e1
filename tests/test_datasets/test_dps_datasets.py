"""DPS datasets and pipelines: every layout loads, transforms keep everything aligned, bad input
gives clear errors."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmpdepth.registry import DATASETS

from .dps_trees import (write_cityscapes_dvps, write_cityscapes_panoptic,
                        write_semkitti_dvps)

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadDPSAnnotations', with_depth=True)]


def build(type_, root, pipeline, **kw):
    return DATASETS.build(dict(type=type_, data_root=root, ann_file='', test_mode=True,
                               data_prefix=dict(img_path='video_sequence/val'),
                               pipeline=pipeline, **kw))


def decode(img_bgr):
    """Image channels (BGR as loaded) -> class, instance, depth encoded by block_maps."""
    rgb = img_bgr[..., ::-1].astype(np.int64)
    return rgb[..., 0] // 10, rgb[..., 1] // 20, rgb[..., 2].astype(np.float64)


def interior(seg, margin=1):
    """Pixels whose (2*margin+1)^2 neighbourhood has one label (away from block edges)."""
    from scipy.ndimage import maximum_filter, minimum_filter
    size = 2 * margin + 1
    return maximum_filter(seg, size) == minimum_filter(seg, size)


def test_cityscapes_dvps_loads_and_packs(tmp_path):
    write_cityscapes_dvps(str(tmp_path))
    ds = build('CityscapesDPSDataset', str(tmp_path), LOAD + [dict(type='PackDPSInputs')])
    assert len(ds) == 2
    sample = ds[0]['data_samples']
    sem = sample.gt_sem_seg.sem_seg[0].numpy()
    assert (sem[:4, :4] == 255).all()  # void 32000 -> ignore
    assert set(np.unique(sem)) <= {0, 2, 8, 11, 13, 255}
    labels = sample.gt_instances.labels.tolist()
    assert all(lbl in (11, 13) for lbl in labels) and len(labels) > 0
    masks = sample.gt_instances.masks.to_ndarray()
    for m, lbl in zip(masks, labels):
        assert (sem[m.astype(bool)] == lbl).all()
    assert sample.gt_depth_map.data.dtype.is_floating_point
    assert ds.metainfo['thing_ids'] == tuple(range(11, 19))
    assert sample.metainfo['seq_id'] == '000000'


def test_semkitti_focal_reaches_metainfo(tmp_path):
    write_semkitti_dvps(str(tmp_path))
    ds = build('SemKITTIDPSDataset', str(tmp_path), LOAD + [dict(type='PackDPSInputs')])
    sample = ds[1]['data_samples']
    cam = sample.metainfo['cam_intrinsic']
    assert cam['fx'] == pytest.approx(718.856) and cam['cx'] == 32.0 and cam['cy'] == 16.0
    sem = sample.gt_sem_seg.sem_seg[0].numpy()
    assert (sem[:2, :2] == 255).all()
    assert set(sample.gt_instances.labels.tolist()) <= {0, 5}  # car, person are things


def test_cityscapes_panoptic_crowd_is_not_an_instance(tmp_path):
    write_cityscapes_panoptic(str(tmp_path))
    ds = DATASETS.build(dict(
        type='CityscapesPanopticDataset', data_root=str(tmp_path), test_mode=True,
        ann_file='gtFine/cityscapes_panoptic_val.json',
        data_prefix=dict(img_path='leftImg8bit/val', seg='gtFine/cityscapes_panoptic_val'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadDPSAnnotations', with_depth=False),
                  dict(type='PackDPSInputs')]))
    for i in range(len(ds)):
        s = ds[i]['data_samples']
        sem = s.gt_sem_seg.sem_seg[0].numpy()
        img_cls, img_inst, _ = decode(ds[i]['inputs'].permute(1, 2, 0).numpy())
        np.testing.assert_array_equal(sem, img_cls)
        masks = s.gt_instances.masks.to_ndarray().astype(bool)
        # person instance 1 was written as crowd: it keeps its class but is no instance
        crowd = (img_cls == 11) & (img_inst == 1)
        assert not any((m & crowd).any() for m in masks)


@pytest.mark.parametrize('scale_depth', [False, True])
def test_resize_crop_flip_keep_alignment_and_depth_rule(tmp_path, scale_depth):
    write_cityscapes_dvps(str(tmp_path), void_corner=False)
    pipeline = LOAD + [
        dict(type='DPSResize', scale=(100, 50), keep_ratio=True, scale_depth=scale_depth),
        dict(type='DPSRandomCrop', crop_size=(40, 80), crop_type='random'),
        dict(type='DPSRandomFlip', prob=1.0),
    ]
    ds = build('CityscapesDPSDataset', str(tmp_path), pipeline)
    for i in range(len(ds)):
        r = ds[i]
        zoom = (64 / 100 + 32 / 50) / 2  # official: depth *= (w/new_w + h/new_h) / 2
        assert r['img'].shape[:2] == r['gt_seg_map'].shape == r['gt_depth_map'].shape
        assert r['flip'] and r['scale_factor'] == pytest.approx((100 / 64, 50 / 32))
        cls, inst, depth = decode(r['img'])
        ok = interior(cls * 100 + inst) & interior(depth) & (r['gt_seg_map'] != 255)
        assert ok.mean() > 0.4
        np.testing.assert_array_equal(r['gt_seg_map'][ok], cls[ok])
        inst_map = r['gt_instance_map']
        # instance ids are dense but must split exactly where the encoded instances split
        for v in np.unique(inst_map[ok & (inst_map > 0)]):
            assert len(np.unique((cls * 100 + inst)[ok & (inst_map == v)])) == 1
        want = depth[ok] * (zoom if scale_depth else 1.0)
        np.testing.assert_allclose(r['gt_depth_map'][ok], want, rtol=1e-5)
        # the padded band (crop larger than the image vertically? no: 50 >= 40) has no depth
        assert r['gt_depth_map'].dtype == np.float32


def test_crop_larger_than_image_pads_with_void_and_invalid_depth(tmp_path):
    write_cityscapes_dvps(str(tmp_path), void_corner=False)
    ds = build('CityscapesDPSDataset', str(tmp_path),
               LOAD + [dict(type='DPSRandomCrop', crop_size=(48, 64), crop_type='center')])
    r = ds[0]
    assert r['img'].shape[:2] == (48, 64) and r['crop_offset'] == (-8, 0)
    assert (r['gt_seg_map'][:8] == 255).all() and (r['gt_seg_map'][-8:] == 255).all()
    assert (r['gt_instance_map'][:8] == 0).all() and (r['gt_depth_map'][:8] == 0).all()
    assert (r['img'][:8] == 0).all()


def test_missing_depth_file_is_named(tmp_path):
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    victim = [f for f in os.listdir(d) if f.endswith('_depth.png')][0]
    os.remove(osp.join(d, victim))
    with pytest.raises(FileNotFoundError, match=victim):
        build('CityscapesDPSDataset', str(tmp_path), LOAD)


def test_8bit_depth_png_is_rejected(tmp_path):
    write_cityscapes_dvps(str(tmp_path), n=1, depth_dtype=np.uint8)
    ds = build('CityscapesDPSDataset', str(tmp_path), LOAD)
    with pytest.raises(ValueError, match=r'_depth\.png.*16-bit'):
        ds[0]


def test_size_mismatch_is_rejected(tmp_path):
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    pan = [f for f in os.listdir(d) if f.endswith('instanceTrainIds.png')][0]
    Image.fromarray(np.zeros((16, 64), np.uint16)).save(osp.join(d, pan))
    ds = build('CityscapesDPSDataset', str(tmp_path), LOAD)
    with pytest.raises(ValueError, match='differs from the image'):
        ds[0]


def test_image_without_things_and_all_invalid_depth_load(tmp_path):
    d = write_cityscapes_dvps(str(tmp_path), n=1)
    stem = [f for f in os.listdir(d) if f.endswith('_leftImg8bit.png')][0][:-len('_leftImg8bit.png')]
    Image.fromarray(np.full((32, 64), 8000, np.uint16)).save(
        osp.join(d, f'{stem}_gtFine_instanceTrainIds.png'))
    Image.fromarray(np.zeros((32, 64), np.uint16)).save(osp.join(d, f'{stem}_depth.png'))
    ds = build('CityscapesDPSDataset', str(tmp_path), LOAD + [dict(type='PackDPSInputs')])
    s = ds[0]['data_samples']
    assert len(s.gt_instances) == 0 and s.gt_instances.masks.masks.shape == (0, 32, 64)
    assert float(s.gt_depth_map.data.abs().sum()) == 0.0
    # such images are dropped from training only when asked (filter_empty_gt); dropping all of
    # them is an error that says so
    with pytest.raises(ValueError, match='removed all 1 samples'):
        DATASETS.build(dict(type='CityscapesDPSDataset', data_root=str(tmp_path),
                            ann_file='', data_prefix=dict(img_path='video_sequence/val'),
                            filter_cfg=dict(filter_empty_gt=True), pipeline=LOAD))


def test_index_file_from_converter_loads_the_same(tmp_path):
    import sys
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters'))
    import cityscapes_dvps as conv
    write_cityscapes_dvps(str(tmp_path), n=3)
    out = str(tmp_path / 'val_index.json')
    assert conv.main(['--root', str(tmp_path), '--split', 'val', '--out', out]) == 0
    a = build('CityscapesDPSDataset', str(tmp_path), LOAD)
    b = DATASETS.build(dict(type='CityscapesDPSDataset', data_root=str(tmp_path),
                            ann_file='val_index.json', test_mode=True,
                            data_prefix=dict(img_path='video_sequence/val'), pipeline=LOAD))
    assert len(a) == len(b) == 3
    for i in range(3):
        assert a.get_data_info(i)['img_path'] == b.get_data_info(i)['img_path']
        np.testing.assert_array_equal(a[i]['gt_seg_map'], b[i]['gt_seg_map'])
