"""Turn a checkpoint that needs full unpickling into one that loads with weights_only=True.

    python tools/misc/convert_trusted_checkpoint.py SRC DST --i-trust-this-file

Unpickling runs code stored in the file: only do this for files you trust (e.g. your own
checkpoints from other mmengine projects). The output keeps ``state_dict`` and the metadata,
converted to plain Python data; optimizer and scheduler states are kept when plain.
"""
import os.path as osp
import sys

import torch

from mmpdepth.engine.hooks.plain_checkpoint_hook import to_plain
from mmpdepth.utils.cli import ToolArgumentParser, run_tool


def main(argv=None) -> int:
    p = ToolArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--i-trust-this-file', action='store_true',
                   help='required: confirms that SRC may run code when unpickled')
    p.add_argument('--force', action='store_true', help='overwrite DST')
    args = p.parse_args(argv)
    if not args.i_trust_this_file:
        print('error: unpickling runs code from the file; pass --i-trust-this-file if you trust '
              f'{args.src}', file=sys.stderr)
        return 2
    if osp.exists(args.dst) and not args.force:
        print(f'error: {args.dst} exists; pass --force to overwrite it', file=sys.stderr)
        return 2
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    if not isinstance(ckpt, dict):
        print(f'error: {args.src}: not a checkpoint dict', file=sys.stderr)
        return 2
    out = {}
    for key, value in ckpt.items():
        if key == 'message_hub':
            continue  # training logs; not needed to use the weights
        out[key] = to_plain(value)
    torch.save(out, args.dst)
    torch.load(args.dst, map_location='cpu', weights_only=True)  # verify
    print(f'wrote {args.dst} (loads with weights_only=True)')
    return 0


if __name__ == '__main__':
    run_tool(main)
