"""Regenerate the deterministic official-format (Detectron2) state dicts of ``shared/golden``.

The rule (documented with the golden data): keys sorted, key i gets a CPU generator seeded with
1000 + i; running_var = 1 + 0.2·U, running_mean = 0.1·N, 1-D ``.weight`` = 1 + 0.1·N, other 1-D
= 0.05·N, others N·sqrt(1/fan_in); the three mask-embedding DCN weights are made zero-mean per
filter and the thing-kernel projection bias is the constant -0.16. ``num_batches_tracked`` keeps
its value 0.
"""
import hashlib
import json
import math
import os.path as osp
from collections import OrderedDict

import torch

DATA = osp.join(osp.dirname(__file__), 'data', 'golden')


def load_key_table(model: str) -> dict:
    with open(osp.join(DATA, f'd2_keys_{model}.json')) as f:
        return json.load(f)


def make_d2_state_dict(model: str = 'dps') -> 'OrderedDict[str, torch.Tensor]':
    table = load_key_table(model)
    keys = sorted(k['key'] for k in table['keys'])
    by_key = {k['key']: k for k in table['keys']}
    out = OrderedDict()
    for i, key in enumerate(keys):
        info = by_key[key]
        shape = tuple(info['shape'])
        if info['dtype'] != 'float32':
            out[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        assert info['index'] == i
        g = torch.Generator().manual_seed(1000 + i)
        if key.endswith('running_var'):
            v = 1.0 + 0.2 * torch.rand(shape, generator=g)
        elif key.endswith('running_mean'):
            v = 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1 and key.endswith('.weight'):
            v = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            v = 0.05 * torch.randn(shape, generator=g)
        else:
            v = torch.randn(shape, generator=g) * (1.0 / math.prod(shape[1:]))**0.5
        rule = table['extra_rules'].get(key)
        if rule == 'center_filter':
            v = v - v.mean(dim=(1, 2, 3), keepdim=True)
        elif isinstance(rule, (int, float)):
            v = torch.full_like(v, float(rule))
        out[key] = v
    return out


def checksum(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().numpy().astype('<f4').tobytes()).hexdigest()
