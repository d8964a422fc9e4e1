"""Developer script: the training-parity test data from the official code's golden training
outputs (not run by tests).

    python tests/data/golden_train/make_subset.py /path/to/golden_train

Keeps every array the comparison of :mod:`mmpdepth.testing.training_parity` reads, in lossless
compact forms: images by sha256 (the sample PNGs are here too), instance masks bit-packed,
quarter-valued targets as uint8 x4, depth as uint16 x256, small full gradients only; and copies
the sample files (``datasets/``). About 1 MB of arrays plus the samples.
"""
import hashlib
import os
import os.path as osp
import shutil
import sys

import numpy as np

SRC = sys.argv[1] if len(sys.argv) > 1 else '../shared/golden_train'
DST = osp.dirname(osp.abspath(__file__))
LEVELS = ('p3', 'p4', 'p5', 'p6', 'p7')
FULL_GRAD_MAX = 20000  # full gradients of at most this many values are kept


def scaled(a: np.ndarray, factor: int, dtype) -> np.ndarray:
    """a * factor as integers when that is exact, else None."""
    s = a.astype(np.float64) * factor
    if np.all(s == np.round(s)) and s.min() >= 0 and s.max() <= np.iinfo(dtype).max:
        return s.astype(dtype)
    return None


def subset(g: dict) -> dict:
    out = {}
    scalars = ('loss_names', 'loss_values', 'loss_total', 'official_forward_raised', 'grad_names',
               'grad_l2', 'grad_absmax', 'grad_sum', 'grad_present', 'grad_numel',
               'per_term_param_names', 'thing_nums', 'stuff_nums', 'thing_gt_num',
               'stuff_gt_num', 'input_padded_hw', 'input_norm_chan_mean', 'bn_names',
               'bn_running_mean_sum_after', 'bn_running_var_sum_after')
    for k in g:
        if k in scalars or k.startswith(('loss_', 'per_term_grad_')) or \
                k.endswith(('_loss_pos_th', '_loss_pos_st', '_guided_index', '_weighted_values',
                            '_guided_keep_count')):
            out[k] = g[k]
    b = 0
    while f'b{b}_file_name' in g:
        for s in ('file_name', 'image_size', 'gt_classes', 'gt_boxes_xyxy', 'sem_seg',
                  'image_id'):
            out[f'b{b}_{s}'] = g[f'b{b}_{s}']
        img = np.ascontiguousarray(g[f'b{b}_image_bgr_chw_u8'], np.uint8)
        out[f'b{b}_image_bgr_chw_u8_sha256'] = np.array(hashlib.sha256(img.tobytes()).hexdigest())
        m = g[f'b{b}_gt_masks']
        out[f'b{b}_gt_masks_shape'] = np.array(m.shape)
        out[f'b{b}_gt_masks_packbits'] = np.packbits(m.ravel())
        if f'b{b}_depth_m' in g:
            d = scaled(g[f'b{b}_depth_m'], 256, np.uint16)
            assert d is not None
            out[f'b{b}_depth_u16'] = d
        b += 1
    for L in LEVELS:
        for k in ('gt_index_mask', 'gt_class', 'gt_sem_index', 'gt_center', 'gt_sem_scores'):
            out[f'{k}_{L}'] = g[f'{k}_{L}']
        out[f'gt_sem_masks_{L}'] = g[f'gt_sem_masks_{L}'].astype(bool)
        assert np.array_equal(out[f'gt_sem_masks_{L}'], g[f'gt_sem_masks_{L}'] > 0)
        for k in ('gt_inst', 'gt_sem_labels'):
            q = scaled(g[f'{k}_{L}'], 4, np.uint16)
            if q is None:
                out[f'{k}_{L}'] = g[f'{k}_{L}']
            else:
                out[f'{k}_{L}_x4'] = q
    if 'gt_depth' in g:
        out['gt_depth_x256'] = scaled(g['gt_depth'], 256, np.uint16)
        assert out['gt_depth_x256'] is not None
    for k in g:
        if k.startswith('grad_full__') and g[k].size <= FULL_GRAD_MAX:
            out[k] = g[k]
    return out


def main() -> None:
    for name in sorted(os.listdir(SRC)):
        if not (name.endswith('.npz') and '_train' in name):
            continue
        with np.load(osp.join(SRC, name)) as z:
            g = {k: z[k] for k in z.files}
        np.savez_compressed(osp.join(DST, name), **subset(g))
        print(name, os.path.getsize(osp.join(DST, name)))
    shutil.copytree(osp.join(SRC, 'datasets'), osp.join(DST, 'datasets'), dirs_exist_ok=True)


if __name__ == '__main__':
    main()
