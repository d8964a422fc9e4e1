"""Numeric precision: full-precision islands inside autocast, and the inference precision a
machine should run at (``fp32``, ``bf16`` on CPUs with native bfloat16, ``fp16`` on CUDA)."""
import time
import warnings
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import Any, ContextManager, Iterator, Optional

import torch
import torch.nn.functional as F

#: values of ``--precision`` / ``test_cfg.precision`` / ``DPSInferencer(precision=...)``
PRECISIONS = ('fp32', 'bf16', 'fp16', 'auto')
_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


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


def cpu_has_native_bf16() -> bool:
    """oneDNN reports bfloat16 support on this CPU. It also says yes on AVX-512 CPUs without
    AVX512-BF16, where it emulates bf16 slower than fp32 (measured 0.3x on a 2-core Xeon):
    :func:`cpu_bf16_speedup` tells which."""
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@lru_cache(maxsize=None)
def cpu_bf16_speedup(channels: int = 128, size: int = 48, repeats: int = 3) -> float:
    """fp32 time / bf16 time of a 3x3 ``channels`` -> ``channels`` convolution at
    ``size`` x ``size`` (channels-last, best of ``repeats``; ~50 ms on a current CPU).

    A number > 1 means bf16 really is faster here; oneDNN's emulated bf16 on CPUs without
    native support is far slower than fp32 (measured ~100x and more on AVX2-only CPUs).
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, size, size, generator=g).contiguous(
        memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 3, 3, generator=g).contiguous(
        memory_format=torch.channels_last)

    def best(dtype: torch.dtype) -> float:
        xi, wi = x.to(dtype), w.to(dtype)
        with torch.no_grad():
            F.conv2d(xi, wi, padding=1)  # warm-up (oneDNN primitive creation)
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                F.conv2d(xi, wi, padding=1)
                times.append(time.perf_counter() - t)
        return min(times)

    return best(torch.float32) / best(torch.bfloat16)


def resolve_precision(precision: str, device_type: str = 'cpu') -> str:
    """The precision a model runs at: ``'fp32'``, ``'bf16'`` or ``'fp16'``.

    ``'auto'``: ``'fp16'`` on CUDA; on a CPU ``'bf16'`` when oneDNN has native bfloat16
    (:func:`cpu_has_native_bf16`) *and* a bf16 convolution measures faster than fp32
    (:func:`cpu_bf16_speedup` > 1.2), else ``'fp32'``. An explicit ``'bf16'`` on a CPU without
    native bfloat16 runs (emulated) with a warning saying how much slower it is; ``'fp16'`` is
    for CUDA only (CPU fp16 convolutions are emulated and inaccurate to accumulate).
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision == 'fp32':
        return precision
    if device_type == 'cuda':
        return 'fp16' if precision == 'auto' else precision
    if precision == 'fp16':
        raise ValueError("precision='fp16' is for CUDA devices; on a CPU use 'bf16' or 'auto'")
    if precision == 'auto':
        return 'bf16' if cpu_has_native_bf16() and cpu_bf16_speedup() > 1.2 else 'fp32'
    if not cpu_has_native_bf16():  # explicit bf16
        warnings.warn(
            'precision=bf16 on a CPU without native bfloat16 (no AVX512-BF16 / AMX): oneDNN '
            f'emulates it, a convolution measured {1 / cpu_bf16_speedup():.0f}x slower than '
            'fp32 here; use --precision auto or fp32', stacklevel=2)
    return precision


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of a resolved precision (None for fp32)."""
    return _DTYPES.get(precision)


def inference_autocast(precision: str, device_type: str) -> ContextManager:
    """Autocast for the network part of inference at a resolved precision (no-op for fp32)."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type, dtype=dtype)
