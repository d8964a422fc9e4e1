"""One training step of mmpdepth compared, stage by stage, with the official code's outputs.

A golden training file (``{dps,ps}_train<samples>.npz``, written by running the official
PanopticDepth training step on CPU with deterministic weights) holds the official mapper outputs,
ground truth, kernel-position picks, every loss term and per-parameter gradient statistics. This
module rebuilds the same step with mmpdepth — the same weights converted with the D2 converter,
the official config in training mode with augmentation off, the sample files read through
mmpdepth's own dataset, pipeline and data preprocessor — and compares:

1. pipeline: image, classes, masks, boxes, semantic map, depth, normalised input;
2. targets per level: centre heatmaps, instance targets and slots, region (stuff) targets,
   stuff dice targets, depth;
3. selected positions per level: the 7 picks of every thing slot (zero-score fillers included)
   and their centre scores;
4. losses: every term, and the per-level position losses;
5. gradients: per-term gradients of the head tensors listed in the file, whole-model gradients
   (L2 norm and max of every converted parameter), full gradients of the small head tensors,
   BatchNorm running statistics after the step.

Used by ``tools/analysis_tools/official_training_parity.py`` and the parity test.
"""
import os
import os.path as osp
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

#: file name prefix -> model kind
KINDS = ('dps', 'ps')
#: official configs of the converted models, relative to the repository root
CONFIGS = {
    'dps': 'configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-dps.py',
    'ps': 'configs/panopticdepth/panopticdepth_r50-d2_official_cityscapes-panoptic.py',
}
#: data roots inside the golden folder's ``datasets`` (the official registrations' layouts)
DATA_ROOTS = {'dps': 'dvps/cityscapes-dvps', 'ps': 'cityscapes'}
LEVELS = ('p3', 'p4', 'p5', 'p6', 'p7')
#: arrays every golden training file has
REQUIRED = ('loss_names', 'loss_values', 'grad_names', 'grad_l2', 'grad_absmax', 'grad_present',
            'per_term_param_names', 'b0_file_name', 'thing_nums', 'stuff_nums')
#: transforms removed to turn augmentation off (the golden run: COLOR_AUG False)
RANDOM_APPEARANCE = ('PhotoMetricDistortion', )


@dataclass
class Tolerances:
    """Bounds of the comparison (CPU float32; see ``docs/en/training_parity.md``).

    Integer data (pipeline outputs, slots, position picks) must be equal.
    """
    #: float targets (heatmaps, soft masks, region targets, depth), absolute
    target_abs: float = 1e-6
    #: normalised input per-channel mean, absolute (float64 sums of float32 values)
    input_abs: float = 1e-6
    #: centre scores at the picked positions, absolute: forward-map noise (the official code's
    #: p3 centre logits move by up to 1.3e-3 between 1 and 2 threads, scores by a quarter of it)
    score_abs: float = 1e-3
    #: each loss term, relative
    loss_rel: float = 1e-4
    #: per-term gradients of the head tensors, relative L2
    head_grad_rel: float = 1e-3
    #: whole-model gradients without a near-zero-depth term (PS; DPS without loss_depth),
    #: relative L2 / max per parameter
    model_grad_rel: float = 1e-2
    #: BatchNorm running statistics (sums over channels), relative to the largest sum
    bn_rel: float = 1e-4


#: The official code's own spread between 1 and 2 threads (golden harness, relative L2 of each
#: parameter's gradient): whole-model DPS gradients and the DPS ``loss_depth`` head gradients,
#: both dominated by a few predicted depths just above zero whose 1/pred gradient amplifies
#: rounding. (median, max) per sample; other samples get the largest measured one.
OFFICIAL_THREAD_NOISE = {
    'A': dict(model=(0.21, 0.43), loss_depth=(None, 0.22)),
    'C': dict(model=(0.038, 0.048), loss_depth=(None, 0.034)),
}
#: bound = NOISE_FACTOR x the official spread (ours differs from the official run by one more
#: draw of the same rounding noise)
NOISE_FACTOR = 2.0


class GoldenError(ValueError):
    """Bad golden input (missing folder or file, not a golden file); the message is one line."""


@dataclass
class Check:
    """One row of the comparison table."""
    stage: str
    name: str
    abs_err: float
    rel_err: float
    tol: float
    metric: str  # 'exact', 'abs' or 'rel': which error the tolerance bounds
    note: str = ''

    @property
    def passed(self) -> bool:
        err = self.rel_err if self.metric == 'rel' else self.abs_err
        return bool(np.isfinite(err)) and err <= self.tol


# ----------------------------------------------------------------------------------------------
# golden input
def golden_files(golden_dir: str) -> List[str]:
    """Paths of the golden training files in ``golden_dir`` (``{dps,ps}_train*.npz``)."""
    if not osp.isdir(golden_dir):
        raise GoldenError(f'{golden_dir}: golden folder not found')
    names = sorted(n for n in os.listdir(golden_dir)
                   if n.endswith('.npz') and n.split('_train')[0] in KINDS and '_train' in n)
    if not names:
        raise GoldenError(f'{golden_dir}: no golden training file (dps_train*.npz / '
                          'ps_train*.npz) in it')
    return [osp.join(golden_dir, n) for n in names]


def load_golden(path: str) -> Dict[str, np.ndarray]:
    """Arrays of one golden training file; :class:`GoldenError` for a bad file."""
    if not osp.isfile(path):
        raise GoldenError(f'{path}: golden file not found')
    kind = osp.basename(path).split('_train')[0]
    if kind not in KINDS:
        raise GoldenError(f'{path}: file name must start with dps_train or ps_train')
    if not zipfile.is_zipfile(path):
        raise GoldenError(f'{path}: not a golden training file (not an .npz archive)')
    try:
        with np.load(path, allow_pickle=False) as z:
            g = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise GoldenError(f'{path}: not a golden training file ({" ".join(str(e).split())})'
                          ) from None
    missing = [k for k in REQUIRED if k not in g]
    if missing:
        raise GoldenError(f'{path}: not a golden training file (no array {missing[0]!r})')
    g['_kind'] = np.array(kind)
    g['_name'] = np.array(osp.basename(path)[:-4])
    return g


def batch_size(g: dict) -> int:
    return sum(f'b{b}_file_name' in g for b in range(64))


# ----------------------------------------------------------------------------------------------
# model and data
def build_training_model(kind: str, key_table: str, config: Optional[str] = None,
                         root: Optional[str] = None):
    """The official config's model with the deterministic official weights (regenerated from
    ``key_table``, converted with the D2 converter), in training mode."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmpdepth.models.converters import convert_state_dict
    from mmpdepth.registry import MODELS

    from .golden_weights import make_d2_state_dict
    init_default_scope('mmdet')
    cfg = Config.fromfile(config or osp.join(root or _repo_root(), CONFIGS[kind]))
    model = MODELS.build(cfg.model)
    model.load_state_dict(convert_state_dict(make_d2_state_dict(key_table)), strict=True)
    model.train()
    return model, cfg


def deterministic_pipeline(pipeline: Sequence[dict], short_edge: int) -> List[dict]:
    """A training pipeline with every random augmentation off: colour jitter removed, flips at
    probability 0, resizes to ``short_edge`` with ratio 1 (the identity on the golden samples);
    crops of the image size are the identity."""
    out = []
    for t in pipeline:
        t = dict(t)
        kind = t['type']
        if kind in RANDOM_APPEARANCE:
            continue
        if 'Flip' in kind:
            t['prob'] = 0.0
        if kind == 'DPSResize':
            if t.get('short_edge_choices'):
                t['short_edge_choices'] = (short_edge, )
            if t.get('ratio_range') is not None:
                t['ratio_range'] = (1.0, 1.0)
        out.append(t)
    return out


def load_samples(cfg, kind: str, data_root: str, file_names: Sequence[str],
                 short_edge: int) -> List[dict]:
    """The packed samples (``inputs`` / ``data_samples``) of ``file_names`` (image basenames),
    read with the config's training dataset and its pipeline without augmentation."""
    from mmengine.registry import init_default_scope

    from mmpdepth.registry import DATASETS
    init_default_scope('mmdet')
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg.update(data_root=osp.join(data_root, DATA_ROOTS[kind]) + os.sep,
                  pipeline=deterministic_pipeline(cfg.train_pipeline, short_edge),
                  serialize_data=False)
    if not osp.isdir(ds_cfg['data_root']):
        raise GoldenError(f'{ds_cfg["data_root"]}: sample folder not found')
    dataset = DATASETS.build(ds_cfg)
    index = {osp.basename(dataset.get_data_info(i)['img_path']): i for i in range(len(dataset))}
    samples = []
    for name in file_names:
        if name not in index:
            raise GoldenError(f'{ds_cfg["data_root"]}: sample {name} not found by '
                              f'{type(dataset).__name__}')
        samples.append(dataset.prepare_data(index[name]))
    return samples


@contextmanager
def num_threads(n: int):
    """Run with ``n`` torch threads (the golden files were made with 2), restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_training_step(model, samples: List[dict], loss_names: Sequence[str],
                      per_term_params: Dict[str, torch.nn.Parameter],
                      threads: int = 2) -> dict:
    """Preprocess, ``model.loss``, per-term gradients of ``per_term_params`` and the backward
    of the sum of ``loss_names`` (in that order), recording every stage.

    Returns:
        dict: ``inputs`` (the packed uint8 images), ``data_samples``, ``batch_inputs``
        (normalised), ``targets`` (per image, :class:`PanopticTargetGenerator` outputs),
        ``things`` (per image, the selected thing rows), ``pos_th`` / ``pos_st`` (per level
        focal sums), ``losses``, ``per_term`` ({term: {param: grad or None}}), ``grads``
        ({param name: grad or None}), ``bn`` ({module name: (running_mean, running_var)}).
    """
    from mmengine.dataset import pseudo_collate
    head = model.panoptic_head
    rec = dict(targets=[], things=[], pos_th=[], pos_st=[])
    hooks = [
        head.register_forward_hook(lambda m, a, out: rec.__setitem__(
            'center_logits', [c.detach() for c in out['center_logits']])),
        head.target_generator.register_forward_hook(
            lambda m, a, out: rec['targets'].append(out)),
        head.loss_center.register_forward_hook(lambda m, a, out: rec['pos_th'].append(
            out.detach())),
        head.loss_region.register_forward_hook(lambda m, a, out: rec['pos_st'].append(
            (out / a[0][0, 0].numel()).detach())),
    ]
    select = head._select_single

    def recording_select(*args, **kwargs):
        out = select(*args, **kwargs)
        rec['things'].append(out[0])
        return out

    head._select_single = recording_select
    buffers = {n: b.clone() for n, b in model.named_buffers()}  # BN statistics move in a step
    try:
        with num_threads(threads):
            data = pseudo_collate(samples)
            rec['inputs'] = [x.clone() for x in data['inputs']]
            data = model.data_preprocessor(data, True)
            rec['batch_inputs'] = data['inputs'].detach()
            rec['data_samples'] = data['data_samples']
            t0 = time.perf_counter()
            losses = model.loss(data['inputs'], data['data_samples'])
            t1 = time.perf_counter()
            missing = [k for k in loss_names if k not in losses]
            if missing:
                raise RuntimeError(f'the model computed no {missing[0]} (its losses: '
                                   f'{sorted(losses)})')
            names = list(per_term_params)
            params = [per_term_params[n] for n in names]
            rec['per_term'] = {}
            for term in loss_names:
                grads = torch.autograd.grad(losses[term], params, retain_graph=True,
                                            allow_unused=True)
                rec['per_term'][term] = dict(zip(names, grads))
            t2 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            sum(losses[k] for k in loss_names).backward()
            rec['seconds'] = dict(forward=t1 - t0, per_term=t2 - t1,
                                  backward=time.perf_counter() - t2)
    finally:
        del head._select_single
        for h in hooks:
            h.remove()
    rec['losses'] = {k: v.detach() for k, v in losses.items()}
    rec['grads'] = {n: (p.grad.detach().clone() if p.grad is not None else None)
                    for n, p in model.named_parameters()}
    rec['bn'] = {n: (m.running_mean.clone(), m.running_var.clone())
                 for n, m in model.named_modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                 and m.running_mean is not None}
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for n, b in model.named_buffers():
            b.copy_(buffers[n])
    return rec


# ----------------------------------------------------------------------------------------------
# comparison helpers
def _f64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def compare_arrays(stage: str, name: str, ours, theirs, tol: float, metric: str,
                   note: str = '') -> Check:
    """Max absolute error and max error relative to max |golden| of two arrays."""
    a, b = np.atleast_1d(_f64(ours)), np.atleast_1d(_f64(theirs))
    if a.shape != b.shape:
        return Check(stage, name, float('inf'), float('inf'), tol, metric,
                     f'shape {a.shape} vs official {b.shape}')
    if a.size == 0:
        return Check(stage, name, 0.0, 0.0, tol, metric, note or 'empty')
    diff = np.abs(a - b)
    diff[np.isnan(a) & np.isnan(b)] = 0.0
    err = float(diff.max())
    scale = float(np.abs(b).max())
    rel = err / scale if scale > 0 else (0.0 if err == 0 else float('inf'))
    if metric == 'exact' and err > 0:
        n = int((diff > 0).sum())
        note = (note + '; ' if note else '') + f'{n} of {diff.size} differ'
    return Check(stage, name, err, rel, tol, metric, note)


def _rel_per_entry(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    ours, theirs = _f64(ours), _f64(theirs)
    scale = np.abs(theirs)
    out = np.abs(ours - theirs) / np.where(scale > 0, scale, 1.0)
    out[(scale == 0) & (ours == 0)] = 0.0
    return out


def _slot_order(things: List, level: int) -> List[np.ndarray]:
    """Per image: rows of ``things`` at ``level`` grouped per slot (instance order)."""
    out = []
    for th in things:
        rows = np.nonzero(th.levels.cpu().numpy() == level)[0]
        inst = th.instances.cpu().numpy()[rows]
        slots = []
        for i in dict.fromkeys(inst.tolist()):  # first-seen order = assignment order
            slots.append(rows[inst == i])
        out.append(slots)
    return out


# ----------------------------------------------------------------------------------------------
# the comparison
class TrainingParity:
    """Compare one golden training file with mmpdepth's training step.

    Args:
        golden (dict): :func:`load_golden` output.
        data_root (str): the folder with the sample files (the golden folder's ``datasets``).
        key_table (str): the official weight key table of the file's model kind.
        model / cfg: a model built by :func:`build_training_model` (reused between files of
            the same kind); built here when None.
        tol (Tolerances): bounds.
    """

    def __init__(self, golden: dict, data_root: str, key_table: str, model=None, cfg=None,
                 tol: Optional[Tolerances] = None) -> None:
        self.g = golden
        self.kind = str(golden['_kind'])
        self.name = str(golden['_name'])
        self.tol = tol or Tolerances()
        if model is None:
            model, cfg = build_training_model(self.kind, key_table)
        self.model, self.cfg = model, cfg
        self.data_root = data_root
        self.head = model.panoptic_head
        self.thing_ids = list(self.head.thing_class_ids)
        self.batch = batch_size(golden)
        self.loss_names = [str(x) for x in golden['loss_names']]
        self.rec: Optional[dict] = None

    # -- running -----------------------------------------------------------------------------
    def run(self, threads: int = 2) -> dict:
        """One training step with ``threads`` torch threads."""
        from mmpdepth.models.converters.panopticdepth_d2 import convert_key
        g = self.g
        files = [str(g[f'b{b}_file_name']) for b in range(self.batch)]
        short = int(np.min(g['b0_image_size'])) if 'b0_image_size' in g else 512
        samples = load_samples(self.cfg, self.kind, self.data_root, files, short)
        params = dict(self.model.named_parameters())
        term_params = {}
        for n in g['per_term_param_names']:
            ours = convert_key(f'{n}')
            if ours not in params:
                raise GoldenError(f'{self.name}: per-term parameter {n} has no counterpart '
                                  f'({ours})')
            term_params[str(n)] = params[ours]
        self.rec = run_training_step(self.model, samples, self.loss_names, term_params,
                                     threads)
        return self.rec

    def compare(self) -> List[Check]:
        if self.rec is None:
            self.run()
        checks = []
        for part in (self._pipeline, self._targets, self._positions, self._losses,
                     self._gradients):
            checks.extend(part())
        return checks

    # -- 1 pipeline --------------------------------------------------------------------------
    def _pipeline(self) -> List[Check]:
        g, rec, out = self.g, self.rec, []
        st = '1 pipeline'
        for b in range(self.batch):
            ds = rec['data_samples'][b]
            img = rec['inputs'][b].numpy()
            key = f'b{b}_image_bgr_chw_u8'
            if key in g:
                out.append(compare_arrays(st, f'b{b} image (BGR)', img, g[key], 0, 'exact'))
            elif key + '_sha256' in g:
                import hashlib
                same = hashlib.sha256(np.ascontiguousarray(img, np.uint8).tobytes()
                                      ).hexdigest() == str(g[key + '_sha256'])
                out.append(Check(st, f'b{b} image (BGR)', 0.0 if same else float('inf'),
                                 0.0 if same else float('inf'), 0, 'exact',
                                 'sha256' + ('' if same else ' differs')))
            gi = ds.gt_instances
            labels = gi.labels.numpy()
            is_thing = np.isin(labels, self.thing_ids)
            classes = np.array([self.thing_ids.index(c) for c in labels[is_thing]], np.int64)
            out.append(compare_arrays(st, f'b{b} instance classes (in order)', classes,
                                      g[f'b{b}_gt_classes'], 0, 'exact'))
            masks = gi.masks.to_ndarray().astype(bool)[is_thing]
            gm = self._masks(b)
            out.append(compare_arrays(st, f'b{b} instance masks', masks, gm, 0, 'exact'))
            out.append(compare_arrays(st, f'b{b} instance boxes', gi.bboxes.numpy()[is_thing],
                                      g[f'b{b}_gt_boxes_xyxy'], 0, 'exact'))
            # void: 255 here, 255 or (official DPS mapper) 19 = the number of classes there;
            # both become the dropped extra one-hot channel of the targets
            gs = g[f'b{b}_sem_seg'].astype(np.int64)
            h, w = gs.shape
            k = self.head.num_classes
            n_void = int((gs == k).sum())
            gs = np.where(gs >= k, 255, gs)
            out.append(compare_arrays(st, f'b{b} semantic map', ds.gt_sem_seg.sem_seg[0, :h, :w],
                                      gs, 0, 'exact',
                                      f'official void {k} read as 255 ({n_void} px)'
                                      if n_void else ''))
            if f'b{b}_depth_m' in g or f'b{b}_depth_u16' in g:
                gd = g[f'b{b}_depth_m'] if f'b{b}_depth_m' in g else \
                    g[f'b{b}_depth_u16'].astype(np.float32) / 256
                out.append(compare_arrays(st, f'b{b} depth (m)',
                                          ds.gt_depth_map.data[0, :h, :w].numpy(), gd, 0,
                                          'exact'))
        x = rec['batch_inputs']
        out.append(compare_arrays(st, 'padded input size', x.shape[-2:], g['input_padded_hw'],
                                  0, 'exact'))
        out.append(compare_arrays(st, 'normalised input, channel means',
                                  x.double().mean((2, 3)), g['input_norm_chan_mean'],
                                  self.tol.input_abs, 'abs'))
        return out

    def _masks(self, b: int) -> np.ndarray:
        g = self.g
        if f'b{b}_gt_masks' in g:
            return g[f'b{b}_gt_masks']
        shape = tuple(g[f'b{b}_gt_masks_shape'])
        bits = np.unpackbits(g[f'b{b}_gt_masks_packbits'])[:int(np.prod(shape))]
        return bits.reshape(shape).astype(bool)

    # -- 2 targets ---------------------------------------------------------------------------
    def _batched_targets(self, li: int) -> dict:
        """Our per-image targets at level ``li`` in the official batched layout."""
        tgs = self.rec['targets']
        T = int(self.g['thing_nums'][li])
        S = int(self.g['stuff_nums'][li])
        h, w = tgs[0]['sem_s4'].shape[-2:]
        inst = torch.full((self.batch, T, h, w), 255.0)
        index_mask = torch.zeros(self.batch, 150)
        cls = torch.zeros(self.batch, 150)
        sem_labels = torch.zeros(self.batch, S, h, w)
        k = self.head.num_classes
        sem_index = torch.zeros(self.batch, k)
        sem_masks = torch.zeros(self.batch, k, *tgs[0]['region_target'][li].shape[-2:])
        for b, tg in enumerate(tgs):
            idx = tg['thing_index'][li]
            n = len(idx)
            if n > T:
                raise RuntimeError(f'{n} thing slots at level {LEVELS[li]}, official {T}')
            inst[b, :n] = tg['inst_s4'][idx]
            index_mask[b, :n] = 1
            cls[b, :n] = tg['inst_thing'][idx].float()
            # stuff slots: the present classes, compacted in ascending class order
            present = tg['region_target'][li].flatten(1).sum(1) > 0
            c = torch.nonzero(present).flatten()
            sem_index[b, :len(c)] = 1
            sem_masks[b, :len(c)] = (tg['region_target'][li][c] > 0).float()
            sem_labels[b, :min(len(c), S)] = tg['sem_s4'][c[:S]]
        return dict(
            center=torch.stack([t['center_target'][li] for t in tgs]), inst=inst,
            index_mask=index_mask, cls=cls,
            sem_scores=torch.stack([t['region_target'][li] for t in tgs]),
            sem_masks=sem_masks, sem_labels=sem_labels, sem_index=sem_index)

    def _targets(self) -> List[Check]:
        g, out, st = self.g, [], '2 targets'
        ta = self.tol.target_abs
        for li, L in enumerate(LEVELS):
            t = self._batched_targets(li)
            n_ours = sum(len(tg['thing_index'][li]) for tg in self.rec['targets'])
            out.append(compare_arrays(st, f'{L} thing slots (valid flag)', t['index_mask'],
                                      g[f'gt_index_mask_{L}'], 0, 'exact',
                                      f'{n_ours} positives'))
            out.append(compare_arrays(st, f'{L} thing slots (class)', t['cls'],
                                      g[f'gt_class_{L}'] * g[f'gt_index_mask_{L}'], 0, 'exact'))
            out.append(compare_arrays(st, f'{L} centre heatmaps', t['center'], g[f'gt_center_{L}'],
                                      ta, 'abs'))
            out.append(compare_arrays(st, f'{L} instance targets (stride 4)', t['inst'],
                                      _golden_float(g, f'gt_inst_{L}'), ta, 'abs'))
            out.append(compare_arrays(st, f'{L} region targets', t['sem_scores'],
                                      _golden_float(g, f'gt_sem_scores_{L}'), ta, 'abs'))
            out.append(compare_arrays(st, f'{L} stuff slots (pooling masks)', t['sem_masks'],
                                      g[f'gt_sem_masks_{L}'], 0, 'exact'))
            out.append(compare_arrays(st, f'{L} stuff slots (present classes)', t['sem_index'],
                                      g[f'gt_sem_index_{L}'], 0, 'exact'))
            out.append(compare_arrays(st, f'{L} stuff dice targets', t['sem_labels'],
                                      _golden_float(g, f'gt_sem_labels_{L}'), ta, 'abs'))
        if 'gt_depth' in g or 'gt_depth_x256' in g:
            ours = torch.stack([t['depth_s4'] for t in self.rec['targets']])[:, None]
            out.append(compare_arrays(st, 'depth (stride 4)', ours, _golden_float(g, 'gt_depth'),
                                      ta, 'abs'))
        return out

    # -- 3 positions -------------------------------------------------------------------------
    def _positions(self) -> List[Check]:
        g, out, st = self.g, [], '3 positions'
        things = self.rec['things']
        for li, L in enumerate(LEVELS):
            gidx, gval = g[f'{L}_guided_index'], g[f'{L}_weighted_values']
            valid = g[f'gt_index_mask_{L}'][:, :gidx.shape[1]] > 0
            ours_idx = np.full(gidx.shape, -1, np.int64)
            ours_val = np.zeros(gval.shape, np.float64)
            for b, slots in enumerate(_slot_order(things, li)):
                for s, rows in enumerate(slots[:gidx.shape[1]]):
                    ours_idx[b, s, :len(rows)] = things[b].positions[rows].numpy()
                    ours_val[b, s, :len(rows)] = self._scores(b, li, rows)
            fillers = int(((gval == 0) & valid[..., None]).sum())
            out.append(compare_arrays(st, f'{L} picks (7 per slot)', ours_idx[valid],
                                      gidx[valid], 0, 'exact',
                                      f'{int(valid.sum())} slots, {fillers} zero-score fillers'))
            out.append(compare_arrays(st, f'{L} pick scores', ours_val[valid], gval[valid],
                                      self.tol.score_abs, 'abs', 'forward-map noise'))
        return out

    def _scores(self, b: int, li: int, rows: np.ndarray) -> np.ndarray:
        """Centre scores σ(logit of the slot's class) at our picks; 0 outside the candidates
        (recovered from the normalised dice weights times the scores of the candidates)."""
        th = self.rec['things'][b]
        tg = self.rec['targets'][b]
        inst = int(th.instances[rows[0]])
        logits = self.rec['center_logits'][li][b] if 'center_logits' in self.rec else None
        w = th.weights[rows].detach().double().numpy()
        if logits is None:
            return w
        score = logits[tg['inst_thing'][inst]].flatten().sigmoid()[th.positions[rows]]
        return np.where(w > 0, score.double().numpy(), 0.0)

    # -- 4 losses ----------------------------------------------------------------------------
    def _losses(self) -> List[Check]:
        g, rec, out, st = self.g, self.rec, [], '4 losses'
        tol = self.tol.loss_rel
        for name in self.loss_names:
            out.append(compare_arrays(st, name, rec['losses'][name], g[name], tol, 'rel'))
        for li, L in enumerate(LEVELS):
            if f'{L}_loss_pos_th' in g and li < len(rec['pos_th']):
                out.append(compare_arrays(st, f'{L} centre focal sum', rec['pos_th'][li],
                                          g[f'{L}_loss_pos_th'], tol, 'rel'))
                out.append(compare_arrays(st, f'{L} region focal (pixel mean)',
                                          rec['pos_st'][li], g[f'{L}_loss_pos_st'], tol, 'rel'))
        return out

    # -- 5 gradients -------------------------------------------------------------------------
    def noise_bound(self, what: str) -> Optional[tuple]:
        """(bound, reason) for the DPS whole-model or loss_depth gradients, or None."""
        samples = self.name.split('_train')[-1]
        if self.kind != 'dps' or 'loss_depth' not in self.loss_names:
            return None
        spreads = [OFFICIAL_THREAD_NOISE[s][what][1] if s in OFFICIAL_THREAD_NOISE else
                   max(v[what][1] for v in OFFICIAL_THREAD_NOISE.values()) for s in samples]
        spread = max(spreads)
        return NOISE_FACTOR * spread, (f'bound {NOISE_FACTOR:g} x the official 1-vs-2-thread '
                                       f'spread {spread:.3g} (near-zero depths in loss_depth)')

    def _gradients(self) -> List[Check]:
        from mmpdepth.models.converters.panopticdepth_d2 import convert_key
        g, rec, out, st = self.g, self.rec, [], '5 gradients'
        names = [str(n) for n in g['per_term_param_names']]
        for term in self.loss_names:
            if f'per_term_grad_l2__{term}' not in g:
                continue
            used_g = g[f'per_term_grad_used__{term}'].astype(bool)
            grads = rec['per_term'][term]
            used = np.array([grads[n] is not None for n in names])
            l2 = np.array([float(grads[n].double().norm()) if grads[n] is not None else 0.0
                           for n in names])
            rel = _rel_per_entry(l2, g[f'per_term_grad_l2__{term}'])
            worst = int(np.argmax(rel))
            tol, note = self.tol.head_grad_rel, ''
            if term == 'loss_depth':
                nb = self.noise_bound('loss_depth')
                if nb is not None:
                    tol, note = nb
            note = f'worst {names[worst]}' + (f'; {note}' if note else '')
            if (used != used_g).any():
                i = int(np.argmax(used != used_g))
                out.append(Check(st, f'per-term {term}: tensors reached', 1.0, 1.0, 0, 'exact',
                                 f'{names[i]}: {"reached" if used[i] else "not reached"} here, '
                                 f'{"reached" if used_g[i] else "not reached"} officially'))
            ok = used_g
            out.append(Check(st, f'per-term {term} ({int(ok.sum())} head tensors, L2)',
                             float(np.abs(l2 - g[f'per_term_grad_l2__{term}'])[ok].max()
                                   if ok.any() else 0.0),
                             float(rel[ok].max() if ok.any() else 0.0), tol, 'rel', note))
        out.extend(self._whole_model_gradients())
        if 'bn_names' in g:
            means, vars_ = [], []
            for n in g['bn_names']:
                ours = convert_key(f'{n}.running_mean')[:-len('.running_mean')]
                m, v = rec['bn'][ours]
                means.append(float(m.double().sum()))
                vars_.append(float(v.double().sum()))
            for what, ours, theirs in (('mean', means, g['bn_running_mean_sum_after']),
                                       ('var', vars_, g['bn_running_var_sum_after'])):
                out.append(compare_arrays(st, f'BatchNorm running {what} after the step',
                                          ours, theirs, self.tol.bn_rel, 'rel',
                                          f'{len(ours)} layers, sums over channels'))
        return out

    def _whole_model_gradients(self) -> List[Check]:
        """Every converted parameter's gradient (L2, max) and the small full gradients."""
        from mmpdepth.models.converters.panopticdepth_d2 import convert_key
        g, rec, out, st = self.g, self.rec, [], '5 gradients'
        gnames = [str(n) for n in g['grad_names']]
        present_g = g['grad_present'].astype(bool)
        l2o, l2g, mxo, mxg, pres = [], [], [], [], []
        for i, n in enumerate(gnames):
            ours = convert_key(n)
            grad = rec['grads'].get(ours)
            pres.append(grad is not None)
            l2o.append(float(grad.double().norm()) if grad is not None else np.nan)
            mxo.append(float(grad.abs().max()) if grad is not None else np.nan)
            l2g.append(g['grad_l2'][i])
            mxg.append(g['grad_absmax'][i])
        pres = np.array(pres)
        out.append(compare_arrays(st, 'parameters with a gradient', pres, present_g, 0, 'exact',
                                  f'{int(present_g.sum())} of {len(gnames)}'))
        both = pres & present_g
        rel_l2 = _rel_per_entry(np.array(l2o)[both], np.array(l2g)[both])
        rel_mx = _rel_per_entry(np.array(mxo)[both], np.array(mxg)[both])
        rel = np.maximum(rel_l2, rel_mx)
        tol, why = self.tol.model_grad_rel, ''
        nb = self.noise_bound('model')
        if nb is not None:
            tol, why = nb
        if rel.size:
            worst = np.array(gnames)[both][int(np.argmax(rel))]
            note = (f'median {np.median(rel):.2g}, {int((rel <= 1e-3).sum())} of {rel.size} '
                    f'<= 1e-3; worst {worst}' + (f'; {why}' if why else ''))
            out.append(Check(st, 'whole model (L2 and max of each parameter)',
                             float(np.nanmax(np.abs(np.array(l2o)[both] - np.array(l2g)[both]))),
                             float(rel.max()), tol, 'rel', note))
        for key in sorted(k for k in g if k.startswith('grad_full__')):
            n = key[len('grad_full__'):]
            grad = rec['grads'].get(convert_key(n))
            if grad is None:
                out.append(Check(st, f'full gradient {n}', float('inf'), float('inf'), tol,
                                 'rel', 'no gradient'))
                continue
            gg = g[key]
            out.append(compare_arrays(st, f'full gradient {n}', grad.reshape(gg.shape), gg,
                                      tol, 'rel', why))
        return out


def _golden_float(g: dict, key: str) -> np.ndarray:
    """A float array stored as is, or (the test subset) as exact integer multiples of 1/4
    (``<key>_x4``) or 1/256 (``<key>_x256``)."""
    if key in g:
        return g[key]
    for factor in (4, 256):
        if f'{key}_x{factor}' in g:
            return g[f'{key}_x{factor}'].astype(np.float64) / factor
    raise GoldenError(f'{g["_name"]}: no array {key!r}')


def _repo_root() -> str:
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# ----------------------------------------------------------------------------------------------
# report
def format_table(rows: Iterable[tuple]) -> str:
    """Rows of (file, Check) as one fixed-width table."""
    header = ('file', 'stage', 'check', 'max abs err', 'max rel err', 'tolerance', 'pass', 'note')
    lines = []
    for f, c in rows:
        tol = 'exact' if c.metric == 'exact' else f'{c.tol:.0e} {c.metric}'
        lines.append((f, c.stage, c.name, f'{c.abs_err:.3g}', f'{c.rel_err:.3g}', tol,
                      'ok' if c.passed else 'FAIL', c.note))
    widths = [max(len(str(r[i])) for r in [header] + lines) for i in range(len(header) - 1)]
    out = []
    for r in [header] + lines:
        out.append('  '.join(str(x).ljust(w) for x, w in zip(r[:-1], widths)) + '  ' + r[-1])
    return '\n'.join(x.rstrip() for x in out)


def _tol_fraction(c: Check) -> float:
    """A check's error as a fraction of its tolerance (exact checks: 0 or inf)."""
    err = c.rel_err if c.metric == 'rel' else c.abs_err
    if not np.isfinite(err):
        return float('inf')
    if c.tol == 0:
        return 0.0 if err == 0 else float('inf')
    return err / c.tol


def format_summary(rows: Iterable[tuple]) -> str:
    """Rows of (file, Check) as one line per file and stage: checks passed, and the check
    closest to its tolerance with its error and tolerance."""
    groups: Dict[tuple, List[Check]] = {}
    for f, c in rows:
        groups.setdefault((f, c.stage), []).append(c)
    header = ('file', 'stage', 'pass', 'closest to its tolerance', 'error', 'tolerance')
    lines = []
    for (f, stage), checks in groups.items():
        worst = max(checks, key=_tol_fraction)
        err = worst.rel_err if worst.metric == 'rel' else worst.abs_err
        tol = 'exact' if worst.metric == 'exact' else f'{worst.tol:.2g} {worst.metric}'
        lines.append((f, stage, f'{sum(c.passed for c in checks)}/{len(checks)}', worst.name,
                      f'{err:.2g}', tol))
    widths = [max(len(str(r[i])) for r in [header] + lines) for i in range(len(header))]
    return '\n'.join('  '.join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()
                     for r in [header] + lines)
