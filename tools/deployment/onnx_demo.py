"""Run an exported model (ONNX Runtime, through mmdeploy) on your own images.

    python tools/deployment/onnx_demo.py DEPLOY_CFG MODEL_CFG ONNX INPUTS [--out-dir DIR]
        [--overwrite] [--device cpu] [--max-depth 80] [--debug]

ONNX is the ``end2end.onnx`` that ``tools/deployment/deploy.py`` wrote with DEPLOY_CFG and
MODEL_CFG; INPUTS an image or a folder. It writes what ``tools/demo/image_demo.py`` writes
(``vis/`` panels, ``preds/`` panoptic + depth PNGs that ``eval_dpq.py`` reads, segment JSONs):
the graph runs in ONNX Runtime, thresholds, fusion and merge in the same Python code as
PyTorch. A static export only takes images of its export size (after the test pipeline).
"""
import os.path as osp
import sys

from mmpdepth.utils.cli import InputError, check_out_dir, ToolArgumentParser, run_tool


def parse_args(argv=None):
    p = ToolArgumentParser(description='Exported (ONNX) model on images')
    p.add_argument('deploy_cfg', help='deploy config the model was exported with')
    p.add_argument('model_cfg', help='model config')
    p.add_argument('onnx', help='exported graph (end2end.onnx)')
    p.add_argument('inputs', help='image file or folder')
    p.add_argument('--out-dir', default='outputs/onnx_demo')
    p.add_argument('--overwrite', action='store_true',
                   help='write into an --out-dir that already holds files')
    p.add_argument('--device', default='cpu')
    p.add_argument('--max-depth', type=float, default=80.0, help='depth colour range (m)')
    return p.parse_args(argv)


def build_backend_model(deploy_cfg: str, model_cfg: str, onnx: str, device: str = 'cpu'):
    """mmdeploy's backend model of ``onnx`` with its model config as ``.cfg`` (what
    :class:`DPSInferencer` takes as a built model)."""
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import load_config

    from mmpdepth.deploy import deploy_model_cfg
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    model_cfg = deploy_model_cfg(model_cfg)
    task = build_task_processor(model_cfg, deploy_cfg, device)
    model = task.build_backend_model([onnx])
    model.cfg = model_cfg
    return model


def main(argv=None) -> int:
    args = parse_args(argv)
    for path, what in ((args.deploy_cfg, 'deploy config'), (args.model_cfg, 'model config'),
                       (args.onnx, 'exported graph')):
        if not osp.isfile(path):
            raise InputError(f'{path}: {what} not found')
    if not osp.exists(args.inputs):
        raise InputError(f'{args.inputs}: no such image or folder')
    check_out_dir(args.out_dir, args.overwrite)
    from mmpdepth.apis import DPSInferencer
    model = build_backend_model(args.deploy_cfg, args.model_cfg, args.onnx, args.device)
    inferencer = DPSInferencer(model, device=args.device)
    out = inferencer(args.inputs, out_dir=args.out_dir, max_depth=args.max_depth)
    for e in out['errors']:
        print(f'skipped: {e}', file=sys.stderr)
    n = len(out['predictions'])
    print(f'processed {n} image(s) with ONNX Runtime; results in {args.out_dir}/ (vis/, preds/)')
    return 0 if n > 0 else 2


if __name__ == '__main__':
    run_tool(main)
