"""Train a model (mmdet-style).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--trust-checkpoint CKPT]
        [--overwrite] [--break-lock] [--amp] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}] [--debug]

Expected errors (a missing file, a refused checkpoint, a misspelt option) print one line and
exit with status 2; --debug shows the traceback.
"""
import glob
import os
import os.path as osp

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmpdepth  # noqa: F401  (registers components; checks the install)
from mmpdepth.engine.cpu_distributed import init_cpu_process_group_if_needed
from mmpdepth.registry import RUNNERS
from mmpdepth.utils.cli import (CfgOptionsAction, InputError, ToolArgumentParser,
                                merge_cfg_options, run_tool)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = ToolArgumentParser(description='Train a depth-aware panoptic model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 on CUDA, bfloat16 on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint of the work dir if no CKPT')
    parser.add_argument('--trust-checkpoint', metavar='CKPT',
                        help='resume from CKPT even if it needs full unpickling (runs code in '
                        'it: only for a file you made or trust)')
    parser.add_argument('--overwrite', action='store_true',
                        help='start anew in a work dir that holds checkpoints of an earlier run '
                        '(they are replaced as the new run saves)')
    parser.add_argument('--break-lock', action='store_true',
                        help='train even though the work dir is locked by another run (only if '
                        'that run is gone, e.g. on another machine)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_load_from(cfg) -> None:
    """Stop before the model is built when ``load_from`` is missing; when it is the output of
    an earlier stage (``work_dirs/<stage config>/...``), name that stage and its command."""
    path = cfg.get('load_from', None)
    if not path or '://' in str(path) or osp.isfile(path):
        return
    what = 'resume checkpoint' if cfg.get('resume', False) else 'load_from checkpoint'
    stage = osp.basename(osp.dirname(osp.normpath(path)))
    found = glob.glob(osp.join(ROOT, 'configs', '**', f'{stage}.py'), recursive=True)
    if found:
        producer = osp.relpath(found[0], ROOT)
        raise InputError(f'{path}: {what} not found; it is written by the stage {producer}: '
                         f'train that first (tools/dist_train.sh {producer} 8, or '
                         'tools/dist_train_stages.sh for all stages), or set load_from')
    raise InputError(f'{path}: {what} not found')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    if args.break_lock:
        cfg.break_work_dir_lock = True
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:  # fp16 + dynamic loss scaling on CUDA, bf16 on CPU
        if cfg.optim_wrapper.get('type', 'OptimWrapper') in ('OptimWrapper', 'AmpOptimWrapper'):
            cfg.optim_wrapper.type = 'AutoAmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.trust_checkpoint:
        if not osp.isfile(args.trust_checkpoint):
            raise InputError(f'--trust-checkpoint {args.trust_checkpoint}: no such file')
        cfg.trust_checkpoint = osp.realpath(args.trust_checkpoint)
    earlier = sorted(glob.glob(osp.join(cfg.work_dir, 'iter_*.pth')) +
                     glob.glob(osp.join(cfg.work_dir, 'epoch_*.pth')))
    if earlier and args.resume is None and not args.overwrite:
        raise InputError(f'{cfg.work_dir}: holds checkpoints of an earlier run '
                         f'({", ".join(osp.basename(p) for p in earlier[:3])}'
                         f'{", ..." if len(earlier) > 3 else ""}); pass --resume to continue it, '
                         '--overwrite to start anew and replace them, or another --work-dir')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    check_load_from(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    init_cpu_process_group_if_needed(args.launcher, cfg)  # torchrun without GPUs
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    run_tool(main)
