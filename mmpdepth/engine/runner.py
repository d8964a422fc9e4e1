"""mmengine ``Runner`` with safe resume, strict weight loading and atomic checkpoints."""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.dist import is_main_process, master_only
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mmpdepth.models.conv_bn_fusion import unwrap_detector
from mmpdepth.registry import RUNNERS
from mmpdepth.utils.console_log import readable_console

from .checkpoint_safety import trusted_file
from .work_dir_lock import WorkDirLock


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used as asked (names the file and the problem)."""


@RUNNERS.register_module()
class DPSRunner(Runner):
    """``Runner`` whose loading and saving cannot run foreign code or lose a checkpoint.

    * ``resume`` loads weights-only like every other load. A checkpoint that needs full
      unpickling (an old or foreign one) is refused with the convert command, unless the config
      names that very file in ``trust_checkpoint`` (``tools/train.py --trust-checkpoint FILE``).
    * Auto-resume reads ``work_dir/last_checkpoint`` only if it is a regular file that points to
      a regular checkpoint file inside the work dir; a truncated latest checkpoint (killed while
      saving) is reported and the newest complete ``iter_N.pth`` / ``epoch_N.pth`` is used.
    * ``load_from`` is strict: every model tensor must be in the checkpoint with its shape and
      nothing else may be there, except the key prefixes listed in ``load_from_allow_missing``
      (e.g. the depth branches a depth stage adds to a panoptic checkpoint);
      ``load_from_strict=False`` restores mmengine's permissive loading.
    * Every load refuses weights that are NaN / Inf, naming the tensors
      (``allow_nonfinite_weights=True`` loads them anyway). A test-time-augmentation model
      loads the checkpoint into the model it wraps.
    * Checkpoints are written to a temporary file and renamed, so a kill while saving never
      leaves a broken file under the final name. They record the effective batch size and
      the schedule length; a resume that changes either warns with both values.
    * ``train()`` holds a lock on the work dir (:class:`WorkDirLock`): a second run into the
      same work dir is refused with the first one's pid (``break_work_dir_lock=True``, i.e.
      ``tools/train.py --break-lock``, overrides; a lock of a dead process is taken over).
    * The terminal shows progress, metrics and where outputs are; the environment and config
      dumps are in the log file of the work dir only (see :mod:`mmpdepth.utils.console_log`).
    * The config dump never replaces a file: when ``work_dir/<config name>`` exists (the
      user's own config, or an earlier run's dump), it goes to the run's log folder
      ``work_dir/<timestamp>/``.
    """

    # ---------------------------------------------------------------- logging
    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """mmengine's logger with a readable terminal (:func:`readable_console`): the
        environment / config dumps and the hook table go to the log file only (its path is
        the first line on the terminal), known-harmless upstream warnings nowhere."""
        if log_file is None:
            log_file = osp.join(self._log_dir, f'{self.timestamp}.log')
        logger = readable_console(super().build_logger(log_level, log_file, **kwargs))
        logger.info(f'Full log (environment, config, hooks): {log_file}')
        return logger

    # ---------------------------------------------------------------- work dir
    def train(self):
        lock = WorkDirLock(self.work_dir, self.cfg.get('break_work_dir_lock', False)) \
            if is_main_process() else None
        if lock is not None:
            lock.acquire()
        try:
            return super().train()
        finally:
            if lock is not None:
                lock.release()

    @master_only
    def dump_config(self) -> None:
        name = osp.basename(self.cfg.filename) if self.cfg.filename else f'{self.timestamp}.py'
        target = osp.join(self.work_dir, name)
        if osp.lexists(target):
            os.makedirs(self.log_dir, exist_ok=True)
            target = osp.join(self.log_dir, name)
        self.cfg.dump(target)

    # ---------------------------------------------------------------- resume
    def resume(self, filename: str, *args, **kwargs) -> None:
        self._loaded_meta = {}
        with trusted_file(self.cfg.get('trust_checkpoint', None)):
            super().resume(filename, *args, **kwargs)
        self._warn_changed_schedule(filename, self._loaded_meta)

    def run_shape(self) -> dict:
        """What a resume must keep to continue the same run: the effective batch size (per-GPU
        batch x processes) and the schedule length (``max_iters`` / ``max_epochs``)."""
        shape = {}
        loader = self.cfg.get('train_dataloader') or {}
        if 'batch_size' in loader:
            shape['effective batch size'] = int(loader['batch_size']) * self.world_size
        train_cfg = self.cfg.get('train_cfg') or {}
        for key in ('max_iters', 'max_epochs'):
            if key in train_cfg:
                shape[key] = int(train_cfg[key])
        return shape

    def _warn_changed_schedule(self, filename: str, meta: dict) -> None:
        before = meta.get('run_shape')
        if not isinstance(before, dict) and meta.get('cfg'):
            try:  # checkpoints of other runners: their config text
                old = Config.fromstring(meta['cfg'], file_format='.py')
                before = {}
                if 'batch_size' in old.get('train_dataloader', {}):
                    before['batch size per process'] = old.train_dataloader.batch_size
            except Exception:  # noqa: BLE001 - only a warning is at stake
                before = None
        if not isinstance(before, dict):
            return
        now = self.run_shape()
        if 'batch size per process' in before:
            now['batch size per process'] = self.cfg.train_dataloader.batch_size
        changed = [f'{k} {before[k]} -> {now[k]}' for k in before
                   if k in now and before[k] != now[k]]
        if changed:
            self.logger.warning(f'--resume {filename}: {"; ".join(changed)} (checkpoint -> '
                                'now). The learning-rate schedule and the iteration count '
                                'continue from the checkpoint; results will differ from an '
                                'uninterrupted run')

    def load_or_resume(self) -> None:
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            latest = self.latest_checkpoint()
            if latest is None:
                self.logger.info(f'--resume: no checkpoint in {self.work_dir}; starting anew')
            else:
                self.logger.info(f'Auto resumed from the latest checkpoint {latest}.')
                self.resume(latest)
                self._has_loaded = True
            return None
        return super().load_or_resume()

    def latest_checkpoint(self) -> Optional[str]:
        """The checkpoint auto-resume continues from (validated; see the class docstring)."""
        work = osp.realpath(self.work_dir)
        pointer = osp.join(self.work_dir, 'last_checkpoint')
        named = None
        if osp.lexists(pointer):
            if osp.islink(pointer) or not osp.isfile(pointer):
                raise CheckpointError(f'{pointer}: not a regular file (a link?); refusing to '
                                      'follow it')
            with open(pointer) as f:
                text = f.read().strip()
            if text:
                named = text if osp.isabs(text) else osp.abspath(text)
                if not osp.isfile(named):
                    named = osp.join(self.work_dir, osp.basename(text))
                if osp.islink(named):
                    raise CheckpointError(f'{pointer}: names {text}, a link; refusing to follow '
                                          'it')
                if osp.dirname(osp.realpath(named)) != work:
                    raise CheckpointError(f'{pointer}: names {text}, outside the work dir '
                                          f'{self.work_dir}; pass --resume FILE to resume from '
                                          'a file elsewhere')
        candidates = ([named] if named else []) + [
            p for p in _numbered_checkpoints(self.work_dir) if p != named]
        for i, path in enumerate(candidates):
            if not osp.isfile(path) or osp.islink(path):
                continue
            if _is_complete_checkpoint(path):
                return path
            later = candidates[i + 1:]
            self.logger.warning(f'{path}: truncated or not a checkpoint (killed while saving?); '
                                f'{"trying " + later[0] if later else "no earlier checkpoint"}')
        return None

    # ---------------------------------------------------------------- load_from
    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 (mmengine's)
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get('meta'), dict):
            self._loaded_meta = checkpoint['meta']
        model = unwrap_detector(self.model)  # a TTA model's weights: the wrapped model's
        if not self.cfg.get('allow_nonfinite_weights', False):
            check_weights_finite(checkpoint, filename)
        if self.cfg.get('load_from_strict', True):
            check_weights_complete(model, checkpoint, filename,
                                   self.cfg.get('load_from_allow_missing', ()))
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict,
                                               revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    # ---------------------------------------------------------------- saving
    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs) -> None:
        if '://' in str(out_dir):  # remote backends: as mmengine does
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        tmp = f'.{filename}.tmp{os.getpid()}'
        args = list(args)
        if len(args) > 3:  # (file_client_args, save_optimizer, save_param_scheduler, meta)
            args[3] = dict(args[3] or {}, run_shape=self.run_shape())
        else:
            kwargs['meta'] = dict(kwargs.get('meta') or {}, run_shape=self.run_shape())
        try:
            super().save_checkpoint(out_dir, tmp, *args, **kwargs)
            os.replace(osp.join(out_dir, tmp), osp.join(out_dir, filename))
        finally:
            if osp.exists(osp.join(out_dir, tmp)):
                os.remove(osp.join(out_dir, tmp))


def weight_mismatches(model, checkpoint: dict, allow_missing=()) -> List[str]:
    """What keeps ``checkpoint`` from holding exactly the model's tensors (same names after
    stripping 'module.', same shapes), up to ``allow_missing`` prefixes: one entry per kind of
    problem (missing / unexpected / wrong shape), empty when it fits."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        return ['no state dict in it']
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(tuple(allow_missing))]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}' for k, v in own.items()
              if k in state and hasattr(state[k], 'shape') and state[k].shape != v.shape]
    return [f'{len(keys)} {what} ({", ".join(keys[:3])}{", ..." if len(keys) > 3 else ""})'
            for what, keys in (('missing', missing), ('unexpected', unexpected),
                               ('wrong shape', shapes)) if keys]


def check_weights_complete(model, checkpoint: dict, filename: str,
                           allow_missing=()) -> None:
    """Raise :class:`CheckpointError` naming the file unless :func:`weight_mismatches` finds
    nothing."""
    problems = weight_mismatches(model, checkpoint, allow_missing)
    if problems:
        raise CheckpointError(f'{filename}: does not fit this model: {"; ".join(problems)}. '
                              'Is it the checkpoint of this config? (--cfg-options '
                              'load_from_strict=False loads what fits)')


def nonfinite_tensors(checkpoint) -> List[str]:
    """Names of the floating-point tensors of a checkpoint's state dict holding NaN or Inf."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    if not isinstance(state, dict):
        return []
    return [k for k, v in state.items() if isinstance(v, torch.Tensor)
            and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_weights_finite(checkpoint, filename: str) -> None:
    """Raise :class:`CheckpointError` naming the file and the tensors if any weight is NaN /
    Inf (a diverged run: every prediction would be garbage, every metric meaningless)."""
    bad = nonfinite_tensors(checkpoint)
    if bad:
        raise CheckpointError(f'{filename}: {len(bad)} tensor(s) hold NaN or Inf values '
                              f'({", ".join(bad[:3])}{", ..." if len(bad) > 3 else ""}); the '
                              'checkpoint of a diverged run gives meaningless predictions. Use an '
                              'earlier checkpoint (--cfg-options allow_nonfinite_weights=True '
                              'loads it anyway)')


def _numbered_checkpoints(work_dir: str) -> List[str]:
    """``iter_N.pth`` / ``epoch_N.pth`` in ``work_dir``, newest (largest N) first."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found, reverse=True)]


def _is_complete_checkpoint(path: str) -> bool:
    """A torch zip checkpoint whose central directory (written last) and pickle read back;
    cheap: nothing is unpickled."""
    try:
        with zipfile.ZipFile(path) as zf:
            pkl = [n for n in zf.namelist() if n.endswith('/data.pkl')]
            return bool(pkl) and len(zf.read(pkl[0])) > 0
    except (zipfile.BadZipFile, OSError, EOFError, KeyError):
        return False
