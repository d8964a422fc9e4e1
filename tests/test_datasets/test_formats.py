"""The annotation-format modules: encodings, readers / writers, training maps, and that the
datasets' metainfo and the evaluators' protocols take their values from them."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmpdepth.datasets.class_meta import CITYSCAPES_DPS_METAINFO, SEMKITTI_DPS_METAINFO
from mmpdepth.evaluation.functional import CITYSCAPES_DVPS, SEMKITTI_DVPS
from mmpdepth.formats import (CITYSCAPES_DVPS_FORMAT, CITYSCAPES_PANOPTIC_FORMAT,
                              SEMKITTI_DVPS_FORMAT, get_format)


def test_encodings_and_void_ids_of_the_reference_datasets():
    assert CITYSCAPES_DVPS_FORMAT.void_id == 32000
    assert SEMKITTI_DVPS_FORMAT.void_id == 255 * 2**20
    ids = SEMKITTI_DVPS_FORMAT.encode(np.array([255, 7]), np.array([0, 65535]))
    assert ids.tolist() == [255 * 2**20, 7 * 2**20 + 65535]  # no int32 overflow
    cls, inst = SEMKITTI_DVPS_FORMAT.decode(ids)
    assert cls.tolist() == [255, 7] and inst.tolist() == [0, 65535]
    assert CITYSCAPES_DVPS_FORMAT.decode(np.array([13005]))[0].tolist() == [13]


def test_protocols_and_metainfo_come_from_the_formats():
    for fmt, proto, meta in ((CITYSCAPES_DVPS_FORMAT, CITYSCAPES_DVPS, CITYSCAPES_DPS_METAINFO),
                             (SEMKITTI_DVPS_FORMAT, SEMKITTI_DVPS, SEMKITTI_DPS_METAINFO)):
        assert (proto.label_divisor, proto.void_category) == (fmt.label_divisor,
                                                              fmt.void_category)
        assert proto.thing_classes == fmt.thing_ids and proto.stuff_classes == fmt.stuff_ids
        assert meta['label_divisor'] == fmt.label_divisor
        assert meta['thing_ids'] == fmt.thing_ids and meta['dvps_protocol'] == fmt.name
        assert len(meta['classes']) == fmt.num_classes == 19


def test_unknown_format_names_the_choices():
    with pytest.raises(ValueError, match="unknown annotation format 'coco'.*cityscapes-dvps"):
        get_format('coco')


def test_cityscapes_dvps_prediction_round_trip_and_overflow(tmp_path):
    ids = np.array([[13001, 32000], [0, 18255]], np.int64)
    path = str(tmp_path / 'p.png')
    CITYSCAPES_DVPS_FORMAT.write_pred_ids([path], ids)
    rgb = np.array(Image.open(path))
    assert rgb[..., 0].tolist() == [[13, 32], [0, 18]] and rgb[..., 1].tolist() == [[1, 0],
                                                                                   [0, 255]]
    assert CITYSCAPES_DVPS_FORMAT.read_pred_ids([path]).tolist() == ids.tolist()
    with pytest.raises(ValueError, match='p2.png: class/instance ids above 255'):
        CITYSCAPES_DVPS_FORMAT.write_pred_ids([str(tmp_path / 'p2.png')], np.array([[13256]]))


def test_semkitti_prediction_round_trip(tmp_path):
    ids = np.array([[3 * 2**20 + 700, 255 * 2**20]], np.int64)
    paths = [str(tmp_path / 'a_cat.png'), str(tmp_path / 'a_ins.png')]
    SEMKITTI_DVPS_FORMAT.write_pred_ids(paths, ids)
    assert SEMKITTI_DVPS_FORMAT.read_pred_ids(paths).tolist() == ids.tolist()
    assert SEMKITTI_DVPS_FORMAT.pred_suffixes == ('_cat.png', '_ins.png')


def test_training_maps_follow_each_formats_instance_rules(tmp_path):
    # Cityscapes-DVPS: a car group region (instance 0) is an instance by default; void -> 255
    ids = np.array([[13000, 13000, 13002], [0, 32000, 11001]], np.uint16)
    Image.fromarray(ids).save(tmp_path / 'c.png')
    info = dict(pan_path=str(tmp_path / 'c.png'))
    sem, inst = CITYSCAPES_DVPS_FORMAT.read_semantic_instance(info)
    assert sem.tolist() == [[13, 13, 13], [0, 255, 11]]
    assert inst.tolist() == [[2, 2, 3], [0, 0, 1]]  # numbered in id order
    _, inst = CITYSCAPES_DVPS_FORMAT.read_semantic_instance(info, group_as_instance=False)
    assert inst.tolist() == [[0, 0, 2], [0, 0, 1]]
    assert CITYSCAPES_DVPS_FORMAT.read_gt_ids(info).tolist() == ids.tolist()
    # SemKITTI: instance 0 is "no instance"; class 255 is ignored
    Image.fromarray(np.array([[0, 0, 255, 9]], np.uint8)).save(tmp_path / 's_cls.png')
    Image.fromarray(np.array([[0, 4, 0, 0]], np.uint16)).save(tmp_path / 's_ins.png')
    info = dict(sem_path=str(tmp_path / 's_cls.png'), inst_path=str(tmp_path / 's_ins.png'))
    sem, inst = SEMKITTI_DVPS_FORMAT.read_semantic_instance(info)
    assert sem.tolist() == [[0, 0, 255, 9]] and inst.tolist() == [[0, 1, 0, 0]]
    assert SEMKITTI_DVPS_FORMAT.read_gt_ids(info).tolist() == [[0, 4, 255 * 2**20, 9 * 2**20]]


def test_cityscapes_panoptic_drops_crowd_instances_and_voids_unlabelled(tmp_path):
    seg = np.zeros((1, 4, 3), np.uint8)
    seg[0, 0, 0], seg[0, 1, 0], seg[0, 2, 0] = 5, 6, 7  # segment ids 5, 6, 7; pixel 3: none
    Image.fromarray(seg).save(tmp_path / 'p.png')
    info = dict(pan_path=str(tmp_path / 'p.png'), segments_info=[
        dict(id=5, category=13, iscrowd=0), dict(id=6, category=13, iscrowd=1),
        dict(id=7, category=0, iscrowd=0)])
    sem, inst = CITYSCAPES_PANOPTIC_FORMAT.read_semantic_instance(info)
    assert sem.tolist() == [[13, 13, 0, 255]] and inst.tolist() == [[1, 0, 0, 0]]
    assert CITYSCAPES_PANOPTIC_FORMAT.read_gt_ids(info).tolist() == [[13001, 13000, 0, 32000]]
    _, inst = CITYSCAPES_PANOPTIC_FORMAT.read_semantic_instance(info, group_as_instance=True)
    assert inst.tolist() == [[1, 2, 0, 0]]


def test_formats_import_without_torch():
    code = ('import importlib.util, sys, types\n'
            'spec = importlib.util.find_spec("mmpdepth")\n'
            'mod = types.ModuleType("mmpdepth"); mod.__path__ = spec.submodule_search_locations\n'
            'sys.modules["mmpdepth"] = mod\n'
            'import mmpdepth.formats\n'
            'print(sorted(m for m in ("torch", "mmcv", "mmdet", "mmengine") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'
