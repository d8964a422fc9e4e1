"""The README's main job (`make demo`): the whole method, end to end, on a 2-core CPU.

1. writes the embedded synthetic DPS set (if missing),
2. evaluates an untrained model (the baseline DPQ),
3. trains the tiny config from random initialisation (progress in the log),
4. evaluates DPQ on the synthetic val split and writes image | panoptic | depth panels,
5. runs the image demo (``DPSInferencer``) on ``demo/demo_synthetic.png``: panels, prediction
   files and a point cloud (PLY + rendered view),
6. runs the video demo on one synthetic val sequence: an mp4 with tracked things (each keeps
   its colour) and a frame strip, per-frame ids above tracked ids,
7. writes ``metrics.json`` and prints where everything is.

    python tools/misc/run_demo.py [--iters 600] [--out-dir outputs/demo] [--data data/synthetic_dps]

Everything is built from the config by mmengine's Runner (``DPSRunner``).
"""
import json
import os
import os.path as osp
import shutil
import time

import torch

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmpdepth  # noqa: F401
from mmpdepth.datasets.synthetic import write_synthetic_dps
from mmpdepth.registry import RUNNERS
from mmpdepth.utils.cli import InputError, ToolArgumentParser, run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py')
#: torch threads of the demo. Its numbers depend on the thread count (float summation order),
#: so it is fixed. One thread plus the one data-loading worker fill a 2-core machine; two
#: threads are faster on idle cores but, under load, wait on each other (on a loaded 2-core
#: machine 2-thread training iterations took 30-44 s where 1-thread ones took 4-8 s)
DEMO_THREADS = 1
#: expected minutes on a 2-core machine: a fixed part (data, evaluations, image and video
#: demos) plus the training iterations; measured with 1 thread on a 2-core Intel Xeon @ 2.80 GHz
#: while other jobs used the second core: 1500 iterations in 31.5 min of a 32.2 min run
FIXED_MINUTES, MINUTES_PER_ITER = 1.0, 1.26 / 60
KEYS = ('PQ', 'PQ_th', 'PQ_st', 'DPQ', 'DPQ_th', 'DPQ_st', 'DPQ@0.5', 'DPQ@0.25', 'DPQ@0.1',
        'AbsRel', 'RMSE')


def demo_config(args, work_dir: str, draw: bool) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.work_dir = work_dir
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data
        cfg[loader].num_workers = 1
    cfg.train_cfg.max_iters = args.iters
    cfg.train_cfg.val_interval = args.iters + 1  # evaluate once, after training
    cfg.param_scheduler[-1].end = args.iters
    cfg.default_hooks.checkpoint.interval = args.iters
    cfg.default_hooks.visualization.draw = draw
    cfg.default_hooks.visualization.test_out_dir = 'vis'
    cfg.randomness = dict(seed=args.seed)
    # one visualizer per run: mmengine hands a second runner the first one's visualizer of the
    # same name (saving into the first run's folder, with a warning)
    cfg.visualizer.name = f'visualizer_{osp.basename(work_dir)}'
    return cfg


def flat(metrics: dict) -> dict:
    return {k: round(float(metrics[f'dps/{k}']), 3) for k in KEYS if f'dps/{k}' in metrics}


DEMO_MARK = '.mmpdepth-demo-output'


def claim_output_dir(out_dir: str, overwrite: bool) -> None:
    """Make ``out_dir`` ours: new, empty, written by an earlier demo run (it holds our mark),
    or ``--overwrite`` given. Anything else stops before a file is touched."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise InputError(f'--out-dir {out_dir}: exists and is not a folder')
    ours = osp.isfile(osp.join(out_dir, DEMO_MARK))
    if osp.isdir(out_dir) and os.listdir(out_dir) and not ours and not overwrite:
        raise InputError(f'--out-dir {out_dir}: holds files not written by the demo; pass '
                         '--overwrite to write into it (its vis/ is replaced) or another folder')
    os.makedirs(out_dir, exist_ok=True)
    open(osp.join(out_dir, DEMO_MARK), 'w').close()


def video_demo(args, work: str, ckpt: str) -> str:
    """The synthetic val sequence with the most things, with per-frame ids and with the
    tracker: mp4s, prediction files and ``strip.png`` (one row each). Returns the folder."""
    import mmcv

    from mmpdepth.apis import DPSInferencer
    from mmpdepth.apis.video_output import frame_strip, predict_sequence
    from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT as fmt
    val = osp.join(args.data, 'video_sequence', 'val')
    names = sorted(f for f in os.listdir(val) if f.endswith('_leftImg8bit.png'))

    def things(seq):  # thing instances in the sequence's ground truth
        ids = set()
        for f in names:
            if f.split('_')[0] == seq:
                gt = fmt.read_gt_ids(dict(pan_path=osp.join(val, f.replace(
                    '_leftImg8bit.png', '_gtFine_instanceTrainIds.png'))))
                ids |= set(gt[gt % fmt.label_divisor > 0].tolist())
        return len(ids)

    seq = max(sorted({f.split('_')[0] for f in names}), key=things)
    frames = [osp.join(val, f) for f in names if f.split('_')[0] == seq]
    out = osp.join(args.out_dir, 'video_demo')
    rows = []
    for sub, tracker in (('per_frame', None), ('tracked', dict(type='KernelTracker'))):
        cfg = demo_config(args, work, draw=False)
        cfg.model.test_cfg = dict(cfg.model.test_cfg, tracker=tracker)
        res = predict_sequence(DPSInferencer(cfg, ckpt, device='cpu', show_progress=False),
                               frames, osp.join(out, sub), f'sequence_{seq}', fps=3.0,
                               progress=False, keep_layers=range(len(frames)))
        rows.append([res['layers'][i] for i in sorted(res['layers'])])
    mmcv.imwrite(frame_strip(rows, ['per-frame\nids', 'tracked\nids'])[..., ::-1],
                 osp.join(out, 'strip.png'))
    return out


def main():
    p = ToolArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=CONFIG)
    p.add_argument('--iters', type=int, default=600)
    p.add_argument('--data', default=osp.join(ROOT, 'data/synthetic_dps'))
    p.add_argument('--out-dir', default=osp.join(ROOT, 'outputs/demo'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=DEMO_THREADS,
                   help='torch threads (the results depend on it; the README used '
                   f'{DEMO_THREADS})')
    p.add_argument('--overwrite', action='store_true',
                   help='write into an --out-dir that holds other files (its vis/ is replaced)')
    args = p.parse_args()
    claim_output_dir(args.out_dir, args.overwrite)
    torch.set_num_threads(args.threads)
    os.environ['OMP_NUM_THREADS'] = str(args.threads)  # for child processes
    expected = FIXED_MINUTES + args.iters * MINUTES_PER_ITER
    print(f'[demo] {args.threads} torch thread(s) (--threads; the metrics depend on the count). '
          f'Expected time: about {expected:.0f} min on a 2-core machine, longer while '
          'other programs load the CPU. Full logs: the work dirs below.')
    t0 = time.time()
    init_default_scope('mmdet')
    if not osp.isdir(osp.join(args.data, 'video_sequence', 'val')):
        print(f'[demo] writing the synthetic DPS set to {args.data}')
        write_synthetic_dps(args.data)

    print('[demo] 1/3 evaluating an untrained (randomly initialised) model')
    runner = RUNNERS.build(demo_config(args, osp.join(args.out_dir, 'untrained'), draw=False))
    untrained = flat(runner.test())

    print(f'[demo] 2/3 training {args.iters} iterations on CPU (about '
          f'{args.iters * MINUTES_PER_ITER:.1f} min on 2 cores)')
    work = osp.join(args.out_dir, 'work_dir')
    runner = RUNNERS.build(demo_config(args, work, draw=True))
    runner.train()
    print('[demo] 3/3 evaluating the trained model and drawing predictions')
    trained = flat(runner.test())

    vis_src = osp.join(work, runner.timestamp, 'vis')
    vis_dst = osp.join(args.out_dir, 'vis')
    if osp.isdir(vis_src):
        shutil.rmtree(vis_dst, ignore_errors=True)
        shutil.copytree(vis_src, vis_dst)
    ckpt = osp.join(work, f'iter_{args.iters}.pth')
    print('[demo] image demo with point cloud on demo/demo_synthetic.png')
    from mmpdepth.apis import DPSInferencer
    with open(osp.join(ROOT, 'demo', 'demo_synthetic_camera.json')) as f:
        camera = json.load(f)
    inferencer = DPSInferencer(demo_config(args, work, draw=False), ckpt, device='cpu',
                               show_progress=False)
    inferencer(osp.join(ROOT, 'demo', 'demo_synthetic.png'),
               out_dir=osp.join(args.out_dir, 'image_demo'), save_pcd=True, intrinsics=camera)
    print('[demo] video demo: one val sequence, things tracked over its frames')
    video_dir = video_demo(args, work, ckpt)
    result = dict(untrained=untrained, trained=trained, iters=args.iters, threads=args.threads,
                  checkpoint=ckpt, config=args.config, seconds=round(time.time() - t0, 1))
    with open(osp.join(args.out_dir, 'metrics.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print('\n[demo] synthetic val split (percent; AbsRel / RMSE in their units):')
    print(f'{"":10s}' + ''.join(f'{k:>9s}' for k in KEYS))
    for name, m in (('untrained', untrained), ('trained', trained)):
        print(f'{name:10s}' + ''.join(f'{m.get(k, float("nan")):9.2f}' for k in KEYS))
    print(f'\n[demo] done in {result["seconds"] / 60:.1f} min. Outputs:')
    print(f'  metrics     {osp.join(args.out_dir, "metrics.json")}')
    print(f'  pictures    {vis_dst}/ (image | panoptic | depth; GT row above prediction)')
    print(f'  image demo  {osp.join(args.out_dir, "image_demo")}/ (vis/, preds/, pcd/*.ply)')
    print(f'  video demo  {video_dir}/ (tracked/*.mp4, strip.png: per-frame vs tracked ids)')
    print(f'  checkpoint  {ckpt}')
    print(f'  logs        {work}/')


if __name__ == '__main__':
    run_tool(main)
