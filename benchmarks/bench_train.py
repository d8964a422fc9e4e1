"""Time and peak memory of one training step of a config's model, per setting.

    python benchmarks/bench_train.py CONFIG --size HxW [--amp] [--impl grid_sample torchvision]
        [--with-cp] [--matrix] [--device cpu|cuda] [--steps 1] [--threads 2] [--json OUT]

Each setting runs in a fresh process (so CPU peak RSS is that setting's own): build the model
with random weights, one synthetic training frame of HxW (``write_synthetic_dps``), then
``--steps`` full ``model.train_step`` calls (forward, losses, backward, optimizer step) with the
config's optimizer wrapper (``--amp``: ``AutoAmpOptimWrapper``: fp16 on CUDA, bf16 on CPU).
Memory: CUDA ``max_memory_allocated`` over the steps; CPU the process's peak RSS and its rise
during the steps. Time: the last step (the first on CPU is as fast; on CUDA use ``--steps 3``).

``--with-cp``: activation checkpointing of the backbone (``with_cp``), the stride-4 embedding
towers and the kernel towers. ``--matrix``: every combination of ``--impl`` x {fp32, amp} x
{no cp, cp}.
"""
import argparse
import copy
import itertools
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _rss_gb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e9


def apply_setting(cfg, impl: str, amp: bool, with_cp: bool, device_type: str = 'cuda') -> None:
    """Set the DCN implementation, mixed precision and checkpointing in a loaded config
    (on the CPU, amp forces bf16 even without native bf16: its memory is what is measured)."""
    head = cfg.model.panoptic_head
    head.dcn_impl = impl
    head.embed_with_cp = with_cp
    head.tower_with_cp = with_cp
    cfg.model.backbone.with_cp = with_cp
    if amp:
        cfg.optim_wrapper.type = 'AutoAmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        if device_type == 'cpu':
            cfg.optim_wrapper.dtype = 'bfloat16'
    else:
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)


def run_one(args) -> dict:
    """One setting, in this process."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import mmpdepth  # noqa: F401
    from mmpdepth.datasets.synthetic import write_synthetic_dps
    from mmpdepth.registry import DATASETS, MODELS

    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split('x'))
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    apply_setting(cfg, args.impl[0], args.amp, args.with_cp, args.device)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_dps(root, num_train_seqs=1, num_val_seqs=1, frames_per_seq=1,
                            height=h, width=w, seed=0)
        # the synthetic set has the Cityscapes-DVPS layout and classes, whatever the config trains on
        ds_cfg = dict(type='CityscapesDPSDataset', data_root=root, ann_file='',
                      data_prefix=dict(img_path='video_sequence/train', camera='camera.json'),
                      pipeline=[dict(type='LoadImageFromFile'),
                                dict(type='LoadDPSAnnotations', with_depth=True),
                                dict(type='PackDPSInputs')])
        batch = pseudo_collate([DATASETS.build(ds_cfg)[0]])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_gb()
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        log_vars = model.train_step(copy.deepcopy(batch), optim_wrapper)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(float(log_vars['loss']))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    out = dict(size=args.size, impl=args.impl[0], amp=args.amp, with_cp=args.with_cp,
               device=device.type, threads=args.threads, step_s=times[-1], first_step_s=times[0],
               loss=losses[-1], peak_rss_gb=peak_rss, rss_rise_gb=peak_rss - rss_before)
    if device.type == 'cuda':
        out['max_allocated_gb'] = torch.cuda.max_memory_allocated() / 1e9
        out['gpu'] = torch.cuda.get_device_name()
    return out


def settings(args):
    amps = (False, True) if args.matrix else (args.amp, )
    cps = (False, True) if args.matrix else (args.with_cp, )
    return list(itertools.product(args.impl, amps, cps))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('config')
    ap.add_argument('--size', default='256x512', help='HxW of the training frame')
    ap.add_argument('--impl', nargs='+', default=['auto'],
                    help="DCN implementations (PanopticDepthHead.dcn_impl)")
    ap.add_argument('--amp', action='store_true', help='fp16 on CUDA, bf16 on CPU')
    ap.add_argument('--with-cp', action='store_true', help='activation checkpointing')
    ap.add_argument('--matrix', action='store_true', help='all impl x precision x cp settings')
    ap.add_argument('--device', default=None, help='cpu or cuda (default: cuda if available)')
    ap.add_argument('--steps', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', default=None, help='also write the rows to this JSON file')
    ap.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.child:
        print('RESULT ' + json.dumps(run_one(args)), flush=True)
        return
    rows = []
    for impl, amp, cp in settings(args):
        cmd = [sys.executable, osp.abspath(__file__), args.config, '--child', '--size', args.size,
               '--impl', impl, '--device', args.device, '--steps', str(args.steps),
               '--threads', str(args.threads)] + (['--amp'] if amp else []) + \
              (['--with-cp'] if cp else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        res = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
        if proc.returncode != 0 or not res:
            err = (proc.stderr.strip().splitlines() or ['no output'])[-1]
            rows.append(dict(size=args.size, impl=impl, amp=amp, with_cp=cp, error=err))
        else:
            rows.append(json.loads(res[-1][len('RESULT '):]))
        _print_row(rows[-1], header=len(rows) == 1)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


def _print_row(r: dict, header: bool) -> None:
    if header:
        print(f'{"size":>10s} {"dcn impl":>12s} {"precision":>9s} {"ckpt":>5s} {"step (s)":>9s} '
              f'{"memory (GB)":>12s}  measure')
    prec = ('fp16' if r.get('device') == 'cuda' else 'bf16') if r['amp'] else 'fp32'
    if 'error' in r:
        print(f'{r["size"]:>10s} {r["impl"]:>12s} {prec:>9s} {str(r["with_cp"]):>5s}  '
              f'failed: {r["error"]}')
        return
    if r['device'] == 'cuda':
        mem, what = r['max_allocated_gb'], 'max_memory_allocated'
    else:
        mem, what = r['rss_rise_gb'], f'peak RSS rise (peak {r["peak_rss_gb"]:.2f})'
    print(f'{r["size"]:>10s} {r["impl"]:>12s} {prec:>9s} {str(r["with_cp"]):>5s} '
          f'{r["step_s"]:9.1f} {mem:12.2f}  {what}', flush=True)


if __name__ == '__main__':
    from mmpdepth.utils.cli import use_cpu_huge_pages
    use_cpu_huge_pages()  # as the tools do; THP_MEM_ALLOC_ENABLE=0 turns it off
    main()
