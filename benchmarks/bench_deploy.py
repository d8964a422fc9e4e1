"""ONNX Runtime vs PyTorch CPU latency of a deployed PanopticDepth model, and the DCN choice.

    python benchmarks/bench_deploy.py [CONFIG] [--sizes 512x1024 1024x2048] [--threads 2]
        [--repeats 3] [--checkpoint CKPT] [--skip-dcn] [--deploy-cfg DEPLOY_CFG ...]

Part 1 (DCN options): one modulated deformable 3x3 layer (256 channels) through ONNX Runtime
as (a) the default export form (MatMul + 36 Gather rows), (b) grid_sample + MatMul, (c)
mmdeploy's ``MMCVModulatedDeformConv2d`` from the custom-op library in the mmdeploy wheel, (d)
the standard ONNX ``DeformConv`` (opset 19; ONNX Runtime >= 1.25), against
``torchvision.ops.deform_conv2d``.

Part 2: per input size and deploy config (--deploy-cfg; default: the static config and its
DeformConv variant), a static export (random image) of CONFIG (default: the official R-50 DPS
architecture, seeded random weights unless --checkpoint), then the median of --repeats full
predictions (preprocessed tensor in, panoptic + depth out, post-processing included) after a
warm-up, for PyTorch (BatchNorms folded into the convolutions, as ``DPSInferencer`` and the
demos run it; ONNX Runtime folds them in its graph optimisation) and for the ONNX Runtime
backend model, plus the graph part alone (network + candidates). The four are timed in
rounds of one call each (PyTorch and ONNX Runtime alternating), so a shared machine's drift
hits them alike.
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

import mmcv
import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CFG = osp.join(ROOT,
                       'configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-dps.py')
STATIC = osp.join(ROOT, 'configs/deploy/panoptic-depth_onnxruntime_static.py')
DEFORM_CONV = osp.join(ROOT,
                       'configs/deploy/panoptic-depth_onnxruntime-deformconv_static.py')


def _median_time(fn, repeats: int) -> float:
    return _interleaved_medians([fn], repeats)[0]


def _interleaved_medians(fns, repeats: int) -> list:
    """Median time of each of ``fns`` over ``repeats`` rounds, one call of each per round
    (after one warm-up call each), so a shared machine's drift hits all of them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def dcn_options(threads: int, size=(128, 256), channels: int = 256) -> None:
    import io

    import onnxruntime as ort
    from mmdeploy.backend.onnxruntime.init_plugins import get_ops_path
    from onnx import TensorProto, helper, numpy_helper
    from torchvision.ops import deform_conv2d

    from mmpdepth.models.layers.deform_conv import export_dcn_form, modulated_deform_conv3x3

    h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, h, w, generator=g)
    off = torch.randn(1, 18, h, w, generator=g)
    m = torch.rand(1, 9, h, w, generator=g)
    wt = torch.randn(channels, channels, 3, 3, generator=g) * 0.05
    b = torch.randn(channels, generator=g)
    ref = deform_conv2d(x, off, wt, b, padding=1, mask=m).numpy()
    feeds = dict(x=x.numpy(), off=off.numpy(), m=m.numpy())

    def session(model_bytes, custom_ops=False):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        if custom_ops:
            so.register_custom_ops_library(get_ops_path())
        return ort.InferenceSession(model_bytes, so, providers=['CPUExecutionProvider'])

    def single_node(op, inputs, domain_opsets, **attrs):
        ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
               for n in ('x', 'off', 'm')]
        out = [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)]
        inits = [numpy_helper.from_array(wt.numpy(), 'w'), numpy_helper.from_array(b.numpy(), 'b')]
        node = helper.make_node(op, inputs, ['y'], **attrs)
        graph = helper.make_graph([node], 'dcn', ins, out, inits)
        opsets = [helper.make_opsetid(d, v) for d, v in domain_opsets]
        return helper.make_model(graph, opset_imports=opsets).SerializeToString()

    class GridSampleDCN(torch.nn.Module):

        def forward(self, x, off, m):
            return modulated_deform_conv3x3(x, off, m, wt, b)

    bufs = {}
    for form in ('gather', 'grid_sample'):
        bufs[form] = io.BytesIO()
        with export_dcn_form(form):
            torch.onnx.export(GridSampleDCN(), (x, off, m), bufs[form],
                              input_names=['x', 'off', 'm'], output_names=['y'],
                              opset_version=17, dynamo=False)
    options = [
        ('MatMul + 36 Gather (standard ops)', lambda: session(bufs['gather'].getvalue())),
        ('grid_sample + MatMul (standard ops)', lambda: session(bufs['grid_sample'].getvalue())),
        ('mmdeploy MMCVModulatedDeformConv2d', lambda: session(single_node(
            'MMCVModulatedDeformConv2d', ['x', 'off', 'm', 'w', 'b'],
            [('', 17), ('mmdeploy', 1)], domain='mmdeploy', stride=[1, 1], padding=[1, 1],
            dilation=[1, 1], groups=1, deform_groups=1), custom_ops=True)),
        ('ONNX DeformConv (opset 19)', lambda: session(single_node(
            'DeformConv', ['x', 'w', 'off', 'b', 'm'], [('', 19)], pads=[1, 1, 1, 1],
            kernel_shape=[3, 3], strides=[1, 1], dilations=[1, 1], group=1,
            offset_group=1))),
    ]
    print(f'\nDCNv2 3x3, {channels} channels, {h}x{w}, ONNX Runtime {ort.__version__}, '
          f'{threads} threads')
    print(f'  {"option":38s} {"runs":>5s} {"max |err|":>10s} {"latency (s)":>12s}')
    for name, make in options:
        try:
            sess = make()
            y = sess.run(None, feeds)[0]
            lat = _median_time(lambda: sess.run(None, feeds), 3)
            print(f'  {name:38s} {"yes":>5s} {np.abs(y - ref).max():10.1e} {lat:12.3f}')
        except Exception as e:  # noqa: BLE001 - the point is to report which option works
            print(f'  {name:38s} {"no":>5s}   {str(e).splitlines()[0][:70]}')
    with torch.no_grad():
        lat = _median_time(lambda: modulated_deform_conv3x3(x, off, m, wt, b), 3)
    print(f'  {"(PyTorch eager, mmpdepth default)":38s} {"yes":>5s} {"":>10s} {lat:12.3f}')


def model_latency(config: str, sizes, threads: int, repeats: int, checkpoint=None,
                  deploy_cfgs=(STATIC, )) -> None:
    """Per input size and deploy config: export, then PyTorch and ONNX Runtime in rounds."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmpdepth.deploy as mdeploy
    from mmpdepth.models.conv_bn_fusion import fuse_conv_bn_for_inference
    from mmpdepth.registry import MODELS
    init_default_scope('mmdet')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            torch.manual_seed(0)
            model = MODELS.build(Config.fromfile(config).model)  # PyTorch default init
            checkpoint = osp.join(tmp, 'random.pth')
            torch.save(dict(state_dict=model.state_dict()), checkpoint)
        for size in sizes:
            h, w = (int(v) for v in size.split('x'))
            img = osp.join(tmp, f'{size}.png')
            rng = np.random.default_rng(0)
            mmcv.imwrite(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), img)
            for n, deploy_cfg in enumerate(deploy_cfgs):
                t = time.perf_counter()
                task, torch_model, onnx_path = mdeploy.export_onnx(
                    deploy_cfg, config, checkpoint, img, osp.join(tmp, f'{size}_{n}'))
                export_s = time.perf_counter() - t
                # PyTorch as DPSInferencer runs it: BatchNorms folded (ONNX Runtime folds its own)
                fuse_conv_bn_for_inference(torch_model)
                backend = task.build_backend_model([onnx_path])
                data, inputs = task.create_input(img, None, torch_model.data_preprocessor)
                samples = data['data_samples']
                with torch.no_grad():  # one call of each per round (alternating backends)
                    times = _interleaved_medians([
                        lambda: torch_model(inputs, samples, mode='predict'),
                        lambda: backend(inputs, samples, mode='predict'),
                        lambda: mdeploy.pytorch_candidates(torch_model, inputs),
                        lambda: backend.wrapper({backend.input_name: inputs})], repeats)
                rows.append((size, osp.basename(deploy_cfg), export_s, *times))
                del backend
                print(f'{size}, {osp.basename(deploy_cfg)}: done', flush=True)
    import onnxruntime as ort
    print(f'\n{osp.relpath(config, ROOT)}, ONNX Runtime {ort.__version__}, {threads} threads, '
          f'median of {repeats} rounds (s)')
    print(f'  {"input":>10s} {"deploy config":46s} {"export":>7s} {"PyTorch graph":>14s} '
          f'{"PyTorch full":>13s} {"ORT graph":>10s} {"ORT full":>9s} {"ORT/PyTorch":>11s}')
    for size, cfg, ex, pf, of, pg, og in rows:
        print(f'  {size:>10s} {cfg:46s} {ex:7.1f} {pg:14.2f} {pf:13.2f} {og:10.2f} {of:9.2f} '
              f'{of / pf:11.2f}')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('config', nargs='?', default=DEFAULT_CFG)
    ap.add_argument('--sizes', nargs='+', default=['512x1024', '1024x2048'])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--checkpoint', default=None)
    ap.add_argument('--skip-dcn', action='store_true')
    ap.add_argument('--deploy-cfg', nargs='+', default=[STATIC, DEFORM_CONV],
                    help='mmdeploy config(s) of the export, each timed against PyTorch '
                    '(default: the static one and its DeformConv variant)')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import mmpdepth.deploy  # noqa: F401
    if not args.skip_dcn:
        dcn_options(args.threads)
    model_latency(args.config, args.sizes, args.threads, args.repeats, args.checkpoint,
                  args.deploy_cfg)
    return 0


if __name__ == '__main__':
    from mmpdepth.utils.cli import use_cpu_huge_pages
    use_cpu_huge_pages()  # as the tools do; THP_MEM_ALLOC_ENABLE=0 turns it off
    sys.exit(main())
