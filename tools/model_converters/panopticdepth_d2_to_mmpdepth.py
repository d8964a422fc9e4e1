"""Convert an official PanopticDepth (Detectron2) checkpoint to mmpdepth.

    python tools/model_converters/panopticdepth_d2_to_mmpdepth.py SRC.pth DST.pth [--force]
        [--config CFG] [--allow-incomplete]

The converted tensors are checked against the model of the official config (DPS or PS-only,
picked by the presence of depth branches, or ``--config``): every tensor of the model must be
there with its shape, nothing else (``--allow-incomplete`` writes what was converted anyway).

The source is read with ``torch.load(weights_only=True)`` (Detectron2 checkpoints are a dict
with a ``model`` state dict, sometimes plus ``optimizer``/``scheduler``/``iteration``, which are
dropped). Pickled ``.pkl`` files from Detectron2's model zoo are not supported. The output is
``dict(state_dict=..., meta=...)`` and loads with ``torch.load(weights_only=True)``.
"""
import os
import os.path as osp
import pickle
import sys

import torch

from mmpdepth.engine.checkpoint_safety import load_local_checkpoint
from mmpdepth.models.converters import convert_state_dict
from mmpdepth.utils.cli import ToolArgumentParser

#: first key parts of an mmpdepth (mmdet-style) model's state dict
MMPDEPTH_PREFIXES = ('backbone.', 'neck.', 'panoptic_head.', 'panoptic_fusion_head.',
                     'data_preprocessor.')


ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def check_against_model(state: dict, src: str, config: str):
    """None if ``state`` holds exactly the tensors of ``config``'s model, else the problem."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmpdepth.engine.runner import weight_mismatches
    from mmpdepth.registry import MODELS
    init_default_scope('mmdet')
    problems = weight_mismatches(MODELS.build(Config.fromfile(config).model), state)
    return f'{src} (converted): does not fit this model: {"; ".join(problems)}' \
        if problems else None


def main(argv=None) -> int:
    p = ToolArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='official checkpoint (.pth)')
    p.add_argument('dst', help='output path')
    p.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    p.add_argument('--config', default=None,
                   help='config whose model the result must fit (default: the official DPS / '
                   'PS config)')
    p.add_argument('--allow-incomplete', action='store_true',
                   help='write the result even if tensors are missing / extra / mis-shaped')
    args = p.parse_args(argv)
    if osp.exists(args.dst) and not args.force:
        print(f'error: {args.dst} exists; pass --force to overwrite it', file=sys.stderr)
        return 2
    try:
        ckpt = load_local_checkpoint(args.src, map_location='cpu')  # weights-only
    except (OSError, ValueError, pickle.UnpicklingError) as e:
        msg = ' '.join(str(e).split())
        print(f'error: {msg if args.src in msg else f"{args.src}: {msg}"}', file=sys.stderr)
        return 2
    state = ckpt.get('model', ckpt.get('state_dict', ckpt)) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        print(f'error: {args.src}: no state dict found (expected a "model" entry)',
              file=sys.stderr)
        return 2
    if isinstance(ckpt, dict) and 'model' not in ckpt and \
            sum(k.startswith(MMPDEPTH_PREFIXES) for k in state) > len(state) // 2:
        print(f'error: {args.src}: this is already an mmpdepth checkpoint (keys like '
              f'{next(iter(state))}); use it as it is (tools/test.py CONFIG {args.src})',
              file=sys.stderr)
        return 2
    try:
        converted = convert_state_dict(state)
    except KeyError as e:
        print(f'error: {args.src}: {e}', file=sys.stderr)
        return 2
    depth = any(k.startswith('panoptic_head.depth_') for k in converted)
    if not args.allow_incomplete:
        problem = check_against_model(converted, args.src, args.config or osp.join(
            ROOT, 'configs', 'panopticdepth',
            f'panopticdepth_r50-d2_official_cityscapes-{"dps" if depth else "panoptic"}.py'))
        if problem:
            print(f'error: {problem} (--allow-incomplete writes it anyway)', file=sys.stderr)
            return 2
    meta = dict(source=osp.basename(args.src), converter='panopticdepth_d2_to_mmpdepth',
                depth_on=depth, num_tensors=len(converted))
    tmp = f'{args.dst}.tmp{os.getpid()}'
    torch.save(dict(state_dict=converted, meta=meta), tmp)
    os.replace(tmp, args.dst)  # a kill while saving never leaves a broken DST
    print(f'converted {len(state)} tensors ({"DPS" if depth else "PS-only"} model) -> {args.dst}')
    return 0


if __name__ == '__main__':
    from mmpdepth.utils.cli import run_tool
    run_tool(main)
