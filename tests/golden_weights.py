"""Regenerate the deterministic official-format (Detectron2) state dicts of the golden outputs
(the rule: :mod:`mmpdepth.testing.golden_weights`; key tables in ``tests/data/golden``)."""
import hashlib
import json
import os.path as osp
from collections import OrderedDict

import torch

from mmpdepth.testing.golden_weights import make_d2_state_dict as _make_d2_state_dict

DATA = osp.join(osp.dirname(__file__), 'data', 'golden')


def load_key_table(model: str) -> dict:
    with open(osp.join(DATA, f'd2_keys_{model}.json')) as f:
        return json.load(f)


def make_d2_state_dict(model: str = 'dps') -> 'OrderedDict[str, torch.Tensor]':
    return _make_d2_state_dict(load_key_table(model))


def checksum(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().numpy().astype('<f4').tobytes()).hexdigest()
