"""PanopticTargetGenerator: PanopticFCN targets plus depth of one image (spec §2.1-2.2, §2.6)."""
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmpdepth.models.task_modules import PanopticTargetGenerator
from mmpdepth.registry import TASK_UTILS

LEVEL_HW = [(128 // s, 256 // s) for s in (8, 16, 32, 64, 128)]
SCALES = ((1, 128), (64, 256), (128, 512), (256, 1024), (512, 2048))


def sample(with_depth=True):
    sem = torch.zeros(1, 128, 256, dtype=torch.long)  # road
    masks = torch.zeros(2, 128, 256, dtype=torch.uint8)
    masks[0, 20:60, 60:100] = 1  # a car (class 13), 40x40: sqrt(area) 40 -> level P3 only
    masks[1, 0:100, 150:250] = 1  # a 100x100 building (class 2, stuff): no centre target
    sem[0][masks[0].bool()] = 13
    sem[0][masks[1].bool()] = 2
    ds = DetDataSample(metainfo=dict(batch_input_shape=(128, 256)))
    ds.gt_sem_seg = PixelData(sem_seg=sem)
    ds.gt_instances = InstanceData(labels=torch.tensor([13, 2]),
                                   masks=BitmapMasks(masks.numpy(), 128, 256),
                                   bboxes=torch.tensor([[60., 20., 100., 60.],
                                                        [150., 0., 250., 100.]]))
    if with_depth:
        depth = torch.arange(128 * 256, dtype=torch.float32).reshape(1, 128, 256)
        ds.gt_depth_map = PixelData(data=depth)
    return ds


def build(**kwargs):
    return TASK_UTILS.build(dict(type='PanopticTargetGenerator', num_classes=19,
                                 thing_class_ids=tuple(range(11, 19)), instance_scales=SCALES,
                                 **kwargs))


def test_thing_targets_go_to_the_level_of_their_size_with_a_unit_peak_at_the_centre():
    gen = build()
    assert isinstance(gen, PanopticTargetGenerator) and not list(gen.state_dict())
    tg = gen(sample(), (32, 64), LEVEL_HW, (128, 256))
    assert [len(i) for i in tg['thing_index']] == [1, 0, 0, 0, 0]
    assert tg['inst_thing'].tolist() == [2]  # class 13 is thing channel 2
    heat = tg['center_target'][0]
    assert heat.shape == (8, 16, 32) and float(heat.max()) == 1.0
    # mass centre of the stride-4 mask (x 19.5, y 9.5) at stride 8, truncated: (9, 4)
    assert divmod(int(heat[2].argmax()), 32) == (4, 9)
    assert float(heat[[0, 1, 3, 4, 5, 6, 7]].abs().sum()) == 0.0
    assert all(float(t.abs().sum()) == 0.0 for t in tg['center_target'][1:])
    # soft instance mask at stride 4: the 40x40 box covers 10x10 cells
    assert float(tg['inst_s4'][0].sum()) == 100.0
    # class maps: stride-4 one-hot, region targets binarised at 0.5 per level
    assert float(tg['sem_s4'][2, :25, 38:62].min()) == 1.0 and float(tg['sem_s4'][2].sum()) == 625
    # the car's 10x10 cells at stride 8: 4x4 whole cells, 16 half-covered edge cells kept at
    # 0.5, the 4 quarter-covered corners dropped
    car = tg['region_target'][0][13]
    assert int((car == 1).sum()) == 16 and int((car == 0.5).sum()) == 16
    assert float(car.sum()) == 24.0


def test_depth_target_is_the_nearest_stride_4_sample_and_optional():
    tg = build()(sample(), (32, 64), LEVEL_HW, (128, 256))
    depth = torch.arange(128 * 256, dtype=torch.float32).reshape(128, 256)
    assert torch.equal(tg['depth_s4'], depth[::4, ::4])
    assert build(with_depth=False)(sample(), (32, 64), LEVEL_HW, (128, 256))['depth_s4'] is None
    assert build()(sample(False), (32, 64), LEVEL_HW, (128, 256))['depth_s4'] is None
