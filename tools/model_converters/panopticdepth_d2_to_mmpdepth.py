"""Convert an official PanopticDepth (Detectron2) checkpoint to mmpdepth.

    python tools/model_converters/panopticdepth_d2_to_mmpdepth.py SRC.pth DST.pth

The source is read with ``torch.load(weights_only=True)`` (Detectron2 checkpoints are a dict
with a ``model`` state dict, sometimes plus ``optimizer``/``scheduler``/``iteration``, which are
dropped). Pickled ``.pkl`` files from Detectron2's model zoo are not supported. The output is
``dict(state_dict=..., meta=...)`` and loads with ``torch.load(weights_only=True)``.
"""
import argparse
import os.path as osp
import sys

import torch

from mmpdepth.models.converters import convert_state_dict


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='official checkpoint (.pth)')
    p.add_argument('dst', help='output path')
    p.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    args = p.parse_args(argv)
    if osp.exists(args.dst) and not args.force:
        print(f'error: {args.dst} exists; pass --force to overwrite it', file=sys.stderr)
        return 2
    try:
        ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        print(f'error: {args.src}: file not found', file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001
        print(f'error: {args.src}: cannot be loaded safely (weights_only=True): {e}',
              file=sys.stderr)
        return 2
    state = ckpt.get('model', ckpt.get('state_dict', ckpt)) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        print(f'error: {args.src}: no state dict found (expected a "model" entry)',
              file=sys.stderr)
        return 2
    try:
        converted = convert_state_dict(state)
    except KeyError as e:
        print(f'error: {args.src}: {e}', file=sys.stderr)
        return 2
    depth = any(k.startswith('panoptic_head.depth_') for k in converted)
    meta = dict(source=osp.basename(args.src), converter='panopticdepth_d2_to_mmpdepth',
                depth_on=depth, num_tensors=len(converted))
    torch.save(dict(state_dict=converted, meta=meta), args.dst)
    print(f'converted {len(state)} tensors ({"DPS" if depth else "PS-only"} model) -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
