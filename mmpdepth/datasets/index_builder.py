"""Check a downloaded DPS tree and write the JSON index the datasets load fastest from."""
import json
import os
import os.path as osp
from typing import Dict

from PIL import Image

from mmpdepth.registry import DATASETS


def build_index(dataset_type: str, root: str, split: str, img_prefix: str,
                progress: bool = True) -> Dict:
    """Scan ``root/img_prefix`` with the dataset's own scanner (which raises, naming the file,
    on a missing pair), read every GT once for sizes and ``has_things``, and return the index.
    """
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    ds = DATASETS.build(dict(type=dataset_type, data_root=root, ann_file='',
                             data_prefix=dict(img_path=img_prefix), test_mode=True,
                             lazy_init=True, pipeline=[]))
    folder = osp.join(root, img_prefix)
    items = ds.scan_folder(folder)
    from .transforms.loading import read_panoptic_annotation
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(items))
    things = 0
    for it in items:
        info = ds.parse_data_info(dict(it, _base=folder))
        with Image.open(info['img_path']) as im:
            w, h = im.size
        sem, inst = read_panoptic_annotation(info, ds.metainfo)
        if sem.shape != (h, w):
            raise ValueError(f'{info.get("pan_path") or info.get("sem_path")}: size {sem.shape} '
                             f'differs from {info["img_path"]} {(h, w)}')
        it.update(height=h, width=w, has_things=bool((inst > 0).any()))
        things += int(it['has_things'])
        if bar:
            bar.update()
    if bar:
        print()
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.metainfo.items()}
    return dict(metainfo=dict(meta, split=split, num_frames=len(items),
                              frames_with_things=things), data_list=items)


def write_index(index: Dict, out: str) -> None:
    """Write the index atomically (temporary file, then rename)."""
    tmp = f'{out}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(index, f)
    os.replace(tmp, out)


def summarize(index: Dict) -> str:
    m = index['metainfo']
    seqs = sorted({d.get('seq_id') for d in index['data_list']})
    return (f'{m["num_frames"]} frames in {len(seqs)} sequences, {m["frames_with_things"]} with '
            'thing instances')


def index_cli(dataset_type: str, title: str, default_root: str, argv=None) -> int:
    """Command line of ``tools/dataset_converters/{cityscapes,semkitti}_dvps.py``."""
    import sys

    from mmpdepth.utils.cli import ToolArgumentParser
    p = ToolArgumentParser(description=f'Check and index a {title} split')
    p.add_argument('--root', default=default_root)
    p.add_argument('--split', default='val', choices=['train', 'val', 'test'])
    p.add_argument('--out', default=None, help='index path (default ROOT/{split}_index.json)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing index file')
    args = p.parse_args(argv)
    out = args.out or osp.join(args.root, f'{args.split}_index.json')
    if osp.isdir(out):
        print(f'error: {out}: exists and is a folder', file=sys.stderr)
        return 2
    if osp.exists(out) and not args.overwrite:
        print(f'error: {out}: exists (pass --overwrite to replace it)', file=sys.stderr)
        return 2
    try:
        index = build_index(dataset_type, args.root, args.split,
                            osp.join('video_sequence', args.split))
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    write_index(index, out)
    print(f'{args.root} [{args.split}]: {summarize(index)}; index written to {out}')
    return 0
