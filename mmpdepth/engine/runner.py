"""mmengine ``Runner`` with safe resume, strict weight loading and atomic checkpoints."""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mmpdepth.registry import RUNNERS

from .checkpoint_safety import trusted_file


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
    * Checkpoints are written to a temporary file and renamed, so a kill while saving never
      leaves a broken file under the final name.
    """

    # ---------------------------------------------------------------- resume
    def resume(self, filename: str, *args, **kwargs) -> None:
        with trusted_file(self.cfg.get('trust_checkpoint', None)):
            return super().resume(filename, *args, **kwargs)

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
        model = self.model.module if is_model_wrapper(self.model) else self.model
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
