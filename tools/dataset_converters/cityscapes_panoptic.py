"""Check a Cityscapes panoptic tree (cityscapesscripts ``createPanopticImgs`` output).

    python tools/dataset_converters/cityscapes_panoptic.py --root data/cityscapes --split val

The JSON written by cityscapesscripts is already the index CityscapesPanopticDataset loads; this
tool verifies that every image and panoptic PNG it names exists and counts them.
"""
import json
import os.path as osp
import sys


def main(argv=None) -> int:
    from mmpdepth.datasets.cityscapes_panoptic import cityscapes_image_path
    from mmpdepth.utils.cli import ToolArgumentParser
    p = ToolArgumentParser(description='Check a Cityscapes panoptic split')
    p.add_argument('--root', default='data/cityscapes')
    p.add_argument('--split', default='val', choices=['train', 'val'])
    args = p.parse_args(argv)
    ann = osp.join(args.root, 'gtFine', f'cityscapes_panoptic_{args.split}.json')
    if not osp.isfile(ann):
        print(f'error: {ann}: not found; run cityscapesscripts createPanopticImgs (see '
              'docs/en/dataset_prepare.md)',
              file=sys.stderr)
        return 2
    try:
        with open(ann) as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        print(f'error: {ann}: not valid JSON ({e}; truncated? run createPanopticImgs again)',
              file=sys.stderr)
        return 2
    if not isinstance(data, dict) or not isinstance(data.get('images'), list) or \
            not isinstance(data.get('annotations'), list):
        print(f'error: {ann}: not a COCO panoptic JSON (needs "images" and "annotations" '
              'lists)', file=sys.stderr)
        return 2
    missing = []
    for img in data['images']:
        path = cityscapes_image_path(osp.join(args.root, 'leftImg8bit', args.split), img)
        if not osp.isfile(path):
            missing.append(path)
    for a in data['annotations']:
        path = osp.join(args.root, 'gtFine', f'cityscapes_panoptic_{args.split}', a['file_name'])
        if not osp.isfile(path):
            missing.append(path)
    if missing:
        print(f'error: {len(missing)} missing files, e.g. {missing[:3]}', file=sys.stderr)
        return 2
    print(f'{ann}: {len(data["images"])} images, {len(data["annotations"])} annotations, '
          'all files present')
    return 0


if __name__ == '__main__':
    from mmpdepth.utils.cli import run_tool
    run_tool(main)
