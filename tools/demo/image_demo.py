"""Depth-aware panoptic segmentation of your own images: panoptic + depth + a 3D point cloud.

    python tools/demo/image_demo.py INPUTS CONFIG --weights CKPT [--out-dir outputs]
        [--device cpu] [--precision auto] [--show] [--no-save-vis] [--no-save-pred] [--save-pcd]
        [--fx FX --fy FY --cx CX --cy CY | --camera-json FILE] [--max-depth 80]

INPUTS is an image file or a folder. Per image it writes ``vis/`` (titled image | panoptic |
depth panel with a class legend, and the separate layers), ``preds/`` (panoptic + depth PNGs
in the formats ``tools/analysis_tools/eval_dpq.py`` reads, and a JSON of segments) and, with
``--save-pcd``, ``pcd/`` (binary PLY: x, y, z metres, RGB, class, instance; a rendered view;
the intrinsics used in ``{name}_camera.json``). Sky and no-depth pixels are left out of the
point cloud (``--keep-sky`` keeps the sky). Without intrinsics the point cloud uses a 60 degree
horizontal field of view, and ``{name}_camera.json`` says so.
"""
import os.path as osp
import sys

from mmpdepth.apis import DPSInferencer
from mmpdepth.apis.dps_inferencer import IMG_EXTENSIONS
from mmpdepth.datasets.base_dps_dataset import check_intrinsics, read_camera_json
from mmpdepth.models.layers.precision import PRECISIONS
from mmpdepth.utils.cli import (InputError, ToolArgumentParser, check_out_dir, positive_int,
                                run_tool)


def parse_args(argv=None):
    p = ToolArgumentParser(description='DPS inference on images')
    p.add_argument('inputs', help='image file or folder')
    p.add_argument('config', help='config file')
    p.add_argument('--weights', default=None, help='checkpoint (required, unless '
                   '--random-weights)')
    p.add_argument('--random-weights', action='store_true',
                   help='run the randomly initialised model of CONFIG without a checkpoint '
                   '(meaningless predictions; for testing the pipeline only)')
    p.add_argument('--out-dir', default='outputs')
    p.add_argument('--overwrite', action='store_true',
                   help='write into an --out-dir that already holds files')
    p.add_argument('--device', default='cpu')
    p.add_argument('--precision', choices=PRECISIONS, default=None,
                   help='inference precision: fp32 (default), bf16 (CPUs with native '
                   'bfloat16), fp16 (CUDA), auto (the fastest this machine has)')
    p.add_argument('--batch-size', type=positive_int, default=1,
                   help='images per forward pass (>= 1)')
    p.add_argument('--show', action='store_true')
    p.add_argument('--no-save-vis', action='store_true')
    p.add_argument('--no-save-pred', action='store_true')
    p.add_argument('--save-pcd', action='store_true')
    p.add_argument('--keep-sky', action='store_true',
                   help="keep the dataset's sky class in the point cloud (left out by default: "
                   'its predicted depth would stand in the cloud as a wall)')
    p.add_argument('--max-depth', type=float, default=80.0, help='depth colour range (m)')
    p.add_argument('--draw-labels', action='store_true')
    for k in ('fx', 'fy', 'cx', 'cy'):
        p.add_argument(f'--{k}', type=float, default=None)
    p.add_argument('--camera-json', default=None,
                   help='Cityscapes camera JSON (intrinsic fx, fy, u0, v0) or {fx, fy, cx, cy}')
    return p.parse_args(argv)


def intrinsics_from_args(args):
    vals = [getattr(args, k) for k in ('fx', 'fy', 'cx', 'cy')]
    if any(v is not None for v in vals):
        if not all(v is not None for v in vals):
            raise InputError('--fx --fy --cx --cy: give all four, or none')
        intr = dict(zip(('fx', 'fy', 'cx', 'cy'), vals))
        check_intrinsics(intr, '--fx/--fy/--cx/--cy')
        return intr
    if args.camera_json:
        return read_camera_json(args.camera_json)  # checks the values too
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    intrinsics = intrinsics_from_args(args)
    if not osp.exists(args.inputs):
        raise InputError(f'{args.inputs}: no such image or folder')
    check_out_dir(args.out_dir, args.overwrite)
    if osp.isfile(args.inputs) and osp.splitext(args.inputs)[1].lower() in IMG_EXTENSIONS:
        DPSInferencer.read_input(args.inputs, 0)  # an unreadable image: say so before loading
    if args.weights is None and not args.random_weights:
        raise InputError('--weights: no checkpoint given; predictions of the randomly '
                         'initialised model are meaningless (pass --weights CKPT, or '
                         '--random-weights to run it anyway)')
    inferencer = DPSInferencer(args.config, args.weights, device=args.device,
                               precision=args.precision)
    out = inferencer(args.inputs, batch_size=args.batch_size, out_dir=args.out_dir,
                     show=args.show, no_save_vis=args.no_save_vis,
                     no_save_pred=args.no_save_pred, save_pcd=args.save_pcd,
                     intrinsics=intrinsics, keep_sky=args.keep_sky, max_depth=args.max_depth,
                     draw_labels=args.draw_labels)
    for e in out['errors']:
        print(f'skipped: {e}', file=sys.stderr)
    n = len(out['predictions'])
    print(f'processed {n} image(s); results in {args.out_dir}/ (vis/, preds/'
          f'{", pcd/" if args.save_pcd else ""})')
    return 0 if n > 0 else 2


if __name__ == '__main__':
    run_tool(main)
