"""Full-precision islands inside mixed-precision (autocast) training and inference."""
from contextlib import contextmanager
from typing import Any, Iterator

import torch


@contextmanager
def autocast_off(device_type: str) -> Iterator[None]:
    """Disable autocast for ``device_type`` inside the block if it is on (no-op otherwise)."""
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            yield
    else:
        yield


def to_float32(obj: Any) -> Any:
    """``obj`` with every floating-point tensor inside (dicts, lists, tuples) cast to float32."""
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, dict):
        return {k: to_float32(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_float32(v) for v in obj)
    return obj
