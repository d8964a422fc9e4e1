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


def _thing_row_pairs(reference: Dict[str, torch.Tensor], other: Dict[str, torch.Tensor],
                     level: str):
    """Rows of one level's thing outputs paired by peak (batch, pixel, class): ``(ref_rows,
    other_rows, fraction of the reference's peaks the other side lacks)``. Only live peaks
    (score > 0) count; zero-score rows tie and their order is arbitrary."""
    keys = []
    for tensors in (reference, other):
        scores = tensors[f'{level}_thing_scores'].detach().cpu().double()
        index = tensors[f'{level}_thing_index'].detach().cpu()  # (B, N), as the scores
        classes = tensors[f'{level}_thing_classes'].detach().cpu()
        batch = torch.arange(scores.shape[0])[:, None].expand_as(index)
        keys.append({tuple(key): (row, float(sc)) for row, (*key, sc) in enumerate(zip(
            batch.flatten().tolist(), index.flatten().tolist(), classes.flatten().tolist(),
            scores.flatten().tolist())) if sc > 0})
    ref_keys, oth_keys = keys
    common = sorted(set(ref_keys) & set(oth_keys), key=lambda k: ref_keys[k][0])
    return ([ref_keys[k][0] for k in common], [oth_keys[k][0] for k in common],
            (len(ref_keys) - len(common)) / max(len(ref_keys), 1))


def raw_tensor_errors(reference: Dict[str, torch.Tensor],
                      other: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Per output: max |a - b| / max |a| (absolute for an all-zero ``a``).

    Thing outputs are compared row by row for the peaks both sides found (paired by pixel and
    class, not by position: two peaks whose scores tie up to rounding may come in either order,
    and a peak equal to its neighbour up to rounding may be kept on one side only). For them
    ``l{i}_thing_index`` is the fraction of the reference's live peaks that the other side
    lacks (a peak is a pixel and a class: one pixel can be the peak of several classes).

    Raises:
        KeyError / ValueError: an output is missing or has another shape.
    """
    errors = {}
    pairs = {}
    for name, ref in reference.items():
        if name not in other:
            raise KeyError(f'backend output {name!r} is missing (has {sorted(other)})')
        a = ref.detach().cpu().double()
        b = other[name].detach().cpu().double()
        if a.shape != b.shape:
            raise ValueError(f'output {name!r}: shape {tuple(b.shape)} != {tuple(a.shape)}')
        if name.startswith('l') and '_thing_' in name:
            level = name.split('_thing_')[0]
            if level not in pairs:
                pairs[level] = _thing_row_pairs(reference, other, level)
            ref_rows, oth_rows, lone = pairs[level]
            if name.endswith('_index'):
                errors[name] = lone
                continue
            a, b = a.flatten(0, 1), b.flatten(0, 1)  # (B, N, ...) -> rows (B * N, ...)
            if not ref_rows:
                errors[name] = 0.0
                continue
            a, b = a[ref_rows], b[oth_rows]
        scale = float(a.abs().max()) if a.numel() else 0.0
        diff = float((a - b).abs().max()) if a.numel() else 0.0
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
