from .checkpoint_safety import (UnsafeCheckpointError, load_local_checkpoint,
                                register_safe_local_loader, trusted_file)
from .hooks import *  # noqa: F401,F403
from .optimizers import AutoAmpOptimWrapper
from .runner import CheckpointError, DPSRunner

register_safe_local_loader()

__all__ = ['UnsafeCheckpointError', 'load_local_checkpoint', 'register_safe_local_loader',
           'trusted_file', 'CheckpointError', 'DPSRunner', 'AutoAmpOptimWrapper']
