"""Compare a deployed model with PyTorch on the same preprocessed input."""
from typing import Dict

import numpy as np
import torch

from .candidate_io import flatten_candidates


def pytorch_candidates(model: torch.nn.Module, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The tensors the exported graph returns, computed by the PyTorch model."""
    with torch.no_grad():
        outs = model.panoptic_head(model.extract_feat(inputs))
        return dict(flatten_candidates(model.panoptic_head.candidates_by_feat(outs)))


def raw_tensor_errors(reference: Dict[str, torch.Tensor],
                      other: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Per output: max |a - b| / max |a| (absolute for an all-zero ``a``); peak indices and
    classes: the fraction that differ. Thing rows are compared where the reference peak scores
    above 0 (zero-score rows tie, so their order is arbitrary).

    Raises:
        KeyError / ValueError: an output is missing or has another shape.
    """
    errors = {}
    for name, ref in reference.items():
        if name not in other:
            raise KeyError(f'backend output {name!r} is missing (has {sorted(other)})')
        a = ref.detach().cpu().double()
        b = other[name].detach().cpu().double()
        if a.shape != b.shape:
            raise ValueError(f'output {name!r}: shape {tuple(b.shape)} != {tuple(a.shape)}')
        live = None
        if name.startswith('l') and '_thing_' in name and not name.endswith('_scores'):
            # thing rows past the live peaks have score 0 and tie: their order is arbitrary
            live = reference[name.split('_thing_')[0] + '_thing_scores'].detach().cpu() > 0
        if live is not None and not live.any():
            errors[name] = 0.0
            continue
        if live is not None:
            a, b = a[live], b[live]
        if name.endswith(('_index', '_classes')):
            errors[name] = float((a != b).double().mean())  # fraction of differing peaks
        else:
            scale = float(a.abs().max())
            diff = float((a - b).abs().max())
            errors[name] = diff / scale if scale > 0 else diff
    return errors


def prediction_agreement(ref_sample, other_sample) -> Dict[str, float]:
    """Panoptic pixels that differ (fraction) and max |depth difference| (m) on one image."""
    pa = ref_sample.pred_panoptic_seg.sem_seg.cpu().numpy()
    pb = other_sample.pred_panoptic_seg.sem_seg.cpu().numpy()
    out = dict(panoptic_pixels_different=float(np.mean(pa != pb)))
    if 'pred_depth_map' in ref_sample:
        da = ref_sample.pred_depth_map.data.cpu().numpy().astype(np.float64)
        db = other_sample.pred_depth_map.data.cpu().numpy().astype(np.float64)
        out['depth_max_abs_diff_m'] = float(np.abs(da - db).max())
    return out
