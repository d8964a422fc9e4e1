"""Parameters, FLOPs and CPU latency of a config's model per precision, with a per-stage
profile and the ratio to the machine's convolution floor.

    python benchmarks/bench_inference.py CONFIG [--sizes 512x1024 1024x2048] [--threads 2]
        [--repeats 3] [--checkpoint CKPT] [--precisions fp32 bf16 auto] [--fuse-conv-bn]
        [--op-profile]

The floor: in the same run, the machine's rate of a 3x3 256->256 convolution at 128x256
(channels-last, multiply-adds per second) and of a 2048^3 matrix product are measured per
precision; ``floor = model GMACs / conv rate`` is the time the network would take if every
multiply-add ran at that convolution's speed, and ``ratio = latency / floor``. A shared
machine's speed drifts within a run, so the conv rate is measured again right before each
timed call, and each call is compared with its own floor (the table gives the medians); the
rows of one input size (precisions, ``--fuse-conv-bn``) are timed in rounds of one call each.
The CPU model, its avx2 / avx512_bf16 / amx flags and the load average are printed with the
numbers.

Random weights unless ``--checkpoint`` is given (latency does not depend on the values, except
for the number of candidates after thresholds: the defaults of the official test config apply).
Latency is the median of ``--repeats`` full ``predict`` calls (image tensor in, panoptic + depth
out, post-processing included) after one warm-up call. FLOPs are counted by mmengine's analyser
on the network part (``mode='tensor'``: backbone, FPN, heads, embeddings).

``--op-profile`` runs one more predict per row under ``torch.profiler`` and splits its time
into the matrix products and convolutions (the multiply-adds the floor counts) and the rest,
each as a multiple of that row's floor.
"""
import argparse
import copy
import os
import platform
import statistics
import time
from collections import defaultdict

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmpdepth  # noqa: F401
from mmpdepth.models.conv_bn_fusion import fuse_conv_bn_for_inference
from mmpdepth.models.layers.precision import (PRECISIONS, autocast_dtype, cpu_bf16_speedup,
                                              cpu_has_native_bf16, inference_autocast,
                                              resolve_precision, to_float32)
from mmpdepth.registry import MODELS


def cpu_description() -> str:
    """CPU model name and the flags that decide bf16 speed."""
    name, flags = platform.processor() or 'unknown CPU', set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and name in ('', 'unknown CPU', 'x86_64'):
                    name = line.split(':', 1)[1].strip()
                elif line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    shown = [f for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile') if f in flags]
    return f'{name}; flags: {" ".join(shown) or "none of avx2/avx512/amx"}'


def machine_rates(dtype: torch.dtype, repeats: int = 3, with_gemm: bool = True) -> dict:
    """GMAC/s of a 3x3 256->256 conv at 128x256 (channels-last) and of a 2048^3 matmul
    (best of ``repeats``; ``with_gemm=False``: the conv only)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 256, 128, 256, generator=g).to(dtype).contiguous(
        memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, generator=g).to(dtype).contiguous(
        memory_format=torch.channels_last)
    a = torch.randn(2048, 2048, generator=g).to(dtype)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    with torch.no_grad():
        conv_s = best(lambda: torch.nn.functional.conv2d(x, w, padding=1))
        mm_s = best(lambda: a @ a) if with_gemm else float('nan')
    return dict(conv=256 * 256 * 9 * 128 * 256 / conv_s / 1e9, gemm=2048 ** 3 / mm_s / 1e9)


def _thp_mode() -> str:
    try:
        with open('/sys/kernel/mm/transparent_hugepage/enabled') as f:
            return f.read().split('[')[1].split(']')[0]
    except (OSError, IndexError):
        return 'unknown'


def count_params(model) -> int:
    sd = model.state_dict()
    return sum(v.numel() for k, v in sd.items()
               if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked')))


def flops(model, h, w) -> float:
    from mmengine.analysis import FlopAnalyzer
    x = torch.zeros(1, 3, h, w)

    class Net(torch.nn.Module):

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            out = self.m._forward(x)
            return tuple(t for v in out.values() if v is not None
                         for t in (v if isinstance(v, tuple) else (v, )) if t is not None)

    with torch.no_grad():  # tracing with autograd would keep every activation alive
        analyzer = FlopAnalyzer(Net(model), (x, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return analyzer.total() / 1e9


#: the stages whose multiply-adds the floor counts
NETWORK_STAGES = ('backbone', 'fpn', 'heads + embeddings')


def timed_predict(model, img, meta, stages, precision='fp32'):
    """One full predict as ``PanopticDepth.predict`` runs it, timed per stage."""
    ds = DetDataSample(metainfo=meta)
    with torch.no_grad():
        t0 = time.perf_counter()
        data = model.data_preprocessor(dict(inputs=[img], data_samples=[ds]), False)
        t1 = time.perf_counter()
        inputs = data['inputs']
        if model._channels_last('cpu'):  # as PanopticDepth.predict_heads
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with inference_autocast(precision, 'cpu'):
            bb = model.backbone(inputs)
            t2 = time.perf_counter()
            feats = model.neck(bb)
            t3 = time.perf_counter()
            outs = model.panoptic_head(feats)
        outs = to_float32(outs)
        t4 = time.perf_counter()
        head = model.panoptic_head.predict_by_feat(outs)
        t5 = time.perf_counter()
        model.panoptic_fusion_head.predict(head, [data['data_samples'][0].metainfo])
        t6 = time.perf_counter()
    for name, a, b in (('preprocess', t0, t1), ('backbone', t1, t2), ('fpn', t2, t3),
                       ('heads + embeddings', t3, t4), ('kernel selection + fusion', t4, t5),
                       ('merge + depth (full res)', t5, t6)):
        stages[name].append(b - a)
    return t6 - t0


#: profiler op names of the multiply-adds the floor counts (GEMMs and convolutions)
DENSE_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::matmul', 'aten::mkldnn_convolution',
             'aten::_convolution', 'aten::convolution', 'aten::conv2d')


def op_split(model, img, meta, precision='fp32', top: int = 6):
    """One profiled predict: (GEMM + conv self seconds, other self seconds, the ``top``
    largest other ops as (name, seconds))."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        timed_predict(model, img, meta, defaultdict(list), precision)
    dense, others = 0.0, {}
    for e in prof.key_averages():
        t = e.self_cpu_time_total / 1e6
        if e.key in DENSE_OPS:
            dense += t
        else:
            others[e.key] = t
    largest = sorted(others.items(), key=lambda kv: -kv[1])[:top]
    return dense, sum(others.values()), [(k.replace('aten::', ''), t) for k, t in largest]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('config')
    ap.add_argument('--sizes', nargs='+', default=['512x1024', '1024x2048'])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--precisions', nargs='+', choices=PRECISIONS, default=['fp32', 'auto'],
                    help="precisions to time ('bf16' on a CPU without native bfloat16 is "
                    'emulated and very slow)')
    ap.add_argument('--no-flops', action='store_true')
    ap.add_argument('--op-profile', action='store_true',
                    help='one profiled predict per row: GEMM + conv time against the floor')
    ap.add_argument('--fuse-conv-bn', action='store_true',
                    help='also time each precision with the backbone / neck BatchNorms folded '
                    'into their convolutions (what DPSInferencer and the demos run)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    precisions = []  # (label, resolved precision), one row per resolved precision
    for p in args.precisions:
        r = resolve_precision(p, 'cpu')
        label = f'auto -> {r}' if p == 'auto' else p
        known = [q for _, q in precisions]
        if r in known:
            i = known.index(r)
            precisions[i] = (f'{precisions[i][0]} (= auto)' if p == 'auto' else label, r)
        else:
            precisions.append((label, r))
    print(f'config: {args.config}\nparameters: {count_params(model):,}\n'
          f'threads: {torch.get_num_threads()}, torch {torch.__version__}\n'
          f'CPU: {cpu_description()}\n'
          f'oneDNN bf16: {cpu_has_native_bf16()} (emulated without avx512_bf16 / amx); bf16 '
          f'3x3 conv measured {cpu_bf16_speedup():.2f}x fp32 -> auto picks '
          f'{resolve_precision("auto", "cpu")}\n'
          f'huge pages for large CPU tensors: THP_MEM_ALLOC_ENABLE='
          f'{os.environ.get("THP_MEM_ALLOC_ENABLE", "0")} (kernel THP: {_thp_mode()})\n'
          f'load average at start: {" ".join(f"{v:.1f}" for v in os.getloadavg())}')
    rates = {r: machine_rates(autocast_dtype(r) or torch.float32) for _, r in precisions}
    print('\nmachine rates (GMAC/s, best of 3): ' + '; '.join(
        f'{r}: conv3x3 {v["conv"]:.1f}, matmul {v["gemm"]:.1f}' for r, v in rates.items()))
    variants = [(label, r, model) for label, r in precisions]
    if args.fuse_conv_bn:
        fused = copy.deepcopy(model)
        print(f'folded {fuse_conv_bn_for_inference(fused)} BatchNorm layers into their '
              'convolutions for the "+ fused BN" rows')
        variants += [(f'{label} + fused BN', r, fused) for label, r in precisions]
    rows = []
    for size in args.sizes:
        h, w = (int(v) for v in size.split('x'))
        g = torch.Generator().manual_seed(0)
        img = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
        meta = dict(img_shape=(h, w), ori_shape=(h, w))
        gmac = float('nan') if args.no_flops else flops(model, h, w)
        for label, r, net in variants:
            timed_predict(net, img, meta, defaultdict(list), r)  # warm-up
        # rounds of one call per row, each next to its own measure of the rate, so a shared
        # machine's drift hits the rows alike
        runs = [(defaultdict(list), [], []) for _ in variants]
        for _ in range(args.repeats):
            for (label, r, net), (stages, lat, conv_rate) in zip(variants, runs):
                conv_rate.append(machine_rates(autocast_dtype(r) or torch.float32,
                                               with_gemm=False)['conv'])
                lat.append(timed_predict(net, img, meta, stages, r))
        for (label, r, net), (stages, lat, conv_rate) in zip(variants, runs):
            ops = op_split(net, img, meta, r) if args.op_profile else None
            rows.append((size, label, r, gmac, lat, conv_rate, stages, ops))
    print(f'\n{"input":>10s} {"precision":>22s} {"GMACs":>8s} {"latency (s)":>12s} '
          f'{"network (s)":>12s} {"conv GMAC/s":>11s} {"floor (s)":>10s} {"ratio":>6s} '
          f'{"net ratio":>9s} {"speed-up":>8s}')
    base = {}
    for size, label, r, gmac, lat, conv_rate, stages, _ in rows:
        med = statistics.median
        base.setdefault(size, med(lat))
        floors = [gmac / c for c in conv_rate]
        nets = [sum(t) for t in zip(*(stages[k] for k in NETWORK_STAGES))]
        ratio = med(t / f for t, f in zip(lat, floors))
        net_ratio = med(t / f for t, f in zip(nets, floors))
        print(f'{size:>10s} {label:>22s} {gmac:8.1f} {med(lat):12.2f} {med(nets):12.2f} '
              f'{med(conv_rate):11.1f} {med(floors):10.2f} {ratio:6.2f} {net_ratio:9.2f} '
              f'{base[size] / med(lat):7.2f}x')
    print('conv GMAC/s = the 3x3 conv rate measured right before each timed call (median); '
          'ratio = median over the calls of latency / that call\'s floor; net ratio = the same '
          'for backbone + FPN + heads; the floor counts the network only, and with random '
          'weights the merge is its worst case (every mask spread over the image): pass '
          '--checkpoint for a trained model\'s')
    if args.op_profile:
        print('\none profiled predict per row (profiler overhead included; x floor = seconds '
              '/ the row\'s median floor):')
        for size, label, r, gmac, lat, conv_rate, stages, (dense, rest, top) in rows:
            floor = statistics.median(gmac / c for c in conv_rate)
            print(f'  {size} {label}: GEMMs + convolutions {dense:.2f} s ({dense / floor:.2f}x '
                  f'floor), everything else {rest:.2f} s ({rest / floor:.2f}x floor); largest '
                  'others: ' + ', '.join(f'{n} {t:.2f}' for n, t in top))
    for size, label, r, _, lat, _, stages, _ in rows:
        lat = statistics.median(lat)
        print(f'\nwhere the time goes at {size}, {label} (median s):')
        for name, ts in stages.items():
            m = statistics.median(ts)
            print(f'  {name:28s} {m:7.2f}  {100 * m / lat:5.1f} %')
    print(f'\nload average at end: {" ".join(f"{v:.1f}" for v in os.getloadavg())}')


if __name__ == '__main__':
    from mmpdepth.utils.cli import use_cpu_huge_pages
    use_cpu_huge_pages()  # as the tools do; THP_MEM_ALLOC_ENABLE=0 turns it off
    main()
