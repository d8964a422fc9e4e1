"""Write the embedded synthetic DPS set (Cityscapes-DVPS layout).

    python tools/misc/make_synthetic_dps.py --out data/synthetic_dps
"""
import time

from mmpdepth.datasets.synthetic import write_synthetic_dps
from mmpdepth.utils.cli import ToolArgumentParser, run_tool


def main(argv=None):
    p = ToolArgumentParser(description=__doc__)
    p.add_argument('--out', default='data/synthetic_dps')
    p.add_argument('--train-seqs', type=int, default=12)
    p.add_argument('--val-seqs', type=int, default=4)
    p.add_argument('--frames', type=int, default=6)
    p.add_argument('--height', type=int, default=256)
    p.add_argument('--width', type=int, default=512)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    t0 = time.time()
    out = write_synthetic_dps(args.out, args.train_seqs, args.val_seqs, args.frames, args.height,
                              args.width, args.seed)
    n = sum(len(v) for v in out.values())
    print(f'wrote {n} frames ({", ".join(f"{k}: {len(v)}" for k, v in out.items())}) to '
          f'{args.out} in {time.time() - t0:.1f} s')


if __name__ == '__main__':
    run_tool(main)
