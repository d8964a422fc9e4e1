"""Training-free association of thing segments over the frames of a video by their mask kernels.

Every thing segment of PanopticDepth comes from one fused mask kernel, an instance embedding.
Matching the kernels of frame t to those of the live tracks with the Hungarian algorithm (as
MinVIS does for video instance segmentation) gives ids that persist over frames, with no video
training and no change to the per-frame model.
"""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmpdepth.registry import TASK_UTILS

#: similarity given to pairs that may never match (another class); below any ``match_thr``
_FORBIDDEN = -1e6


class _Track:
    """One live track: its id, class, embedding, last mask and the frame it was last seen."""
    __slots__ = ('track_id', 'label', 'embedding', 'mask', 'last_seen')

    def __init__(self, track_id: int, label: int, embedding: Tensor, mask: Optional[Tensor],
                 last_seen: int) -> None:
        self.track_id, self.label, self.embedding = track_id, label, embedding
        self.mask, self.last_seen = mask, last_seen


@TASK_UTILS.register_module()
class KernelTracker:
    """Associate the thing segments of consecutive frames of one sequence by their mask kernels.

    Per frame (:meth:`update`):

    1. tracks unseen for ``memory`` frames end;
    2. similarity of each segment to each live track: cosine of the segment's mask kernel and
       the track's embedding, mixed with ``iou_weight`` of the mask IoU with the track's last
       mask: ``(1 - iou_weight) * cos + iou_weight * IoU``; pairs of different classes never
       match;
    3. Hungarian assignment (``scipy.optimize.linear_sum_assignment``) maximising the summed
       similarity; an assigned pair is a match if its similarity is at least ``match_thr``;
    4. a matched track takes the segment's mask and its embedding moves towards the kernel:
       ``e <- normalise(momentum * e + (1 - momentum) * k)``;
    5. an unmatched segment gets a new id; it starts a track (is remembered) only if its score
       is at least ``init_score_thr``.

    Track ids count up from 1 per class within a sequence and are never given to two live
    tracks; they stay below ``max_track_id`` by wrapping around to the smallest id no live
    track holds (a long drive may start more tracks than the id field holds). :meth:`reset`
    starts a new sequence (ids from 1 again).

    Args:
        match_thr (float): least similarity of a match. Higher: fewer wrong matches (two
            objects merged into one track), more broken tracks (one object, two ids).
        init_score_thr (float): least segment score to start a track. Higher: fewer tracks
            started by false positives that could later take a real object's place, but a
            real object first seen with a low score starts a track one frame later.
        memory (int): a track unseen for ``memory`` consecutive frames ends (1: it must be
            matched in the next frame). Longer: an object hidden for a few frames gets its id
            back, at the risk of a new object of the same class taking the old id.
        momentum (float): weight of the old embedding in the update (0: the last kernel only).
            Higher: steadier embeddings, slower to follow an object's change in appearance.
        iou_weight (float): weight of the mask IoU with the track's last mask in the
            similarity (0: kernels only). Higher: relies on small motion between frames (good
            at high frame rates; fails for fast objects or low frame rates).
        max_track_id (int): ids are ``1 .. max_track_id - 1``: 256 fits the 8-bit instance
            channel of Cityscapes-DVPS prediction files; the detector caps it at its label
            divisor, so ``class * divisor + id`` stays unique.
    """

    def __init__(self,
                 match_thr: float = 0.5,
                 init_score_thr: float = 0.0,
                 memory: int = 3,
                 momentum: float = 0.5,
                 iou_weight: float = 0.0,
                 max_track_id: int = 256) -> None:
        if memory < 1:
            raise ValueError(f'KernelTracker: memory must be >= 1 frame, got {memory}')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'KernelTracker: momentum must be in [0, 1), got {momentum}')
        if not 0.0 <= iou_weight <= 1.0:
            raise ValueError(f'KernelTracker: iou_weight must be in [0, 1], got {iou_weight}')
        if max_track_id < 2:
            raise ValueError(f'KernelTracker: max_track_id must be >= 2, got {max_track_id}')
        self.match_thr = match_thr
        self.init_score_thr = init_score_thr
        self.memory = memory
        self.momentum = momentum
        self.iou_weight = iou_weight
        self.max_track_id = max_track_id
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self, sequence=None) -> None:
        """Forget every track and start a new sequence (named ``sequence``, optional)."""
        self.sequence = sequence
        self.frame = -1
        self.tracks: List[_Track] = []
        self._next_id: Dict[int, int] = {}

    @property
    def live_ids(self) -> List[tuple]:
        """``(class, track id)`` of the tracks the next frame can still match."""
        return [(t.label, t.track_id) for t in self.tracks
                if self.frame + 1 - t.last_seen <= self.memory]

    def _new_id(self, label: int, used: set) -> int:
        """The next id of ``label``, skipping ids of live tracks and ``used`` (the
        ``(class, id)`` pairs given in this frame)."""
        taken = {t.track_id for t in self.tracks if t.label == label} | \
            {i for c, i in used if c == label}
        tid = self._next_id.get(label, 1)
        for _ in range(self.max_track_id):
            if tid >= self.max_track_id:
                tid = 1
            if tid not in taken:
                break
            tid += 1
        else:
            raise RuntimeError(f'KernelTracker: all {self.max_track_id - 1} ids of class '
                               f'{label} are held by live tracks')
        self._next_id[label] = tid + 1
        return tid

    # -- association ---------------------------------------------------------------------------
    def similarity(self, kernels: Tensor, labels: Tensor,
                   masks: Optional[Tensor] = None) -> Tensor:
        """(n, T) similarity of n segments to the live tracks (``_FORBIDDEN`` across classes).

        Args:
            kernels (Tensor): (n, E) mask kernels.
            labels (Tensor): (n, ) classes.
            masks (Tensor, optional): (n, H, W) bool masks, or an (H, W) long map of each
                pixel's segment (n: none); needed when ``iou_weight > 0``.
        """
        if not self.tracks or len(kernels) == 0:
            return kernels.new_zeros(len(kernels), len(self.tracks))
        emb = torch.stack([t.embedding for t in self.tracks])
        sim = F.normalize(kernels.float(), dim=1) @ emb.t()
        if self.iou_weight > 0:
            if masks is None:
                raise ValueError('KernelTracker: iou_weight > 0 needs the segment masks')
            sim = (1 - self.iou_weight) * sim + self.iou_weight * self._iou(masks, len(kernels))
        track_labels = torch.as_tensor([t.label for t in self.tracks], device=labels.device)
        return sim.masked_fill(labels[:, None] != track_labels[None], _FORBIDDEN)

    @staticmethod
    def _mask_pixels(masks: Tensor, n: int) -> List[Tensor]:
        """Flat pixel indices of each of the n masks (bool (n, H, W) or an (H, W) index map
        holding each pixel's segment, ``n`` for none)."""
        if masks.dim() == 3:
            return [m.flatten().nonzero()[:, 0] for m in masks]
        flat = masks.flatten()
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=n + 1)[:n].tolist()
        return list(torch.split(order[:sum(counts)], counts))

    def _iou(self, masks: Tensor, n: int) -> Tensor:
        """(n, T) IoU of the segment masks with the tracks' last masks (0 without one).

        A track keeps its last mask as flat pixel indices; with an index map (one segment per
        pixel, as a panoptic map) a track's intersections with all segments are one
        ``bincount`` over its pixels, so the cost is the tracks' areas, not n x T x H x W."""
        out = torch.zeros(n, len(self.tracks))
        size = tuple(masks.shape[-2:])
        if masks.dim() == 3:
            flat = masks.flatten(1)
            areas = flat.sum(1)
        else:
            flat = masks.flatten()
            areas = torch.bincount(flat, minlength=n + 1)[:n]
        for j, t in enumerate(self.tracks):
            if t.mask is None or t.mask[0] != size:
                continue
            if masks.dim() == 3:
                inter = flat[:, t.mask[1]].sum(1)
            else:
                inter = torch.bincount(flat[t.mask[1]], minlength=n + 1)[:n]
            out[:, j] = (inter / (areas + len(t.mask[1]) - inter).clamp(min=1)).float().cpu()
        return out

    def update(self, kernels: Tensor, labels: Tensor, scores: Optional[Tensor] = None,
               masks: Optional[Tensor] = None) -> Tensor:
        """Track ids of the thing segments of the next frame of the sequence.

        Args:
            kernels (Tensor): (n, E) mask kernels of the frame's thing segments.
            labels (Tensor): (n, ) their classes.
            scores (Tensor, optional): (n, ) their scores (None: all start tracks).
            masks (Tensor, optional): (n, H, W) bool masks or an (H, W) map of each pixel's
                segment (n: none), for ``iou_weight``.

        Returns:
            Tensor: (n, ) long track ids in ``1 .. max_track_id - 1``, unique per class
            within the frame.
        """
        self.frame += 1
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen <= self.memory]
        n = len(kernels)
        ids = torch.zeros(n, dtype=torch.long)
        if n == 0:
            return ids
        kernels = kernels.detach()
        labels_list = [int(c) for c in labels]
        matched = {}
        if self.tracks:
            sim = self.similarity(kernels, labels, masks).cpu().numpy()
            rows, cols = linear_sum_assignment(sim, maximize=True)
            matched = {int(r): int(c) for r, c in zip(rows, cols)
                       if sim[r, c] >= self.match_thr}
        unit = F.normalize(kernels.float(), dim=1)
        new_tracks = []
        used = {(labels_list[i], self.tracks[j].track_id) for i, j in matched.items()}
        pixels = self._mask_pixels(masks, n) if masks is not None and self.iou_weight > 0 \
            else None
        for i in range(n):
            # a track's last mask: (mask size, flat pixel indices)
            mask = (tuple(masks.shape[-2:]), pixels[i]) if pixels is not None else None
            if i in matched:
                t = self.tracks[matched[i]]
                t.embedding = F.normalize(self.momentum * t.embedding +
                                          (1 - self.momentum) * unit[i], dim=0)
                t.mask, t.last_seen = mask, self.frame
                ids[i] = t.track_id
                continue
            ids[i] = self._new_id(labels_list[i], used)
            used.add((labels_list[i], int(ids[i])))
            if scores is None or float(scores[i]) >= self.init_score_thr:
                new_tracks.append(_Track(int(ids[i]), labels_list[i], unit[i], mask, self.frame))
        self.tracks += new_tracks
        return ids

    # -- panoptic predictions ------------------------------------------------------------------
    def track_sample(self, data_sample, label_divisor: int) -> None:
        """Replace the thing instance ids of one predicted frame by track ids, in place.

        Reads ``pred_segments`` (``ids``, ``labels``, ``scores``, ``is_thing`` and the mask
        ``kernels``, (n, E)) and ``pred_panoptic_seg`` of a
        :class:`PanopticDepthFusionHead` prediction; writes ids ``class * label_divisor +
        track id`` into both; thing segments without a pixel in the map are dropped from
        ``pred_segments``. A sample whose ``seq_id`` differs from the current sequence's
        starts a new sequence (no ``seq_id``: the same sequence as the previous frame).
        """
        seq = data_sample.metainfo.get('seq_id')
        if seq is not None and seq != self.sequence:
            self.reset(seq)
        segs = data_sample.pred_segments
        if 'kernels' not in segs:
            raise KeyError('KernelTracker: pred_segments has no mask kernels; the fusion head '
                           'must keep them (PanopticDepthHead + PanopticDepthFusionHead)')
        pan = data_sample.pred_panoptic_seg.sem_seg
        # thing segments the per-pixel argmax left without a pixel are not in the map: they
        # are dropped, not tracked (they would take tracks from visible objects)
        keep = ~segs.is_thing | (segs.areas > 0)
        if not bool(keep.all()):
            segs = data_sample.pred_segments = segs[keep]
        thing = segs.is_thing.nonzero()[:, 0]
        old = segs.ids[thing]
        masks = None
        if self.iou_weight > 0 and len(thing):
            # each pixel's segment (len(thing): none) at 1/4 resolution: the IoU barely
            # changes and costs 1/16
            rows = torch.arange(len(thing) + 1, device=pan.device)
            masks = _relabel(pan[0, ::4, ::4], old, rows[:-1], label_divisor, rows[-1])
        track = self.update(segs.kernels[thing], segs.labels[thing], segs.scores[thing], masks)
        new = (segs.labels[thing] * label_divisor + track.to(old.device)).to(pan.dtype)
        if len(old):
            data_sample.pred_panoptic_seg.sem_seg = _relabel(pan, old, new, label_divisor)
            ids = segs.ids.clone()
            ids[thing] = new.to(ids.dtype)
            segs.ids = ids


def _relabel(pan: Tensor, old: Tensor, new: Tensor, label_divisor: int,
             other: Optional[Tensor] = None) -> Tensor:
    """``pan`` with the ids ``old`` replaced by ``new`` and every other id kept (or set to
    ``other``): one gather over the map."""
    top = int(pan.max()) + 1
    if top <= 1 << 22:  # a table over every id (class * divisor + instance)
        lut = torch.arange(top, dtype=pan.dtype, device=pan.device) if other is None else \
            torch.full((top, ), int(other), dtype=pan.dtype, device=pan.device)
        lut[old] = new.to(pan.dtype)
        return torch.take(lut, pan)
    # huge divisors: the fusion head numbers a frame's things 1..n over all classes, so a
    # table over the instance numbers does it
    inst = pan % label_divisor
    lut = torch.full((int(inst.max()) + 1, ), -1, dtype=pan.dtype, device=pan.device)
    lut[old % label_divisor] = new.to(pan.dtype)
    mapped = torch.take(lut, inst)
    keep = pan if other is None else torch.full_like(pan, int(other))
    return torch.where((mapped >= 0) & (inst > 0), mapped, keep)
