"""Converted official weights reproduce the official outputs (``shared/golden``, image A).

The official code was run unmodified on CPU with deterministic weights; we regenerate the same
Detectron2 state dict, convert it with ``tools/model_converters``, and compare stage by stage.
Tolerances follow the official code's own thread-count noise (golden README §7).
"""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from mmpdepth.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tests'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
from golden_weights import DATA, make_d2_state_dict  # noqa: E402

CH = slice(0, 256, 16)
CONFIGS = {
    'dps': 'configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-dps.py',
    'ps': 'configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-panoptic.py',
}


def rel_err(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))


@pytest.fixture(scope='module', params=['dps', 'ps'])
def run(request, tmp_path_factory):
    name = request.param
    import panopticdepth_d2_to_mmpdepth as converter
    tmp = tmp_path_factory.mktemp(name)
    src, dst = str(tmp / 'official.pth'), str(tmp / 'converted.pth')
    torch.save(dict(model=make_d2_state_dict(name), iteration=0), src)
    assert converter.main([src, dst]) == 0
    ckpt = torch.load(dst, weights_only=True)
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[name]))
    model = MODELS.build(cfg.model)
    model.load_state_dict(ckpt['state_dict'], strict=True)  # every key converted, none left
    model.eval()
    g = dict(np.load(osp.join(DATA, f'{name}_imageA_subset.npz')))
    img = torch.from_numpy(g['model_input_bgr_chw_uint8'].copy())
    ds = DetDataSample(metainfo=dict(img_shape=(256, 512), ori_shape=(256, 512)))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=[img], data_samples=[ds]), False)
            feats = model.extract_feat(data['inputs'])
            outs = model.panoptic_head(feats)
            head = model.panoptic_head.predict_by_feat(outs, with_candidates=True)
            fused = model.panoptic_fusion_head.predict(head, [ds.metainfo])[0]
    finally:
        torch.set_num_threads(threads)
    # fused thing kernels (after projection), recovered from the mask logits' source
    with torch.no_grad():
        cand = head[0]['thing_candidates']
        kern = _fused_kernels(model, outs, cand)
    return dict(name=name, g=g, feats=feats, outs=outs, head=head[0], fused=fused,
                fused_kernels=kern, model=model, data=data)


def _fused_kernels(model, outs, cand):
    """Recompute the fused, projected thing kernels from the candidates' positions."""
    kmaps = outs['kernel_maps']
    rows = [kmaps[lv][0].flatten(1)[:, px] for lv, px in zip(cand['level'].tolist(),
                                                            cand['pixel_index'].tolist())]
    kern = model.panoptic_head.thing_kernel_proj(torch.stack(rows))
    w = cand['fusion_members'].float()
    return (w @ kern) / w.sum(1, keepdim=True)


def _nms_margin(center_logits, pixel: int, pool: int) -> float:
    """Smallest, over classes, distance of a pixel's smoothed centre score to the maximum of its
    3x3 neighbourhood (0 = a peak by a float-rounding margin or exactly)."""
    p = center_logits.double().sigmoid()
    p = (p + torch.nn.functional.avg_pool2d(p[None], pool, 1, (pool - 1) // 2)[0]) / 2
    y, x = divmod(pixel, p.shape[-1])
    win = p[:, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].flatten(1).max(1).values
    return float((win - p[:, y, x]).abs().min())


def test_fpn_features_match(run):
    g, feats = run['g'], run['feats']
    for i, k in enumerate(('fpn_p2', 'fpn_p3', 'fpn_p4', 'fpn_p5', 'fpn_p6', 'fpn_p7')):
        assert rel_err(feats[i][0, CH], g[k]) <= 1e-3, k


def test_embeddings_and_level_maps_match(run):
    g, outs = run['g'], run['outs']
    assert rel_err(outs['sem_feat'][0, CH], g['sem_fpn_fused_s4']) <= 1e-3
    assert rel_err(outs['mask_embed'][0, CH], g['mask_embed_s4']) <= 1e-3
    if run['name'] == 'dps':
        assert rel_err(outs['depth_embed'][0], g['depth_embed_s4']) <= 1e-3
    for li, lvl in ((0, 'p3'), (2, 'p5'), (4, 'p7')):
        assert rel_err(outs['center_logits'][li][0], g[f'{lvl}_center_logits']) <= 1e-3
        assert rel_err(outs['region_logits'][li][0], g[f'{lvl}_region_logits']) <= 1e-3
        assert rel_err(outs['kernel_maps'][li][0, CH], g[f'{lvl}_kernel_map']) <= 1e-3
        if run['name'] == 'dps':
            assert rel_err(outs['depth_kernel_maps'][li][0],
                           g[f'{lvl}_depth_kernel_map']) <= 1e-3


def test_thing_candidates_and_fusion_match(run):
    g, head = run['g'], run['head']
    cand = head['thing_candidates']
    ours = set(zip((cand['level'] + 3).tolist(), cand['pixel_index'].tolist()))
    theirs = set(zip(g['thing_fusion_in_level'].tolist(),
                     g['thing_fusion_in_pixel_index'].tolist()))
    # Peaks are kept by an exact equality with their 3x3 max-pool (official rule), so a peak
    # whose neighbour is equal up to float rounding can flip on another CPU (seen on an
    # AVX2-only EPYC: one p4 peak 3.6e-6 below its neighbour, vs the golden machine's AVX-512).
    # Allowed: at most 2 such near-ties, each within 1e-5 of its neighbourhood maximum.
    flips = ours ^ theirs
    assert len(flips) <= 2, flips
    for level, pixel in flips:
        assert _nms_margin(run['outs']['center_logits'][level - 3][0], pixel,
                           (3, 3, 3, 5, 5)[level - 3]) <= 1e-5, (level, pixel)
    assert int(cand['fusion_keep'].sum()) == int(g['thing_fusion_keep'].sum())
    things = head['things']
    assert len(things.labels) == len(g['thing_fusion_out_class'])
    # fused things matched by the (level, pixel) of the candidate that leads each cluster (the
    # M outputs follow the kept candidates in order); matching by score would pair two things of
    # the same class whose scores differ by float noise the wrong way round
    def leaders(level, pixel, keep):
        return [(int(lv), int(px)) for lv, px, k in zip(level, pixel, keep) if k]

    ours_lead = leaders(cand['level'] + 3, cand['pixel_index'], cand['fusion_keep'])
    theirs_lead = leaders(g['thing_fusion_in_level'], g['thing_fusion_in_pixel_index'],
                          g['thing_fusion_keep'])
    # pair the fused things by leader; a flipped near-tie peak may change the leader (or
    # the membership) of a cluster: those clusters are left out, at most 2 per flip
    from collections import defaultdict
    slots = defaultdict(list)
    for m, key in enumerate(theirs_lead):
        slots[key].append(m)
    order_o, order_g = [], []
    for m, key in enumerate(ours_lead):
        if slots[key]:
            order_o.append(m)
            order_g.append(slots[key].pop(0))
    assert len(ours_lead) == len(theirs_lead)
    assert len(ours_lead) - len(order_o) <= 2 * len(flips), (len(ours_lead), len(order_o))
    order_o, order_g = np.array(order_o), np.array(order_g)
    thing_ids = np.array(range(11, 19))
    assert things.labels.numpy()[order_o].tolist() == \
        thing_ids[g['thing_fusion_out_class']][order_g].tolist()
    np.testing.assert_allclose(things.scores.numpy()[order_o], g['thing_fusion_out_score'][order_g],
                               rtol=1e-4, atol=1e-5)
    proj = run['fused_kernels'][:, CH].numpy()[order_o]
    assert rel_err(proj, g['thing_fusion_out_kernel'][order_g]) <= 1e-3
    assert head['stuff'].labels.tolist() == g['stuff_fusion_out_class'].tolist()
    np.testing.assert_allclose(head['stuff'].scores.numpy(), g['stuff_fusion_out_score'],
                               rtol=1e-4, atol=1e-5)


def test_final_segments_and_depth_match(run):
    g, fused = run['g'], run['fused']
    pan = fused['pred_panoptic_seg'].sem_seg[0].numpy()
    gp = g['panoptic_seg']
    # match segments by mask: every official segment maps to one of ours
    mapped = np.zeros_like(pan)
    for gid in np.unique(gp):
        m = gp == gid
        vals, counts = np.unique(pan[m], return_counts=True)
        ours = vals[counts.argmax()]
        official_class = g['semantic_trainid'][m][0] if (g['panoptic_id'][m] >= 0).all() else 255
        assert ours // 1000 == official_class
        mapped[m] = ours
    same = pan == mapped
    assert same.mean() >= 0.999
    assert len(np.unique(pan)) == len(np.unique(gp))
    segs = fused['pred_segments']
    areas = sorted(segs.areas.tolist())
    assert areas == sorted(g['segment_area_final'].tolist())
    if run['name'] == 'dps':
        depth = fused['pred_depth_map'].data[0].numpy()
        diff = np.abs(depth - g['depth_m'])[same]
        # float rounding of another CPU (AVX2 EPYC: one stuff segment 1-6 mm off, 0.06 % of
        # pixels > 5 mm; the golden machine: < 5 mm everywhere)
        assert np.median(diff) <= 1e-4 and np.percentile(diff, 99.9) <= 5e-3
        assert diff.max() <= 1e-2
        assert depth.min() >= 0 and depth.max() <= 80


def test_channels_last_inference_gives_the_same_panoptic_map(run):
    """On CPU ``predict`` feeds the network a channels-last input (``test_cfg.channels_last``
    'auto'): same panoptic ids and depth as the NCHW run that the checks above compare with
    the official outputs."""
    model, data = run['model'], run['data']
    seen = []
    hook = model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            head = model.predict_heads(data['inputs'], data['data_samples'])
            fused = model.panoptic_fusion_head.predict(head, [data['data_samples'][0].metainfo])[0]
    finally:
        hook.remove()
        torch.set_num_threads(threads)
    assert seen == [True]
    ids, ref = fused['pred_panoptic_seg'].sem_seg, run['fused']['pred_panoptic_seg'].sem_seg
    assert (ids != ref).float().mean() <= 1e-3  # float-rounding ties at most
    if run['name'] == 'dps':
        same = ids == ref
        depth, ref_depth = fused['pred_depth_map'].data, run['fused']['pred_depth_map'].data
        assert rel_err(depth[same], ref_depth[same]) <= 1e-4
    model.test_cfg = dict(model.test_cfg, channels_last=False)
    try:
        assert not model._channels_last('cpu')
        model.test_cfg['channels_last'] = 'yes'
        with pytest.raises(ValueError, match='channels_last'):
            model._channels_last('cpu')
    finally:
        model.test_cfg.pop('channels_last')
