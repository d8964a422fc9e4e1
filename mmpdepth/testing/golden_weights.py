"""Deterministic official-format (Detectron2) state dicts of the official code's golden outputs.

The rule: keys sorted, key ``i`` gets a CPU generator seeded with ``1000 + i``; ``running_var``
= 1 + 0.2·U, ``running_mean`` = 0.1·N, 1-D ``.weight`` = 1 + 0.1·N, other 1-D = 0.05·N, others
N·sqrt(1/fan_in); the table's ``extra_rules`` make the mask-embedding DCN weights zero-mean per
filter ('center_filter') or set a constant (a number). Integer tensors (``num_batches_tracked``)
are 0. The key table (``d2_keys_{dps,ps}.json``: every key with its index, shape and dtype) comes
with the test data.
"""
import json
import math
from collections import OrderedDict
from typing import Union

import torch


def load_key_table(path: str) -> dict:
    """Read a key table JSON (``keys``: index / key / shape / dtype, ``extra_rules``)."""
    try:
        with open(path) as f:
            table = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: weight key table not found') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: not a weight key table ({e})') from None
    if not isinstance(table, dict) or 'keys' not in table:
        raise ValueError(f'{path}: not a weight key table (needs "keys")')
    return table


def make_d2_state_dict(table: Union[str, dict]) -> 'OrderedDict[str, torch.Tensor]':
    """The official-format state dict of a key table (a dict or the path of its JSON)."""
    if isinstance(table, str):
        table = load_key_table(table)
    keys = sorted(k['key'] for k in table['keys'])
    by_key = {k['key']: k for k in table['keys']}
    out = OrderedDict()
    for i, key in enumerate(keys):
        info = by_key[key]
        shape = tuple(info['shape'])
        if info['dtype'] != 'float32':
            out[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        assert info['index'] == i, f'key table index of {key} is {info["index"]}, expected {i}'
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
        rule = table.get('extra_rules', {}).get(key)
        if rule == 'center_filter':
            v = v - v.mean(dim=(1, 2, 3), keepdim=True)
        elif isinstance(rule, (int, float)):
            v = torch.full_like(v, float(rule))
        out[key] = v
    return out
