"""A test-only "model" for video evaluation runs: it predicts each frame from its ground truth
as the fusion head would (things numbered 1..n in a per-frame order, one mask kernel per
thing), with one thing left out on some frames, and applies the configured tracker.

Its kernels identify the ground-truth instance (plus noise), so a tracker that sees a
sequence's frames in order gives every object one id; the left-out things make the DVPQ_k
depend on which frames form the windows. Imported by configs through ``custom_imports``.
"""
import zlib

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData

from mmpdepth.formats import get_format, read_depth_png
from mmpdepth.registry import MODELS, TASK_UTILS

EMBED = 32


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


@MODELS.register_module()
class GTPerFrameModel(BaseModel):
    """Predictions from the ground truth files named in each sample (see the module doc)."""

    def __init__(self, tracker=None, label_divisor: int = 1000, **unused) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # a checkpoint needs a tensor
        self.label_divisor = label_divisor
        self.tracker = TASK_UTILS.build(tracker) if tracker else None

    def forward(self, inputs, data_samples=None, mode='predict'):
        out = [self.predict_frame(ds) for ds in data_samples]
        if self.tracker is not None:
            for ds in out:
                self.tracker.track_sample(ds, self.label_divisor)
        return out

    def predict_frame(self, ds):
        meta = ds.metainfo
        fmt = get_format(meta['ann_format'])
        gt = fmt.read_gt_ids(meta)
        cls, inst = gt // fmt.label_divisor, gt % fmt.label_divisor
        div = self.label_divisor
        pan = np.where(cls == fmt.void_category, 255 * div, cls * div).astype(np.int64)
        things = [int(i) for i in np.unique(gt[inst > 0])]
        rng = np.random.default_rng(_seed(meta['img_id']))
        order = rng.permutation(len(things))
        if len(things) > 1 and rng.random() < 0.5:  # this frame misses a thing (void)
            pan[gt == things[order[0]]] = 255 * self.label_divisor
            order = order[1:]
        noise = torch.Generator().manual_seed(_seed(meta['img_id']))
        ids, labels, kernels, areas = [], [], [], []
        for n, j in enumerate(order, start=1):
            gid = things[j]
            c = gid // fmt.label_divisor
            pan[gt == gid] = c * div + n
            ids.append(c * div + n)
            labels.append(c)
            base = torch.randn(EMBED, generator=torch.Generator().manual_seed(
                _seed(f'{meta["seq_id"]}/{gid}')))
            kernels.append(base + 0.1 * torch.randn(EMBED, generator=noise))
            areas.append(int((gt == gid).sum()))
        segs = InstanceData()
        segs.ids = torch.tensor(ids + [0], dtype=torch.long)
        segs.labels = torch.tensor(labels + [0], dtype=torch.long)
        segs.scores = torch.ones(len(ids) + 1)
        segs.is_thing = torch.tensor([True] * len(ids) + [False])
        segs.areas = torch.tensor(areas + [1])
        segs.kernels = torch.stack(kernels + [torch.zeros(EMBED)])
        ds.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(pan)[None])
        depth = read_depth_png(meta['depth_path'], gt.shape).astype(np.float32)
        ds.pred_depth_map = PixelData(data=torch.from_numpy(depth)[None])
        ds.pred_segments = segs
        return ds
