"""Check a Cityscapes-DVPS tree and write the JSON index its dataset loads fastest from.

    python tools/dataset_converters/cityscapes_dvps.py --root data/cityscapes-dvps --split val \
        [--out data/cityscapes-dvps/val_index.json]

Expected tree (README, "Datasets"): ROOT/video_sequence/{train,val}/. Missing pairs are
reported with the file name; the index is then used as ``ann_file`` in the dataset config.
"""
import argparse
import os.path as osp
import sys

from mmpdepth.datasets.index_builder import build_index, summarize, write_index


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='Check and index a Cityscapes-DVPS split')
    p.add_argument('--root', default='data/cityscapes-dvps')
    p.add_argument('--split', default='val', choices=['train', 'val', 'test'])
    p.add_argument('--out', default=None, help='index path (default ROOT/{split}_index.json)')
    args = p.parse_args(argv)
    out = args.out or osp.join(args.root, f'{args.split}_index.json')
    try:
        index = build_index('CityscapesDPSDataset', args.root, args.split,
                            osp.join('video_sequence', args.split))
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    write_index(index, out)
    print(f'{args.root} [{args.split}]: {summarize(index)}; index written to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
