"""Mixed-precision training on whatever device trains: fp16 on CUDA, bf16 on CPU."""
import logging
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from mmpdepth.models.layers.precision import cpu_has_native_bf16
from mmpdepth.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutoAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's :class:`AmpOptimWrapper` that also trains on the CPU.

    On an accelerator it is ``AmpOptimWrapper`` (autocast to ``dtype``, default float16, with
    the configured ``loss_scale``). mmengine refuses CPU training there; on the CPU this wrapper
    autocasts to bfloat16, which has float32's exponent range and so needs no loss scaling
    (``loss_scale`` is ignored, gradients are clipped and stepped as in ``OptimWrapper``).
    A CPU without native bfloat16 (AVX512-BF16 / AMX) runs bf16 convolutions on a slow
    reference path (measured on an AVX2-only EPYC: a 3x3 256-channel conv ~380x slower), so
    there ``dtype=None`` trains in float32 with one warning; ``dtype='bfloat16'`` forces bf16.
    What autocast keeps in float32 is the model's business: mmpdepth's DCN layers and losses
    run in float32 inside it.

    Args:
        loss_scale: as ``AmpOptimWrapper`` (accelerators only). Defaults to 'dynamic'.
        dtype (str | torch.dtype, optional): autocast dtype; None = float16 on CUDA, bfloat16
            on a CPU with native bf16 (else float32, see above); 'bfloat16' is the only
            explicit CPU choice.
        **kwargs: ``OptimWrapper`` arguments (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None, **kwargs) -> None:
        self.device_type = get_device()
        if self.device_type != 'cpu':
            super().__init__(loss_scale=loss_scale,
                             dtype=torch.float16 if dtype is None else dtype, **kwargs)
            print_log(f'mixed precision (--amp): {self.cast_dtype} autocast on '
                      f'{self.device_type}, loss scale {loss_scale}', logger='current',
                      level=logging.INFO)
            return
        if dtype not in (None, 'bfloat16', torch.bfloat16):
            raise ValueError(f'CPU mixed precision is bfloat16 only, got dtype={dtype!r}')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = None
        self.cast_dtype = torch.bfloat16
        self.autocast_enabled = True
        if not _cpu_has_bf16():
            if dtype is None:
                self.autocast_enabled = False
                print_log('AutoAmpOptimWrapper: this CPU has no native bfloat16 (AVX512-BF16 / '
                          'AMX); training in float32 (dtype="bfloat16" forces emulated bf16, '
                          'far slower)', logger='current', level=30)
            else:
                print_log('AutoAmpOptimWrapper: this CPU has no native bfloat16 (AVX512-BF16 / '
                          'AMX): bf16 autocast runs emulated, far slower than float32',
                          logger='current', level=30)
        if self.autocast_enabled:
            print_log('mixed precision (--amp): torch.bfloat16 autocast on cpu, no loss '
                      'scaling', logger='current', level=logging.INFO)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.loss_scaler is None and not self.autocast_enabled:
            with OptimWrapper.optim_context(self, model):
                yield
            return
        with super().optim_context(model):
            yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is None:
            return OptimWrapper.backward(self, loss, **kwargs)
        return super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            return OptimWrapper.step(self, **kwargs)
        return super().step(**kwargs)

    def state_dict(self) -> dict:
        if self.loss_scaler is None:
            return OptimWrapper.state_dict(self)
        return super().state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        if self.loss_scaler is None:
            state_dict = dict(state_dict)
            state_dict.pop('loss_scaler', None)  # a checkpoint of a CUDA run resumed on CPU
            return OptimWrapper.load_state_dict(self, state_dict)
        return super().load_state_dict(state_dict)


def _cpu_has_bf16() -> bool:
    """Native bfloat16 on this CPU (see :func:`cpu_has_native_bf16`)."""
    return cpu_has_native_bf16()
