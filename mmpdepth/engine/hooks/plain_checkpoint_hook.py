"""Write checkpoints that load with ``torch.load(weights_only=True)``."""
from typing import Any

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from mmpdepth.registry import HOOKS

PLAIN_MARK = '__mmpdepth_plain_history__'


def to_plain(obj: Any) -> Any:
    """numpy scalars / arrays -> Python numbers / lists, recursively through containers."""
    if isinstance(obj, HistoryBuffer):
        logs, counts = obj.data
        return {PLAIN_MARK: True, 'log_history': np.asarray(logs).tolist(),
                'count_history': np.asarray(counts).tolist(), 'max_length': obj.max_length}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return type(obj)((k, to_plain(v)) for k, v in obj.items()) if type(obj) is dict \
            else {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


def from_plain(obj: Any) -> Any:
    """Inverse of :func:`to_plain` for history buffers."""
    if isinstance(obj, dict):
        if obj.get(PLAIN_MARK):
            return HistoryBuffer(obj['log_history'], obj['count_history'], obj['max_length'])
        return {k: from_plain(v) for k, v in obj.items()}
    return obj


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Store the message hub and metadata of checkpoints as plain Python data.

    mmengine pickles ``HistoryBuffer`` objects (and numpy values) into every checkpoint, which
    torch >= 2.6 refuses to load weights-only. This hook converts them before saving and back
    after loading, so our checkpoints load safely for ``load_from``, ``tools/test.py`` and
    ``resume`` alike. Checkpoints written without it still resume (see ``DPSRunner``).
    """
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in ('message_hub', 'meta'):
            if key in checkpoint:
                checkpoint[key] = to_plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = from_plain(checkpoint['message_hub'])
