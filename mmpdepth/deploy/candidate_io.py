"""Flat, named tensors <-> the candidate dict of :meth:`PanopticDepthHead.candidates_by_feat`.

The exported ONNX graph returns the candidates as a flat tuple; its output names say which
tensor is which: ``mask_embed``, ``depth_embed`` and per kernel level ``l{i}_{field}``. Fields
that a model does not have (no depth, no depth kernels) are left out.
"""
from collections import OrderedDict
from typing import Dict

from torch import Tensor

LEVEL_FIELDS = ('thing_scores', 'thing_index', 'thing_classes', 'thing_kernels',
                'thing_depth_kernels', 'stuff_scores', 'stuff_kernels', 'stuff_depth_kernels')


def flatten_candidates(cands: dict) -> 'OrderedDict[str, Tensor]':
    """Candidate dict -> ordered ``{output name: tensor}`` (None entries dropped)."""
    flat = OrderedDict()
    for key in ('mask_embed', 'depth_embed'):
        if cands[key] is not None:
            flat[key] = cands[key]
    for i, level in enumerate(cands['levels']):
        for field in LEVEL_FIELDS:
            if level[field] is not None:
                flat[f'l{i}_{field}'] = level[field]
    return flat


def unflatten_candidates(flat: Dict[str, Tensor]) -> dict:
    """``{output name: tensor}`` (any order) -> candidate dict, missing fields None.

    Raises:
        KeyError: when ``mask_embed`` or a level's thing/stuff scores are missing.
    """
    if 'mask_embed' not in flat:
        raise KeyError(f'backend outputs {sorted(flat)} have no "mask_embed": the model was '
                       'not exported with mmpdepth.deploy (output names differ)')
    num_levels = 0
    while f'l{num_levels}_thing_scores' in flat:
        num_levels += 1
    if num_levels == 0:
        raise KeyError(f'backend outputs {sorted(flat)} have no "l0_thing_scores"')
    levels = [{field: flat.get(f'l{i}_{field}') for field in LEVEL_FIELDS}
              for i in range(num_levels)]
    return dict(mask_embed=flat['mask_embed'], depth_embed=flat.get('depth_embed'),
                levels=levels)
