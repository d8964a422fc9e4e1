"""Export a PanopticDepth model to ONNX with mmdeploy and check ONNX Runtime against PyTorch.

    python tools/deployment/deploy.py DEPLOY_CFG MODEL_CFG CKPT IMG [IMG ...] --work-dir DIR
        [--device cpu] [--overwrite]

A thin wrapper over ``mmdeploy.apis``: it prepares the model config (test pipeline without
annotation loading), fills the graph's output names from the model, forces the legacy
TorchScript ONNX exporter (mmdeploy's rewriters need it on torch >= 2.9), exports with the first
IMG, then runs PyTorch and the ONNX Runtime model on every IMG and prints their differences:
raw graph outputs (relative), panoptic pixels and depth (metres). Writes ``DIR/end2end.onnx``,
``DIR/parity.json`` and, per image, ``DIR/vis/NAME_{pytorch,onnxruntime}.png``.
"""
import json
import math
import os
import os.path as osp

import mmcv
from mmengine.registry import init_default_scope


def parse_args(argv=None):
    from mmpdepth.utils.cli import ToolArgumentParser
    p = ToolArgumentParser(description='ONNX export through mmdeploy, with a parity check')
    p.add_argument('deploy_cfg', help='deploy config, e.g. configs/deploy/'
                   'panoptic-depth_onnxruntime_static.py')
    p.add_argument('model_cfg', help='model config')
    p.add_argument('checkpoint', help='model checkpoint (loaded with weights_only=True)')
    p.add_argument('img', nargs='+', help='image(s); the first one is used for the export')
    p.add_argument('--work-dir', required=True, help='where end2end.onnx and results go')
    p.add_argument('--device', default='cpu')
    p.add_argument('--overwrite', action='store_true',
                   help='replace existing outputs in DIR (end2end.onnx, parity.json, vis/)')
    return p.parse_args(argv)


def _check_inputs(args) -> None:
    for path, what in [(args.deploy_cfg, 'deploy config'), (args.model_cfg, 'model config'),
                       (args.checkpoint, 'checkpoint')] + [(i, 'image') for i in args.img]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: {what} not found')
    names = [osp.splitext(osp.basename(i))[0] for i in args.img]
    for name, img in zip(names, args.img):
        if names.count(name) > 1:
            raise ValueError(f'{img}: its panels would be named {name}_*.png like those of '
                             f'{args.img[names.index(name)]}; rename one')
    outputs = ['end2end.onnx', 'parity.json'] + [
        osp.join('vis', f'{n}_{b}.png') for n in names for b in ('pytorch', 'onnxruntime')]
    existing = [osp.join(args.work_dir, o) for o in outputs
                if osp.exists(osp.join(args.work_dir, o))]
    if existing and not args.overwrite:
        raise FileExistsError(f'{existing[0]} exists'
                              f'{f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""}'
                              '; pass --overwrite to replace them, or another --work-dir')
    from mmpdepth.engine.checkpoint_safety import load_local_checkpoint
    from mmpdepth.engine.runner import check_weights_finite
    check_weights_finite(load_local_checkpoint(args.checkpoint, map_location='cpu'),
                         args.checkpoint)
    from mmpdepth.formats import check_image_size
    for img in args.img:
        check_image_size(img)


def finite_or_null(obj):
    """NaN / Inf floats -> None, so the JSON is valid (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def check_static_shapes(deploy_cfg, images, shapes) -> None:
    """A static graph accepts one input size: every image must give the exported one."""
    if deploy_cfg.onnx_config.get('dynamic_axes'):
        return
    for img, shape in zip(images[1:], shapes[1:]):
        if tuple(shape) != tuple(shapes[0]):
            raise ValueError(f'{img}: gives a model input of {tuple(shape)[-2:]} px, but the '
                             f'static graph was exported for {tuple(shapes[0])[-2:]} px (from '
                             f'{images[0]}); use images of one size or the dynamic deploy '
                             'config (configs/deploy/panoptic-depth_onnxruntime_dynamic.py)')


def _draw(sample, img_path: str, meta: dict, label_divisor: int, out_path: str) -> None:
    from mmpdepth.visualization.dps_drawing import prediction_panel
    rgb = mmcv.imread(img_path, channel_order='rgb')
    depth = sample.pred_depth_map.data[0].cpu().numpy() if 'pred_depth_map' in sample else None
    vis = prediction_panel(rgb, sample.pred_panoptic_seg.sem_seg[0].cpu().numpy(), depth, meta,
                           label_divisor)
    mmcv.imwrite(vis['panel'][..., ::-1], out_path)


def main(argv=None) -> int:
    args = parse_args(argv)
    _check_inputs(args)
    init_default_scope('mmdet')
    import mmpdepth.deploy as mdeploy
    from mmdeploy.utils import get_input_shape, load_config

    deploy_cfg, model_cfg = load_config(args.deploy_cfg, args.model_cfg)
    task, torch_model, onnx_path = mdeploy.export_onnx(deploy_cfg, model_cfg, args.checkpoint,
                                                       args.img[0], args.work_dir, args.device)
    model_cfg = task.model_cfg
    print(f'exported {onnx_path} ({osp.getsize(onnx_path) / 2**20:.1f} MiB)')

    backend_model = task.build_backend_model([onnx_path])
    input_shape = get_input_shape(deploy_cfg)
    label_divisor = model_cfg.model.get('test_cfg', {}).get('fusion', {}).get(
        'label_divisor', 1000)
    meta = {}
    try:
        from mmpdepth.registry import DATASETS
        meta = dict(getattr(DATASETS.get(model_cfg.test_dataloader.dataset.type), 'METAINFO',
                            {}))
    except Exception:  # noqa: BLE001 - drawing falls back to a generated palette
        pass
    report = []
    prepared = [task.create_input(img, input_shape, torch_model.data_preprocessor)
                for img in args.img]
    check_static_shapes(deploy_cfg, args.img, [inputs.shape for _, inputs in prepared])
    os.makedirs(osp.join(args.work_dir, 'vis'), exist_ok=True)
    import torch
    for img, (data, inputs) in zip(args.img, prepared):
        ref_raw = mdeploy.pytorch_candidates(torch_model, inputs)
        ort_raw = backend_model.wrapper({backend_model.input_name: inputs})
        raw = mdeploy.raw_tensor_errors(ref_raw, ort_raw)
        with torch.no_grad():
            ref = torch_model(inputs, data['data_samples'], mode='predict')[0]
            data2, inputs2 = task.create_input(img, input_shape, backend_model.data_preprocessor)
            ort = backend_model(inputs2, data2['data_samples'], mode='predict')[0]
        agree = mdeploy.prediction_agreement(ref, ort)
        name = osp.splitext(osp.basename(img))[0]
        _draw(ref, img, meta, label_divisor, osp.join(args.work_dir, 'vis',
                                                      f'{name}_pytorch.png'))
        _draw(ort, img, meta, label_divisor, osp.join(args.work_dir, 'vis',
                                                      f'{name}_onnxruntime.png'))
        worst = max(raw, key=raw.get)
        print(f'{name}: max relative raw-output error {raw[worst]:.2e} ({worst}), '
              + ', '.join(f'{k} {v:.3g}' for k, v in agree.items()))
        segs = ref.pred_segments
        report.append(dict(image=img, raw_relative_error=raw, **agree, segments=len(segs),
                           things=int(segs.is_thing.sum())))
    with open(osp.join(args.work_dir, 'parity.json'), 'w') as f:
        json.dump(finite_or_null(report), f, indent=1, allow_nan=False)
    return 0


if __name__ == '__main__':
    from mmpdepth.utils.cli import run_tool
    run_tool(main)
