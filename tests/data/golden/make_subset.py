"""Developer script: extract the parity-test subset from ``shared/golden`` (not run by tests).

    python tests/data/golden/make_subset.py /path/to/shared/golden

Keeps final maps, candidate/fusion bookkeeping and a channel subset (every 16th channel, float16)
of the large feature maps, so the test data stays small (about 2.5 MB).
"""
import sys

import numpy as np

SRC = sys.argv[1] if len(sys.argv) > 1 else '../shared/golden'
CH = slice(0, 256, 16)

for name in ('dps', 'ps'):
    g = np.load(f'{SRC}/{name}_imageA.npz')
    out = {}
    for k in ('fpn_p2', 'fpn_p3', 'fpn_p4', 'fpn_p5', 'fpn_p6', 'fpn_p7', 'sem_fpn_fused_s4',
              'mask_embed_s4'):
        out[k] = g[k][CH].astype(np.float16)
    for lvl in ('p3', 'p5', 'p7'):
        out[f'{lvl}_center_logits'] = g[f'{lvl}_center_logits'].astype(np.float16)
        out[f'{lvl}_region_logits'] = g[f'{lvl}_region_logits'].astype(np.float16)
        out[f'{lvl}_kernel_map'] = g[f'{lvl}_kernel_map'][CH].astype(np.float16)
        if f'{lvl}_depth_kernel_map' in g.files:
            out[f'{lvl}_depth_kernel_map'] = g[f'{lvl}_depth_kernel_map'].astype(np.float16)
    if 'depth_embed_s4' in g.files:
        out['depth_embed_s4'] = g['depth_embed_s4'].astype(np.float16)
    for k in ('thing_fusion_in_level', 'thing_fusion_in_pixel_index', 'thing_fusion_in_class',
              'thing_fusion_keep', 'thing_fusion_out_class', 'thing_fusion_out_score',
              'stuff_fusion_out_class', 'stuff_fusion_out_score', 'inst_class', 'inst_score',
              'segment_ids_survived', 'segment_cats_survived', 'segment_area_final',
              'panoptic_seg', 'semantic_trainid', 'panoptic_id', 'model_input_bgr_chw_uint8'):
        out[k] = g[k]
    out['thing_fusion_out_kernel'] = g['thing_fusion_out_kernel'][:, CH].astype(np.float16)
    out['thing_fusion_out_depth_kernel'] = g['thing_fusion_out_depth_kernel'] \
        if 'thing_fusion_out_depth_kernel' in g.files else np.zeros(0)
    if 'depth_m' in g.files:
        out['depth_m'] = g['depth_m']
    np.savez_compressed(f'tests/data/golden/{name}_imageA_subset.npz', **out)
    print(name, 'written')
