"""Test (evaluate) a checkpoint (mmdet-style); prints PQ / DPQ / depth errors.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--show] [--tta] [--precision P] [--fuse-conv-bn] [--overwrite] [--cfg-options k=v ...] [--launcher ...]
        [--debug]

Expected errors print one line and exit with status 2; --debug shows the traceback. The
checkpoint loads weights-only and strictly (every tensor of the model, right shapes).
"""
import os
import os.path as osp
import warnings

from mmengine.config import Config, ConfigDict
from mmengine.evaluator import DumpResults
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmpdepth  # noqa: F401  (registers components; checks the install)
from mmpdepth.engine.cpu_distributed import init_cpu_process_group_if_needed
from mmpdepth.models.layers.precision import PRECISIONS
from mmpdepth.registry import RUNNERS
from mmpdepth.utils.cli import (CfgOptionsAction, InputError, ToolArgumentParser,
                                merge_cfg_options, run_tool, unwritable_output)


def parse_args():
    parser = ToolArgumentParser(description='Test (and evaluate) a DPS model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument('--out', type=str, help='dump predictions to a pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir',
                        help='save image | panoptic | depth panels here (inside work_dir)')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    parser.add_argument('--precision', choices=PRECISIONS, default=None,
                        help="inference precision (test_cfg.precision; default: the config's, "
                        "fp32): bf16 on CPUs with native bfloat16, fp16 on CUDA, auto picks")
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold the backbone and neck BatchNorms into their convolutions '
                        'before testing (same predictions up to float rounding, faster)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out file, write --show-dir panels into a '
                        'folder outside the work dir that already holds files')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' in default_hooks:
        vis = default_hooks['visualization']
        vis['draw'] = True
        if args.show:
            vis['show'] = True
            vis['wait_time'] = args.wait_time
        if args.show_dir:
            vis['test_out_dir'] = args.show_dir
    else:
        raise RuntimeError("the config has no default_hooks.visualization to draw with")
    return cfg


def check_show_dir(show_dir: str, work_dir: str, overwrite: bool) -> None:
    """A relative --show-dir goes to ``work_dir/<timestamp>/show_dir`` (always new). One
    outside the work dir (an absolute path) gets one panel per input named like the input
    image: refuse it if it already holds files (e.g. the dataset's own image folder)."""
    target = show_dir if osp.isabs(show_dir) else None
    if target is None and '..' not in show_dir.replace('\\', '/').split('/'):
        return
    target = target or osp.normpath(osp.join(work_dir, 'TIMESTAMP', show_dir))
    if osp.exists(target) and not osp.isdir(target):
        raise InputError(f'--show-dir {show_dir}: exists and is not a folder')
    if osp.isdir(target) and os.listdir(target) and not overwrite:
        raise InputError(f'--show-dir {show_dir}: a folder outside the work dir that already '
                         'holds files; panels are named like the input images and would '
                         'replace files of the same names there (the dataset images, if it is '
                         'their folder). Give a new or empty folder, a relative path (saved '
                         'under the work dir), or pass --overwrite')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    if args.precision is not None:
        cfg.model.setdefault('test_cfg', ConfigDict())['precision'] = args.precision
    if not osp.isfile(args.checkpoint):
        raise InputError(f'{args.checkpoint}: checkpoint not found')
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise InputError(f'--out {args.out}: must be a .pkl file')
        if osp.exists(args.out) and not args.overwrite:
            raise InputError(f'--out {args.out}: exists (pass --overwrite to replace it)')
        problem = unwritable_output(args.out, '--out')  # before hours of testing
        if problem:
            raise InputError(problem)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # testing loads every tensor of the model: the parts a training config lets a stage leave
    # uninitialised (load_from_allow_missing, load_from_strict) would predict at random here
    cfg.pop('load_from_allow_missing', None)
    if 'load_from_strict' not in (args.cfg_options or {}):  # only an explicit option relaxes it
        cfg.load_from_strict = True
    if args.show_dir:
        check_show_dir(args.show_dir, cfg.work_dir, args.overwrite)
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise RuntimeError('the config has no tta_model / tta_pipeline')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        test_data_cfg = cfg.test_dataloader.dataset
        while 'dataset' in test_data_cfg:
            test_data_cfg = test_data_cfg['dataset']
        test_data_cfg.pipeline = cfg.tta_pipeline
    if args.fuse_conv_bn:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='FuseConvBNHook')]
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    init_cpu_process_group_if_needed(args.launcher, cfg)  # torchrun without GPUs
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    warnings.filterwarnings('ignore', category=UserWarning, module='mmengine')
    run_tool(main)
