"""GPU check: official-output parity, training step cost, inference latency, a short training.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--parts parity train infer tiny]
        [--size 1024x2048] [--tiny-iters 50]

Run by ``tools/misc/gpu_check.sh BUNDLE`` on a CUDA machine (or directly in an environment with
mmpdepth installed). Prints one table and writes the rows as JSON. Parts:

1. ``parity``: golden image A (the official model's outputs, ``tests/data/golden``) on CUDA in
   fp32 with TF32 off and on: % pixels in the same segment, depth max |diff| on them, and the
   stage errors (FPN, embeddings, level maps), with the CPU parity test's tolerances.
2. ``train``: one training step of the official R-50 and the Swin-S DPS architectures at
   ``--size``, batch 1: time and ``max_memory_allocated``, fp32 / AMP fp16, DCN torchvision /
   grid_sample, with / without activation checkpointing (a setting that runs out of memory is
   reported as such).
3. ``infer``: full predict latency of the R-50 DPS model at ``--size`` (median of 5 after a
   warm-up, synchronised), fp32 and fp16 autocast, with the post-processing share.
4. ``tiny``: ``--tiny-iters`` iterations of the tiny config on synthetic data: losses must fall,
   depth stay finite.

Without a CUDA device it says so and exits with status 3 (``--device cpu --smoke`` runs every
part on tiny inputs on the CPU, to test this script itself).
"""
import argparse
import copy
import gc
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

CONFIGS = dict(
    official='configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-dps.py',
    r50='configs/panopticdepth/panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py',
    swin_s='configs/panopticdepth/panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-dps.py',
    tiny='configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py')
CH = slice(0, 256, 16)
STAGE_TOL = 1e-3  # the CPU parity test's tolerances
SAME_SEGMENT_MIN = 0.999
DEPTH_P999_TOL_M = 5e-3  # 99.9 % of the same-segment pixels
DEPTH_MAX_TOL_M = 1e-2


def _cfg(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, CONFIGS[name]))


def _sync(device):
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize()


def _rel_err(a, b) -> float:
    import numpy as np
    a = np.asarray(a.detach().cpu() if hasattr(a, 'detach') else a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))


def parity(device, tf32: bool) -> dict:
    """Golden image A through the converted official DPS model on ``device``."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample

    import panopticdepth_d2_to_mmpdepth as converter
    from golden_weights import DATA, make_d2_state_dict
    from mmpdepth.registry import MODELS

    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = osp.join(tmp, 'official.pth'), osp.join(tmp, 'converted.pth')
        torch.save(dict(model=make_d2_state_dict('dps'), iteration=0), src)
        if converter.main([src, dst]) != 0:
            raise RuntimeError('the D2 converter failed on the golden weights')
        state = torch.load(dst, weights_only=True)['state_dict']
    model = MODELS.build(_cfg('official').model)
    model.load_state_dict(state, strict=True)
    model.eval().to(device)
    g = dict(np.load(osp.join(DATA, 'dps_imageA_subset.npz')))
    img = torch.from_numpy(g['model_input_bgr_chw_uint8'].copy())
    ds = DetDataSample(metainfo=dict(img_shape=(256, 512), ori_shape=(256, 512)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[img.to(device)], data_samples=[ds]), False)
        feats = model.extract_feat(data['inputs'])
        outs = model.panoptic_head(feats)
        head = model.panoptic_head.predict_by_feat(outs)
        fused = model.panoptic_fusion_head.predict(head, [ds.metainfo])[0]
    errs = {f'fpn_p{i + 2}': _rel_err(feats[i][0, CH], g[f'fpn_p{i + 2}']) for i in range(6)}
    errs['mask_embed'] = _rel_err(outs['mask_embed'][0, CH], g['mask_embed_s4'])
    errs['depth_embed'] = _rel_err(outs['depth_embed'][0], g['depth_embed_s4'])
    for li, lvl in ((0, 'p3'), (2, 'p5'), (4, 'p7')):
        errs[f'{lvl}_kernel_map'] = _rel_err(outs['kernel_maps'][li][0, CH],
                                             g[f'{lvl}_kernel_map'])
        errs[f'{lvl}_center'] = _rel_err(outs['center_logits'][li][0], g[f'{lvl}_center_logits'])
    pan = fused['pred_panoptic_seg'].sem_seg[0].cpu().numpy()
    gp = g['panoptic_seg']
    mapped = np.zeros_like(pan)
    for gid in np.unique(gp):  # each official segment -> our id covering most of it
        m = gp == gid
        vals, counts = np.unique(pan[m], return_counts=True)
        mapped[m] = vals[counts.argmax()]
    same = pan == mapped
    depth = fused['pred_depth_map'].data[0].cpu().numpy()
    diff = np.abs(depth - g['depth_m'])[same]
    worst = max(errs, key=errs.get)
    ok = (same.mean() >= SAME_SEGMENT_MIN and np.percentile(diff, 99.9) <= DEPTH_P999_TOL_M
          and diff.max() <= DEPTH_MAX_TOL_M and errs[worst] <= STAGE_TOL
          and len(np.unique(pan)) == len(np.unique(gp)))
    return dict(part='parity', tf32=tf32, same_segment_pct=100 * float(same.mean()),
                depth_max_diff_m=float(diff.max()),
                depth_p999_diff_m=float(np.percentile(diff, 99.9)), worst_stage=worst,
                worst_stage_rel_err=errs[worst], ok=bool(ok))


def train_step(device, name: str, size: str, impl: str, amp: bool, with_cp: bool,
               steps: int) -> dict:
    """One setting of ``bench_train`` in this process (CUDA memory is per setting anyway)."""
    import torch

    from bench_train import run_one
    row = dict(part='train', model=name, size=size, impl=impl, amp=amp, with_cp=with_cp)
    args = argparse.Namespace(config=osp.join(ROOT, CONFIGS[name]), size=size, impl=[impl],
                              amp=amp, with_cp=with_cp, device=device.type, steps=steps,
                              threads=torch.get_num_threads())
    try:
        res = run_one(args)
    except torch.cuda.OutOfMemoryError as e:
        row['error'] = 'out of memory: ' + str(e).split('\n')[0][:120]
        return row
    finally:
        gc.collect()
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    row.update(step_s=res['step_s'], memory_gb=res.get('max_allocated_gb', res['rss_rise_gb']),
               loss=res['loss'])
    return row


def inference(device, size: str, fp16: bool, repeats: int) -> dict:
    """Full predict (image tensor in, panoptic + depth out) of the R-50 DPS model."""
    import torch
    from mmdet.structures import DetDataSample

    from mmpdepth.models.layers.precision import to_float32
    from mmpdepth.registry import MODELS
    h, w = (int(v) for v in size.split('x'))
    torch.manual_seed(0)
    model = MODELS.build(_cfg('r50').model).eval().to(device)
    img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, device=device)
    meta = dict(img_shape=(h, w), ori_shape=(h, w))
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16

    def once():
        ds = DetDataSample(metainfo=meta)
        with torch.no_grad():
            _sync(device)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype, enabled=fp16):  # the network only
                data = model.data_preprocessor(dict(inputs=[img], data_samples=[ds]), False)
                outs = model.panoptic_head(model.extract_feat(data['inputs']))
            outs = to_float32(outs)  # thresholds, fusion, merge and depth in float32
            _sync(device)
            t1 = time.perf_counter()
            head = model.panoptic_head.predict_by_feat(outs)
            model.panoptic_fusion_head.predict(head, [meta])
            _sync(device)
            t2 = time.perf_counter()
        return t2 - t0, t2 - t1

    once()  # warm-up
    runs = [once() for _ in range(repeats)]
    total = statistics.median(r[0] for r in runs)
    post = statistics.median(r[1] for r in runs)
    return dict(part='infer', size=size, precision='fp16' if fp16 else 'fp32',
                latency_s=total, postprocess_s=post, postprocess_pct=100 * post / total)


def tiny_training(device, iters: int, require_fall: bool = True, size=(128, 256)) -> dict:
    """``iters`` steps of the tiny config on 2 synthetic frames; losses fall (mean of the last
    tenth below 0.7x the first tenth), depth finite."""
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper

    from mmpdepth.datasets.synthetic import write_synthetic_dps
    from mmpdepth.registry import DATASETS, MODELS
    cfg = _cfg('tiny')
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_dps(root, num_train_seqs=1, num_val_seqs=0, frames_per_seq=2,
                            height=size[0], width=size[1], seed=2,
                            thing_depth_range=(6.0, 12.0), with_poles=False)
        ds = DATASETS.build(dict(
            type='CityscapesDPSDataset', data_root=root, ann_file='', test_mode=True,
            data_prefix=dict(img_path='video_sequence/train'),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadDPSAnnotations'),
                      dict(type='PackDPSInputs')]))
        batch = pseudo_collate([ds[0], ds[1]])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    model.train()
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper',
                                              optimizer=dict(type='Adam', lr=1e-3)))
    t0 = time.perf_counter()
    losses = [float(model.train_step(copy.deepcopy(batch), wrapper)['loss'])
              for _ in range(iters)]
    _sync(device)
    dt = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        pred = model.test_step(copy.deepcopy(batch))
    depth_finite = all(bool(torch.isfinite(p.pred_depth_map.data).all()) for p in pred)
    k = max(1, iters // 10)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    finite = all(v == v and abs(v) != float('inf') for v in losses)
    ok = finite and depth_finite and (last < 0.7 * first or not require_fall)
    return dict(part='tiny', iters=iters, first_loss=first, last_loss=last,
                depth_finite=depth_finite, s_per_iter=dt / iters, ok=bool(ok))


def print_table(rows) -> None:
    for r in rows:
        p = r['part']
        if 'error' in r:
            desc = {k: v for k, v in r.items() if k not in ('part', 'error')}
            print(f'{p:7s} {desc}  ERROR: {r["error"]}')
        elif p == 'parity':
            print(f'parity  tf32={str(r["tf32"]):5s} same segment {r["same_segment_pct"]:.3f} %  '
                  f'depth diff max {r["depth_max_diff_m"] * 100:.3f} / p99.9 '
                  f'{r["depth_p999_diff_m"] * 100:.3f} cm  worst stage '
                  f'{r["worst_stage"]} {r["worst_stage_rel_err"]:.1e}  '
                  f'{"ok" if r["ok"] else "FAIL"}')
        elif p == 'train':
            print(f'train   {r["model"]:7s} {r["size"]:>9s} {r["impl"]:>11s} '
                  f'{"amp " if r["amp"] else "fp32"} cp={str(r["with_cp"]):5s} '
                  f'{r["step_s"]:7.3f} s  {r["memory_gb"]:6.2f} GB')
        elif p == 'infer':
            print(f'infer   {r["size"]:>9s} {r["precision"]}  {r["latency_s"] * 1000:8.1f} ms  '
                  f'post-processing {r["postprocess_pct"]:.0f} %')
        elif p == 'tiny':
            print(f'tiny    {r["iters"]} iterations: loss {r["first_loss"]:.3f} -> '
                  f'{r["last_loss"]:.3f}, depth finite {r["depth_finite"]}, '
                  f'{r["s_per_iter"] * 1000:.0f} ms/iter  {"ok" if r["ok"] else "FAIL"}')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='gpu_check.json')
    ap.add_argument('--parts', nargs='+', default=['parity', 'train', 'infer', 'tiny'],
                    choices=['parity', 'train', 'infer', 'tiny'])
    ap.add_argument('--size', default='1024x2048')
    ap.add_argument('--tiny-iters', type=int, default=50)
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--smoke', action='store_true',
                    help='tiny sizes and counts (to test this script on the CPU)')
    args = ap.parse_args(argv)
    import torch
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        print('gpu_check: no CUDA device (torch.cuda.is_available() is False, torch '
              f'{torch.__version__}); nothing was measured', file=sys.stderr)
        return 3
    from mmengine.registry import init_default_scope

    import mmpdepth  # noqa: F401
    init_default_scope('mmdet')
    device = torch.device(args.device)
    size = '64x128' if args.smoke else args.size
    repeats, steps = (1, 1) if args.smoke else (5, 3)
    rows = []
    header = f'device: {torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}'
    print(f'{header}, torch {torch.__version__}', flush=True)

    def add(fn, *a):
        try:
            rows.append(fn(device, *a))
        except Exception as e:  # one failing part must not hide the others' numbers
            rows.append(dict(part=fn.__name__, args=[str(v) for v in a],
                             error=f'{type(e).__name__}: {e}'[:300]))
        print_table(rows[-1:])
        sys.stdout.flush()

    if 'parity' in args.parts:
        for tf32 in (False, True):
            add(parity, tf32)
    if 'train' in args.parts:
        models = ('r50', ) if args.smoke else ('r50', 'swin_s')
        impls = ('torchvision', ) if args.smoke else ('torchvision', 'grid_sample')
        for name in models:
            for impl in impls:
                # (smoke on a CPU: no bf16 rows, emulated bf16 convs take minutes)
                for amp in (False, ) if args.smoke and device.type == 'cpu' else (False, True):
                    for cp in (False, True):
                        add(train_step, name, size, impl, amp, cp, steps)
    if 'infer' in args.parts:
        for fp16 in (False, True):
            add(inference, size, fp16, repeats)
    if 'tiny' in args.parts:
        add(tiny_training, 3 if args.smoke else args.tiny_iters, not args.smoke)
    with open(args.out, 'w') as f:
        json.dump(dict(device=header, torch=torch.__version__, rows=rows), f, indent=1)
    bad = [r for r in rows if 'error' in r or r.get('ok') is False]
    print(f'wrote {args.out}: {len(rows)} rows, {len(bad)} failed')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
