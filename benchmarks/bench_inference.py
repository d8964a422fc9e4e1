"""Parameters, FLOPs and CPU latency of a config's model, with a per-stage profile.

    python benchmarks/bench_inference.py CONFIG [--sizes 512x1024 1024x2048] [--threads 2]
        [--repeats 3] [--checkpoint CKPT]

Random weights unless ``--checkpoint`` is given (latency does not depend on the values, except
for the number of candidates after thresholds: the defaults of the official test config apply).
Latency is the median of ``--repeats`` full ``predict`` calls (image tensor in, panoptic + depth
out, post-processing included) after one warm-up call. FLOPs are counted by mmengine's analyser
on the network part (``mode='tensor'``: backbone, FPN, heads, embeddings).
"""
import argparse
import statistics
import time
from collections import defaultdict

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmpdepth  # noqa: F401
from mmpdepth.registry import MODELS


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


def timed_predict(model, img, meta, stages):
    ds = DetDataSample(metainfo=meta)
    with torch.no_grad():
        t0 = time.perf_counter()
        data = model.data_preprocessor(dict(inputs=[img], data_samples=[ds]), False)
        t1 = time.perf_counter()
        bb = model.backbone(data['inputs'])
        t2 = time.perf_counter()
        feats = model.neck(bb)
        t3 = time.perf_counter()
        outs = model.panoptic_head(feats)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('config')
    ap.add_argument('--sizes', nargs='+', default=['512x1024', '1024x2048'])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--no-flops', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    print(f'config: {args.config}\nparameters: {count_params(model):,}\n'
          f'threads: {torch.get_num_threads()}, torch {torch.__version__}')
    rows = []
    for size in args.sizes:
        h, w = (int(v) for v in size.split('x'))
        g = torch.Generator().manual_seed(0)
        img = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
        meta = dict(img_shape=(h, w), ori_shape=(h, w))
        stages = defaultdict(list)
        timed_predict(model, img, meta, defaultdict(list))  # warm-up
        lat = [timed_predict(model, img, meta, stages) for _ in range(args.repeats)]
        gf = float('nan') if args.no_flops else flops(model, h, w)
        rows.append((size, gf, statistics.median(lat), stages))
    print(f'\n{"input":>10s} {"GFLOPs":>9s} {"latency (s)":>12s}')
    for size, gf, lat, _ in rows:
        print(f'{size:>10s} {gf:9.1f} {lat:12.2f}')
    for size, _, lat, stages in rows:
        print(f'\nwhere the time goes at {size} (median s):')
        for name, ts in stages.items():
            m = statistics.median(ts)
            print(f'  {name:28s} {m:7.2f}  {100 * m / lat:5.1f} %')


if __name__ == '__main__':
    main()
