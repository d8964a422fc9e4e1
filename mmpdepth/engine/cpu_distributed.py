"""Distributed training on CPU-only machines.

mmengine's PyTorch launcher path calls ``torch.cuda.set_device`` unconditionally, so
``tools/dist_train.sh CONFIG 2`` fails on a machine without GPUs. When torchrun started us and
CUDA is unavailable, we initialise the process group with gloo first; mmengine then finds it
initialised and skips its own set-up.
"""
import os

import torch
import torch.distributed as dist


def init_cpu_process_group_if_needed(launcher: str, cfg=None) -> bool:
    """Initialise a gloo process group and make the DDP wrapper CPU-friendly.

    Returns True if it did (torchrun launcher, no CUDA). ``cfg`` (the run's config) then gets a
    ``model_wrapper_cfg`` without ``device_ids``, which mmengine otherwise sets to the local
    rank (a GPU id).
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        return False
    dist.init_process_group(backend='gloo')
    if cfg is not None and cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True
