from .checkpoint_safety import (UnsafeCheckpointError, load_local_checkpoint,
                                register_safe_local_loader, trusted_dir)
from .hooks import *  # noqa: F401,F403
from .optimizers import AutoAmpOptimWrapper
from .runner import DPSRunner

register_safe_local_loader()

__all__ = ['UnsafeCheckpointError', 'load_local_checkpoint', 'register_safe_local_loader',
           'trusted_dir', 'DPSRunner', 'AutoAmpOptimWrapper']
