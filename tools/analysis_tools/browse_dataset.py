"""Draw samples after the data pipeline: image | panoptic overlay | metric depth.

    python tools/analysis_tools/browse_dataset.py CONFIG [--split train] [--output-dir DIR]
        [--max-samples 20] [--max-depth 80] [--cfg-options k=v ...]

Pixels without depth are grey; the depth colours use a fixed metric range (0 .. --max-depth m).
"""
import os
import os.path as osp

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

import mmpdepth  # noqa: F401
from mmpdepth.registry import DATASETS, VISUALIZERS
from mmpdepth.utils.cli import CfgOptionsAction, ToolArgumentParser, run_tool


def parse_args():
    p = ToolArgumentParser(description='Browse a DPS dataset after its pipeline')
    p.add_argument('config', help='config file path')
    p.add_argument('--split', default='train', choices=['train', 'val', 'test'])
    p.add_argument('--output-dir', default='outputs/browse_dataset')
    p.add_argument('--max-samples', type=int, default=20)
    p.add_argument('--max-depth', type=float, default=80.0)
    p.add_argument('--show', action='store_true', help='also show each picture')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return p.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    vis_cfg = dict(cfg.visualizer, name='browse_dataset', max_depth=args.max_depth,
                   vis_backends=None)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo
    os.makedirs(args.output_dir, exist_ok=True)
    n = min(len(dataset), args.max_samples)
    bar = ProgressBar(n)
    for i in range(n):
        item = dataset[i]
        img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
        sample = item['data_samples']
        name = osp.splitext(osp.basename(sample.img_path))[0]
        visualizer.add_datasample(name, np.ascontiguousarray(img), sample, draw_pred=False,
                                  show=args.show,
                                  out_file=osp.join(args.output_dir, f'{name}.png'))
        bar.update()
    print(f'\nwrote {n} pictures to {args.output_dir}')


if __name__ == '__main__':
    run_tool(main)
