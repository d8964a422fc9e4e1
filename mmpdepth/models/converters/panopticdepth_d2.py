"""Key/shape conversion of official PanopticDepth (Detectron2) checkpoints to mmpdepth.

The official model and ours compute the same functions (see the parity test), so conversion is a
renaming plus a few layout details:

* FrozenBN / SyncBN -> mmdet BN (``num_batches_tracked`` added where FrozenBN has none);
* D2 ResNet ``stem`` / ``res{2..5}`` / ``shortcut`` -> mmdet ``conv1``/``bn1`` / ``layer{1..4}`` /
  ``downsample`` (caffe style: stride in the first 1x1 conv in both);
* D2 FPN lateral/output convs and P6/P7 top block -> mmdet FPN ``lateral_convs`` / ``fpn_convs``;
* ``ModulatedDeformConvWithOff``: ``offset_mask_conv`` (27 ch: 18 offsets + 9 mask logits, the
  layout of torchvision's ``deform_conv2d``) -> ``conv_offset``; ``dcnv2.weight/bias/norm`` ->
  ``weight``/``bias``/``norm``;
* ``embed_extractor`` 1x1 convs -> ``Linear`` (weights reshaped).

CoordConv channel order and the BGR-with-RGB-mean input are kept by the model and the config.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from torch import Tensor

_RULES: List[Tuple[str, str]] = [
    # backbone
    (r'^backbone\.bottom_up\.stem\.conv1\.weight$', 'backbone.conv1.weight'),
    (r'^backbone\.bottom_up\.stem\.conv1\.norm\.(\w+)$', r'backbone.bn1.\1'),
    (r'^backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.weight$', 'RES_CONV'),
    (r'^backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.norm\.(\w+)$', 'RES_BN'),
    (r'^backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.weight$', 'RES_SC'),
    (r'^backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.norm\.(\w+)$', 'RES_SC_BN'),
    # FPN
    (r'^backbone\.fpn_lateral(\d)\.(weight|bias)$', 'FPN_LAT'),
    (r'^backbone\.fpn_output(\d)\.(weight|bias)$', 'FPN_OUT'),
    (r'^backbone\.top_block\.p6\.(weight|bias)$', r'neck.fpn_convs.4.conv.\1'),
    (r'^backbone\.top_block\.p7\.(weight|bias)$', r'neck.fpn_convs.5.conv.\1'),
    # semantic FPN
    (r'^semantic_fpn\.p(\d)\.(\d+)\.weight$', 'SEM_CONV'),
    (r'^semantic_fpn\.p(\d)\.(\d+)\.norm\.(\w+)$', 'SEM_GN'),
    # towers
    (r'^position_head\.position_head\.position_head_head_(\d)\.(.+)$', 'position_tower|DCN'),
    (r'^kernel_head\.kernel_head\.kernel_head_head_(\d)\.(.+)$', 'kernel_tower|CONV'),
    (r'^feature_encoder\.encode_head\.encode_head_head_(\d)\.(.+)$', 'mask_encoder|DCN'),
    (r'^depth_encode_head\.encode_head\.depth_encode_head_head_(\d)\.(.+)$',
     'depth_encoder|DCN'),
    (r'^depth_kernel_head\.depth_kernel_head\.depth_kernel_head_head_(\d)\.(.+)$',
     'depth_kernel_tower|DCN'),
    # outputs
    (r'^position_head\.out_inst\.(weight|bias)$', r'panoptic_head.center_out.\1'),
    (r'^position_head\.out_sem\.(weight|bias)$', r'panoptic_head.region_out.\1'),
    (r'^kernel_head\.out_conv\.(weight|bias)$', r'panoptic_head.kernel_out.\1'),
    (r'^depth_encode_head\.embed_extractor\.(weight|bias)$', r'panoptic_head.depth_embed_out.\1'),
    (r'^depth_kernel_head\.out_depth_kernel\.(weight|bias)$',
     r'panoptic_head.depth_kernel_out.\1'),
    (r'^thing_generator\.embed_extractor\.(weight|bias)$', r'panoptic_head.thing_kernel_proj.\1'),
    (r'^stuff_generator\.embed_extractor\.(weight|bias)$', r'panoptic_head.stuff_kernel_proj.\1'),
]

_BN_SUFFIXES = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _tower_key(tower: str, kind: str, k: str, rest: str) -> str:
    base = f'panoptic_head.{tower}.layers.{int(k) - 1}'
    if kind == 'DCN':
        if rest.startswith('offset_mask_conv.'):
            return f'{base}.conv_offset.{rest.split(".", 1)[1]}'
        if rest in ('dcnv2.weight', 'dcnv2.bias'):
            return f'{base}.{rest.split(".", 1)[1]}'
        if rest.startswith('dcnv2.norm.'):
            return f'{base}.norm.{rest.split(".", 2)[2]}'
    else:
        if rest in ('weight', 'bias'):
            return f'{base}.conv.{rest}'
        if rest.startswith('norm.'):
            return f'{base}.gn.{rest.split(".", 1)[1]}'
    raise KeyError(rest)


def convert_key(key: str) -> str:
    """Official key -> mmpdepth key (KeyError for an unknown key)."""
    for pattern, target in _RULES:
        m = re.match(pattern, key)
        if not m:
            continue
        g = m.groups()
        if target == 'RES_CONV':
            return f'backbone.layer{int(g[0]) - 1}.{g[1]}.conv{g[2]}.weight'
        if target == 'RES_BN':
            return f'backbone.layer{int(g[0]) - 1}.{g[1]}.bn{g[2]}.{g[3]}'
        if target == 'RES_SC':
            return f'backbone.layer{int(g[0]) - 1}.{g[1]}.downsample.0.weight'
        if target == 'RES_SC_BN':
            return f'backbone.layer{int(g[0]) - 1}.{g[1]}.downsample.1.{g[2]}'
        if target == 'FPN_LAT':
            return f'neck.lateral_convs.{int(g[0]) - 2}.conv.{g[1]}'
        if target == 'FPN_OUT':
            return f'neck.fpn_convs.{int(g[0]) - 2}.conv.{g[1]}'
        if target == 'SEM_CONV':
            return f'panoptic_head.semantic_fpn.branches.{int(g[0]) - 2}.{g[1]}.conv.weight'
        if target == 'SEM_GN':
            return f'panoptic_head.semantic_fpn.branches.{int(g[0]) - 2}.{g[1]}.gn.{g[2]}'
        if '|' in target:
            tower, kind = target.split('|')
            return _tower_key(tower, kind, g[0], g[1])
        return m.expand(target)
    raise KeyError(f'unknown key in the official checkpoint: {key}')


def convert_state_dict(d2_state: Dict[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Convert an official PanopticDepth state dict (the checkpoint's ``model`` entry).

    Raises:
        KeyError: for keys that are not part of the official architecture.
    """
    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    bn_prefixes = set()
    for key, value in d2_state.items():
        new = convert_key(key)
        if new.endswith(('thing_kernel_proj.weight', 'stuff_kernel_proj.weight')):
            value = value.reshape(value.shape[0], value.shape[1])
        out[new] = value.detach().clone().contiguous()
        if re.search(r'\.(bn\d|downsample\.1)\.running_var$', new):
            bn_prefixes.add(new[:-len('running_var')])
    for prefix in bn_prefixes:  # FrozenBN has no num_batches_tracked
        out.setdefault(prefix + 'num_batches_tracked', torch.tensor(0, dtype=torch.long))
    return out
