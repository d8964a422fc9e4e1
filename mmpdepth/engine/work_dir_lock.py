"""One training run per work dir: a lock file with the owner's pid, host and command."""
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Optional

from mmengine.logging import print_log

#: name of the lock file inside the work dir
LOCK_NAME = '.mmpdepth_run.lock'


class WorkDirLockedError(FileExistsError):
    """Another live run holds the work dir (the message names its pid and the override)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class WorkDirLock:
    """Hold ``work_dir/.mmpdepth_run.lock`` while a run writes into ``work_dir``.

    * The lock is created atomically (``O_EXCL``) and holds ``pid``, ``host``, start time and
      command line as JSON; it is removed when the run ends (also on an error).
    * A lock of a live process on this host, or of any process on another host (its pid
      cannot be checked from here), makes :meth:`acquire` raise :class:`WorkDirLockedError`
      naming the pid and the override ``--break-lock`` (``break_work_dir_lock=True``).
    * A lock whose process is gone (killed run) is taken over with a warning.

    Args:
        work_dir (str): the folder to lock (created if missing).
        break_lock (bool): take the lock even from a live process.
    """

    def __init__(self, work_dir: str, break_lock: bool = False) -> None:
        self.path = osp.join(work_dir, LOCK_NAME)
        self.break_lock = break_lock
        self.held = False

    def _owner(self) -> Optional[dict]:
        try:
            with open(self.path) as f:
                owner = json.load(f)
            return owner if isinstance(owner, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable / half-written: no pid to check

    def acquire(self) -> None:
        os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
        me = dict(pid=os.getpid(), host=socket.gethostname(), started=time.time(),
                  command=' '.join(sys.argv))
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:
                    continue  # released meanwhile: try again
                self._take_over(owner)
                continue
            with os.fdopen(fd, 'w') as f:
                json.dump(me, f)
            self.held = True
            return
        raise WorkDirLockedError(f'{self.path}: could not be created (another run started at '
                                 'the same time?)')

    def _take_over(self, owner: dict) -> None:
        pid, host = owner.get('pid'), owner.get('host')
        here = host == socket.gethostname()
        alive = isinstance(pid, int) and (not here or _pid_alive(pid))
        if alive and not self.break_lock:
            where = '' if here else f' on host {host}'
            raise WorkDirLockedError(
                f'{osp.dirname(self.path)}: in use by another run (pid {pid}{where}, lock '
                f'{self.path}); wait for it to end, use another --work-dir, or pass '
                '--break-lock if that run is gone')
        why = ('--break-lock given' if alive else
               f'its process {pid} is not running' if isinstance(pid, int) else
               'it names no process')
        print_log(f'{self.path}: taking over the lock of an earlier run ({why})',
                  logger='current', level=30)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        owner = self._owner()
        if owner and owner.get('pid') == os.getpid():
            os.remove(self.path)

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
