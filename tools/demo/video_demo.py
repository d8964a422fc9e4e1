"""Depth-aware video panoptic segmentation: things keep their id (and colour) over the frames.

    python tools/demo/video_demo.py VIDEO_OR_FOLDER CONFIG --weights CKPT [--out-dir DIR]
        [--device cpu] [--fps 10] [--no-track] [--max-depth 80] [--overwrite]

VIDEO_OR_FOLDER is a video file (any format OpenCV reads) or a folder of frames (sorted by
name); either is one sequence. The model's tracker (``test_cfg.tracker`` of the config, a
default :class:`KernelTracker` if the config has none) gives every thing a track id, so the
same object keeps its colour. Writes under ``--out-dir``:

- ``{name}.mp4``: image | panoptic (one colour per track) | depth, one row per frame;
- ``preds/panoptic/`` and ``preds/depth/``: per-frame PNGs in the formats
  ``tools/analysis_tools/eval_dpq.py`` reads (ids class * 1000 + track id), and
  ``preds/segments/`` (JSON per frame).
"""
import os.path as osp

from mmpdepth.utils.cli import InputError, check_out_dir, ToolArgumentParser, run_tool


def parse_args(argv=None):
    p = ToolArgumentParser(description='DPS inference on a video with tracked things')
    p.add_argument('input', help='video file or folder of frames')
    p.add_argument('config', help='config file')
    p.add_argument('--weights', default=None, help='checkpoint')
    p.add_argument('--out-dir', default='outputs/video')
    p.add_argument('--overwrite', action='store_true',
                   help='write into an --out-dir that already holds files')
    p.add_argument('--device', default='cpu')
    p.add_argument('--fps', type=float, default=None,
                   help='frame rate of the mp4 (default: the video\'s, 10 for a folder)')
    p.add_argument('--no-track', action='store_true',
                   help='per-frame ids (no tracker), to compare')
    p.add_argument('--max-depth', type=float, default=80.0, help='depth colour range (m)')
    return p.parse_args(argv)


def video_config(config: str, track: bool):
    """The config with a tracker in ``model.test_cfg`` (the config's own, else the default
    one), or without any (``track=False``)."""
    from mmengine.config import Config
    if not osp.isfile(config):
        raise InputError(f'{config}: config file not found')
    cfg = Config.fromfile(config)
    test_cfg = dict(cfg.model.get('test_cfg') or {})
    if track:
        test_cfg.setdefault('tracker', dict(type='KernelTracker'))
    else:
        test_cfg.pop('tracker', None)
    cfg.model.test_cfg = test_cfg
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.exists(args.input):
        raise InputError(f'{args.input}: no such video or folder')
    if args.weights is not None and not osp.isfile(args.weights):
        raise InputError(f'--weights {args.weights}: checkpoint not found')
    check_out_dir(args.out_dir, args.overwrite)
    if args.fps is not None and not args.fps > 0:
        raise InputError(f'--fps {args.fps}: must be positive')
    from mmpdepth.apis import DPSInferencer
    from mmpdepth.apis.video_frames import VideoFrames, is_video_path
    from mmpdepth.apis.video_output import predict_sequence
    cfg = video_config(args.config, track=not args.no_track)
    inferencer = DPSInferencer(cfg, args.weights, device=args.device, show_progress=False)
    name = osp.splitext(osp.basename(osp.normpath(args.input)))[0]
    fps = args.fps
    if fps is None:
        fps = VideoFrames(args.input, inferencer.read_input).fps \
            if is_video_path(args.input) else 10.0
    n = predict_sequence(inferencer, args.input, args.out_dir, name, fps,
                         args.max_depth)['frames']
    print(f'{n} frames; wrote {osp.join(args.out_dir, name + ".mp4")} and per-frame '
          f'predictions in {osp.join(args.out_dir, "preds")}/ (panoptic/, depth/, segments/)')
    return 0


if __name__ == '__main__':
    run_tool(main)
