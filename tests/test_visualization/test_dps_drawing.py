"""Pictures that explain themselves: titles, class legend, a no-depth colour no class uses, a
colour bar and text that grow with the image."""
import numpy as np
import torch
from matplotlib import colormaps
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData

from mmpdepth.datasets.class_meta import CITYSCAPES_DPS_METAINFO, SEMKITTI_DPS_METAINFO
from mmpdepth.visualization import DPSLocalVisualizer
from mmpdepth.visualization.dps_drawing import (GAP, NO_DEPTH_COLOUR, colourize_depth,
                                                depth_colour_bar, prediction_panel, title_bar)

META = CITYSCAPES_DPS_METAINFO
PAL = META['palette']


def scene(h=128, w=256):
    """road below, sidewalk strip, sky on top (no depth there), one car instance."""
    ids = np.zeros((h, w), np.int64)  # road
    ids[h // 2:h // 2 + 10] = 1 * 1000  # sidewalk
    ids[:h // 3] = 10 * 1000  # sky
    ids[70:100, 40:120] = 13 * 1000 + 1  # car 1
    depth = np.linspace(5, 60, h, dtype=np.float32)[:, None].repeat(w, 1)
    depth[:h // 3] = 0
    rgb = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return rgb, ids, depth


def dark(region):
    return int((region.max(-1) < 100).sum())


def test_no_depth_colour_is_used_by_no_class_and_no_depth_value():
    palettes = [tuple(c) for c in META['palette']] + \
        [tuple(c) for c in SEMKITTI_DPS_METAINFO['palette']]
    assert NO_DEPTH_COLOUR not in palettes
    assert (244, 35, 232) in palettes  # the old no-depth magenta was Cityscapes' sidewalk
    turbo = colormaps['turbo'](np.linspace(0, 1, 1024))[:, :3] * 255
    assert np.abs(turbo - np.array(NO_DEPTH_COLOUR)).max(1).min() > 40
    d = np.array([[0.0, -1.0, 10.0]], np.float32)
    pic = colourize_depth(d)
    assert pic[0, 0].tolist() == list(NO_DEPTH_COLOUR) == pic[0, 1].tolist()
    assert pic[0, 2].tolist() != list(NO_DEPTH_COLOUR)


def test_prediction_panel_has_titles_legend_and_no_depth_colour():
    rgb, ids, depth = scene()
    h, w = rgb.shape[:2]
    out = prediction_panel(rgb, ids, depth, META, 1000)
    assert out['titles'] == ['image', 'panoptic', 'depth']
    assert out['legend'] == [('road', PAL[0]), ('sidewalk', PAL[1]), ('sky', PAL[10]),
                             ('car', PAL[13]), ('no depth', NO_DEPTH_COLOUR)]
    pic = out['panel']
    th = title_bar(w, 'image', h).shape[0]
    # row = [title; picture] x (image, panoptic, depth, colour bar); the legend below
    np.testing.assert_array_equal(pic[th:th + h, :w], rgb)
    np.testing.assert_array_equal(pic[th:th + h, w + GAP:2 * w + GAP], out['panoptic'])
    depth_pic = pic[th:th + h, 2 * (w + GAP):3 * w + 2 * GAP]
    np.testing.assert_array_equal(depth_pic, out['depth'])
    assert (depth_pic[depth == 0] == NO_DEPTH_COLOUR).all()
    assert not (depth_pic[depth > 0] == NO_DEPTH_COLOUR).all(-1).any()
    for k in range(3):  # a title is written above each picture, in its middle third
        assert dark(pic[:th, k * (w + GAP) + w // 3:k * (w + GAP) + 2 * w // 3]) > 20
        assert dark(pic[:th, k * (w + GAP):k * (w + GAP) + w // 5]) == 0
    legend = pic[th + h + GAP:]
    assert legend.shape[0] >= th and dark(legend) > 100  # names written
    for name, colour in out['legend']:  # one swatch of each colour
        assert (legend == colour).all(-1).sum() >= 25, name
    # the car is drawn in shades of its class colour; the legend shows the class colour
    assert not (out['panoptic'] == PAL[13]).all(-1).any()


def test_text_and_colour_bar_scale_with_the_image():
    small, large = depth_colour_bar(256), depth_colour_bar(2048)
    assert large.shape[1] >= 5 * small.shape[1]
    assert dark(large) >= 30 * dark(small)  # tick labels drawn at ~8x the size
    assert title_bar(4096, 'depth', 2048).shape[0] >= 5 * title_bar(512, 'depth', 256).shape[0]
    # the bar runs from far (top) to near (bottom) in the depth colours, labelled in metres
    x = small.shape[1] // 10 + 2
    np.testing.assert_array_equal(small[-1, x], colourize_depth(np.array([[1e-3]]))[0, 0])
    np.testing.assert_array_equal(small[0, x], colourize_depth(np.array([[80.0]]))[0, 0])


def test_visualizer_titles_gt_and_prediction_rows(tmp_path):
    rgb, ids, depth = scene()
    vis = DPSLocalVisualizer(name='test_titles_vis')
    vis.dataset_meta = META
    assert vis.draw_row(rgb, ids, depth, 1000, 'GT')['titles'] == \
        ['GT image', 'GT panoptic', 'GT depth']
    sample = DetDataSample()
    sem = ids // 1000
    sem[ids == 13001] = 13
    sample.gt_sem_seg = PixelData(sem_seg=torch.from_numpy(sem[None]))
    inst = InstanceData()
    inst.masks = (ids == 13001)[None]
    sample.gt_instances = inst
    sample.gt_depth_map = PixelData(data=torch.from_numpy(depth[None]))
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(ids[None]))
    sample.pred_depth_map = PixelData(data=torch.from_numpy(depth[None] + 1))
    out = tmp_path / 'v.png'
    vis.add_datasample('x', rgb, sample, out_file=str(out))
    import mmcv
    pic = mmcv.imread(str(out), channel_order='rgb')
    row = vis.draw_row(rgb, ids, depth, 1000, 'prediction')['row']
    assert pic.shape[1] == row.shape[1]
    assert pic.shape[0] > 2 * row.shape[0]  # GT row, prediction row, legend
    legend = pic[2 * row.shape[0] + 2 * GAP:]
    for colour in (PAL[0], PAL[1], PAL[10], PAL[13], NO_DEPTH_COLOUR):
        assert (legend == colour).all(-1).sum() >= 25
