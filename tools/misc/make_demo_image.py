"""Write the demo image shipped in demo/ (a synthetic street scene not in the synthetic set).

    python tools/misc/make_demo_image.py [--out demo/demo_synthetic.png] [--seed 1234]
"""
import json
import os
import os.path as osp

import numpy as np
from PIL import Image

from mmpdepth.datasets.synthetic import SyntheticSceneRenderer
from mmpdepth.utils.cli import ToolArgumentParser, run_tool


def main():
    p = ToolArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='demo/demo_synthetic.png')
    p.add_argument('--seed', type=int, default=1234)
    args = p.parse_args()
    r = SyntheticSceneRenderer(256, 512, np.random.default_rng(args.seed))
    img, _, _ = r.render(0)
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    Image.fromarray(img).save(args.out)
    cam = r.camera
    with open(osp.splitext(args.out)[0] + '_camera.json', 'w') as f:
        json.dump(dict(fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy), f, indent=2)
    print(f'wrote {args.out} and its camera JSON')


if __name__ == '__main__':
    run_tool(main)
