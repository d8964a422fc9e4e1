"""Stop training when the loss stops being a number."""
import glob
import math
import os.path as osp
import re
from typing import Optional

import torch
from mmengine.hooks import Hook

from mmpdepth.registry import HOOKS


class NonFiniteLossError(ArithmeticError):
    """Training diverged: a loss became NaN or infinite (the message says where and what is
    kept)."""


def _value(v) -> Optional[float]:
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean()) if v.numel() else None
    if isinstance(v, (int, float)):
        return float(v)
    return None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the iteration whose loss is NaN / Inf, before anything is saved.

    Checked after each training iteration (before :class:`CheckpointHook`, which runs with a
    lower priority), on the logged losses ``train_step`` returns. After ``patience``
    consecutive non-finite iterations it raises :class:`NonFiniteLossError` naming the
    iteration, the non-finite losses and the last checkpoint in the work dir (which is left
    as it is); ``tools/train.py`` prints it as one line and exits with status 2.

    Args:
        patience (int): consecutive non-finite iterations tolerated before stopping (1: stop
            at the first). With fp16 AMP the loss scaler already skips overflowing steps, so
            the first non-finite *loss* still means divergence.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, patience: int = 1) -> None:
        if patience < 1:
            raise ValueError(f'NonFiniteLossHook: patience must be >= 1, got {patience}')
        self.patience = patience
        self._bad = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not isinstance(outputs, dict):
            return
        bad = {}
        for name, v in outputs.items():
            value = _value(v)
            if value is not None and not math.isfinite(value):
                bad[name] = value
        if not bad:
            self._bad = 0
            return
        self._bad += 1
        if self._bad < self.patience:
            runner.logger.warning(f'iteration {runner.iter + 1}: non-finite loss '
                                  f'{_describe(bad)} ({self._bad}/{self.patience})')
            return
        last = last_saved_checkpoint(runner.work_dir)
        kept = (f'the last checkpoint {last} is kept (resume from it with a lower learning '
                'rate, or --cfg-options optim_wrapper.clip_grad.max_norm=...)' if last else
                'no checkpoint was saved before')
        raise NonFiniteLossError(
            f'iteration {runner.iter + 1}: the training loss is not finite '
            f'({_describe(bad)}); training stopped, nothing saved for this iteration; {kept}')


def _describe(bad: dict) -> str:
    items = sorted(bad.items(), key=lambda kv: kv[0] != 'loss')
    return ', '.join(f'{k}={v}' for k, v in items[:4]) + (', ...' if len(items) > 4 else '')


def last_saved_checkpoint(work_dir: str) -> Optional[str]:
    """The newest ``iter_N.pth`` / ``epoch_N.pth`` in ``work_dir`` (None if none)."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None
