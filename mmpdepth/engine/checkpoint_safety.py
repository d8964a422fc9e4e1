"""Safe checkpoint loading for mmengine on torch >= 2.6.

* Every **local** checkpoint mmengine loads (``load_from``, ``--weights``, ``init_cfg`` with a
  path, ``resume``) goes through :func:`load_local_checkpoint`: ``torch.load(weights_only=True)``.
  A file with pickled code (or any class outside torch's allow-list) is refused with a message
  naming the file and the offending globals.
* Our runs write checkpoints that need no unsafe class at all (:class:`PlainCheckpointHook`
  stores mmengine's message hub as plain data), so they load weights-only too.
* Full unpickling is only ever allowed for the **one file the user named** as trusted while
  resuming (``tools/train.py --resume --trust-checkpoint FILE``; :func:`trusted_file` is entered
  by :class:`DPSRunner.resume`). Nothing changes torch's process-wide default.
"""
import contextlib
import contextvars
import os.path as osp
import pickle
import zipfile
from typing import Iterator, Optional

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

_TRUSTED_FILE: contextvars.ContextVar = contextvars.ContextVar('mmpdepth_trusted_file',
                                                               default=None)


class CheckpointReadError(ValueError):
    """A checkpoint file cannot be read (truncated or not a torch checkpoint)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs full unpickling and is not trusted."""


@contextlib.contextmanager
def trusted_file(path: Optional[str]) -> Iterator[None]:
    """Within this context, the file ``path`` (that one file only) may be fully unpickled if
    weights-only loading fails."""
    token = _TRUSTED_FILE.set(osp.realpath(path) if path else None)
    try:
        yield
    finally:
        _TRUSTED_FILE.reset(token)


def _is_trusted(filename: str) -> bool:
    trusted = _TRUSTED_FILE.get()
    return bool(trusted) and osp.realpath(filename) == trusted


def _unsafe_globals(filename: str) -> str:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
        return ', '.join(names[:8]) + (' ...' if len(names) > 8 else '')
    except Exception:  # noqa: BLE001 - best effort for the message only
        return 'unknown'


def load_local_checkpoint(filename: str, map_location=None):
    """Local-file loader registered into mmengine's ``CheckpointLoader`` (prefix '')."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if not zipfile.is_zipfile(filename):
        with open(filename, 'rb') as f:
            legacy = f.read(1) == b'\x80'  # torch's pre-1.6 format starts as a pickle
        if not legacy:
            raise CheckpointReadError(f'{filename}: not a torch checkpoint (neither the zip nor '
                                      'the legacy pickle format; truncated or another file?)')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except (RuntimeError, KeyError, EOFError) as e:  # truncated, or a broken archive
        raise CheckpointReadError(f'{filename}: not a readable torch checkpoint (truncated, '
                                  f'e.g. killed while saving, or damaged: '
                                  f'{" ".join(str(e).split())[:200]})') from e
    except pickle.UnpicklingError as e:
        if _is_trusted(filename):
            print_log(f'{filename}: not loadable weights-only; fully unpickling it because '
                      '--trust-checkpoint names it.', logger='current', level=30)
            return torch.load(filename, map_location=map_location, weights_only=False)
        raise UnsafeCheckpointError(
            f'{filename}: refused to load — it is not a plain state dict and would need full '
            f'unpickling (globals: {_unsafe_globals(filename)}). Only weights and plain metadata '
            'load. If you trust this file, convert it once with `python tools/misc/'
            'convert_trusted_checkpoint.py SRC DST --i-trust-this-file` (or, to resume from '
            'it, pass `--trust-checkpoint` with its path).'
        ) from e


def register_safe_local_loader() -> None:
    """Make mmengine load local files with :func:`load_local_checkpoint` (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


def is_within(path: str, root: str) -> bool:
    return osp.commonpath([osp.realpath(path), osp.realpath(root)]) == osp.realpath(root)


__all__ = ['CheckpointReadError', 'UnsafeCheckpointError', 'trusted_file', 'load_local_checkpoint',
           'register_safe_local_loader', 'is_within']
