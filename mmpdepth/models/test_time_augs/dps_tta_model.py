"""Test-time augmentation for PanopticDepth: flips and scales merged before the panoptic merge."""
from typing import List

import torch
from mmengine.model import BaseTTAModel

from mmpdepth.registry import MODELS


@MODELS.register_module()
class DPSTTAModel(BaseTTAModel):
    """Merge flipped / rescaled views of each image.

    Every view runs the backbone and heads; its thing masks, stuff probabilities and depth
    embedding are brought back to the original frame (resized to the original size, flipped
    back). Stuff probabilities are averaged over the views, thing candidates of all views are
    pooled and pasted in score order (the overlap rule removes duplicates), and each segment's
    depth is computed in the view(s) it came from (stuff: averaged). Then the usual panoptic
    merge and depth gathering run once (:meth:`PanopticDepthFusionHead.merge`).

    Args:
        module (dict): the PanopticDepth model.
        depth_scale_aware (bool): multiply a view's depth by its zoom factor, for models trained
            with ``DPSResize(scale_depth=True)`` (which predict depth / zoom on a zoomed image).
            Defaults to False.
    """

    def __init__(self, module: dict, depth_scale_aware: bool = False, **kwargs) -> None:
        super().__init__(module=module, **kwargs)
        self.depth_scale_aware = depth_scale_aware

    def test_step(self, data):
        if isinstance(data, dict):
            num_augs = len(data[next(iter(data))])
            views = [{k: v[i] for k, v in data.items()} for i in range(num_augs)]
        else:
            num_augs = len(data[0])
            views = [[d[i] for d in data] for i in range(num_augs)]
        model = self.module
        fusion = model.panoptic_fusion_head
        per_image: List[list] = []
        scales: List[list] = []
        samples = None
        with torch.no_grad():
            for view in views:
                batch = model.data_preprocessor(view, False)
                head = model.predict_heads(batch['inputs'], batch['data_samples'])
                for i, (res, ds) in enumerate(zip(head, batch['data_samples'])):
                    meta = ds.metainfo
                    cand = fusion.full_resolution_candidates(
                        res, meta, flip=bool(meta.get('flip', False)))
                    if len(per_image) <= i:
                        per_image.append([])
                        scales.append([])
                    per_image[i].append(cand)
                    sf = meta.get('scale_factor', (1.0, 1.0))
                    zoom = (float(sf[0]) + float(sf[1])) / 2.0
                    scales[i].append(zoom if self.depth_scale_aware else 1.0)
                if samples is None:
                    samples = batch['data_samples']
        for ds, cands, sc in zip(samples, per_image, scales):
            for key, value in fusion.merge(cands, sc).items():
                setattr(ds, key, value)
            ds.set_metainfo(dict(flip=False, flip_direction=None))
        return model.track(samples)  # track ids with the model's test_cfg.tracker

    def merge_preds(self, data_samples_list):  # pragma: no cover - test_step merges itself
        raise NotImplementedError
