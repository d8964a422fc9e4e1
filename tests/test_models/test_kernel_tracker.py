"""KernelTracker on hand-made kernels: what keeps an id, what starts one, what ends one."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData

from mmpdepth.models.trackers import KernelTracker
from mmpdepth.registry import TASK_UTILS

CAR, PERSON = 13, 11


def unit(*values):
    """A (n, 8) batch of kernels from ``values`` rows padded with zeros."""
    k = torch.zeros(len(values), 8)
    for i, v in enumerate(values):
        k[i, :len(v)] = torch.as_tensor(v, dtype=torch.float32)
    return k


A, B, C = (1, 0, 0), (0, 1, 0), (0, 0, 1)


def labels(*cls):
    return torch.as_tensor(cls, dtype=torch.long)


def test_repeated_frame_keeps_every_id():
    tr = KernelTracker()
    first = tr.update(unit(A, B, C), labels(CAR, CAR, PERSON))
    assert first.tolist() == [1, 2, 1]  # ids count per class
    second = tr.update(unit(A, B, C), labels(CAR, CAR, PERSON))
    assert second.tolist() == first.tolist()


def test_permuted_candidates_keep_their_objects_ids():
    tr = KernelTracker()
    first = tr.update(unit(A, B, C, (1, 1, 0)), labels(CAR, CAR, CAR, CAR))
    perm = [2, 0, 3, 1]
    second = tr.update(unit(A, B, C, (1, 1, 0))[perm], labels(CAR, CAR, CAR, CAR))
    assert second.tolist() == first[perm].tolist()


def test_birth_and_death():
    tr = KernelTracker(memory=1)
    assert tr.update(unit(A, B), labels(CAR, CAR)).tolist() == [1, 2]
    # C is born, B is unseen
    assert tr.update(unit(A, C), labels(CAR, CAR)).tolist() == [1, 3]
    assert sorted(tr.live_ids) == [(CAR, 1), (CAR, 3)]
    # B returns after its track ended (memory 1): a new id, never an old one
    assert tr.update(unit(B, A, C), labels(CAR, CAR, CAR)).tolist() == [4, 1, 3]


def test_two_same_class_objects_crossing_keep_their_ids():
    """The kernels follow the objects while their masks swap places; without IoU the
    position does not matter, with a small IoU weight the kernels still win."""
    a, b = torch.tensor([[1.0, 0.2, 0, 0]]), torch.tensor([[0.2, 1.0, 0, 0]])
    h, w = 8, 16
    for iou_weight in (0.0, 0.3):
        tr = KernelTracker(iou_weight=iou_weight)
        ids = []
        for x in (0, 4, 8):  # a moves right, b moves left; they cross at x = 4
            ma, mb = torch.zeros(h, w, dtype=torch.bool), torch.zeros(h, w, dtype=torch.bool)
            ma[:, x:x + 8] = True
            mb[:, 8 - x:16 - x] = True
            noise = 0.05 * torch.randn(2, 4, generator=torch.Generator().manual_seed(x))
            ids.append(tr.update(torch.cat([b, a]) + noise, labels(CAR, CAR),
                                 masks=torch.stack([mb, ma])).tolist())
        assert ids == [[1, 2]] * 3, (iou_weight, ids)


def test_class_change_is_never_matched():
    tr = KernelTracker(match_thr=-1.0)  # any similarity matches, but not across classes
    assert tr.update(unit(A), labels(CAR)).tolist() == [1]
    assert tr.update(unit(A), labels(PERSON)).tolist() == [1]  # a new person track
    assert sorted(tr.live_ids) == [(PERSON, 1), (CAR, 1)]
    assert tr.update(unit(A), labels(CAR)).tolist() == [1]  # the car's track again
    assert tr.update(unit(A, A), labels(PERSON, CAR)).tolist() == [1, 1]


def test_memory_expiry():
    tr = KernelTracker(memory=3)
    assert tr.update(unit(A), labels(CAR)).tolist() == [1]
    for _ in range(2):  # unseen in frames 1 and 2
        assert tr.update(unit(B), labels(PERSON)).tolist() == [1]
    assert tr.update(unit(A), labels(CAR)).tolist() == [1]  # 3 frames after: kept
    for _ in range(3):
        tr.update(unit(B), labels(PERSON))
    assert tr.update(unit(A), labels(CAR)).tolist() == [2]  # 4 frames after: ended


def test_dissimilar_kernel_of_the_same_class_starts_a_track():
    tr = KernelTracker(match_thr=0.5)
    tr.update(unit(A), labels(CAR))
    # cos = 0.6 matches, cos = 0.45 does not
    assert tr.update(unit((0.6, 0.8)), labels(CAR)).tolist() == [1]
    tr.reset()
    tr.update(unit(A), labels(CAR))
    assert tr.update(unit((0.45, 0.893)), labels(CAR)).tolist() == [2]


def test_momentum_update_of_the_track_embedding():
    tr = KernelTracker(momentum=0.75)
    tr.update(unit(A), labels(CAR))
    tr.update(unit((1, 1)), labels(CAR))  # cos 0.71: matched, embedding moves a quarter
    expected = torch.nn.functional.normalize(
        0.75 * torch.tensor([1.0, 0]) + 0.25 * torch.tensor([1.0, 1]) / 2 ** 0.5, dim=0)
    assert torch.allclose(tr.tracks[0].embedding[:2], expected, atol=1e-6)


def test_low_score_segments_get_ids_but_start_no_track():
    tr = KernelTracker(init_score_thr=0.5)
    ids = tr.update(unit(A, B), labels(CAR, CAR), scores=torch.tensor([0.9, 0.2]))
    assert ids.tolist() == [1, 2] and tr.live_ids == [(CAR, 1)]
    assert tr.update(unit(A, B), labels(CAR, CAR),
                     scores=torch.tensor([0.9, 0.6])).tolist() == [1, 3]


def test_ids_are_stable_and_unique_within_a_sequence():
    """A random walk of 6 objects (3 per class) over 30 frames, each frame showing a random
    subset in random order: an object keeps its id while its track lives, no two objects
    share an id, and the ids of a frame are unique per class."""
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(6, 16, generator=g), dim=1)
    cls = labels(CAR, CAR, CAR, PERSON, PERSON, PERSON)
    tr = KernelTracker(memory=30, match_thr=0.7)
    owner = {}
    for _ in range(30):
        shown = torch.randperm(6, generator=g)[:int(torch.randint(1, 7, (1, ), generator=g))]
        k = base[shown] + 0.05 * torch.randn(len(shown), 16, generator=g)
        ids = tr.update(k, cls[shown])
        keys = [(int(cls[o]), int(i)) for o, i in zip(shown, ids)]
        assert len(set(keys)) == len(keys)
        for o, key in zip(shown.tolist(), keys):
            assert owner.setdefault(key, o) == o  # an id always names the same object
    assert len(owner) == 6  # memory covers the sequence: every object has one id


def test_ids_wrap_around_below_the_label_divisor_skipping_taken_ones():
    tr = KernelTracker(max_track_id=4, memory=1)
    assert tr.update(unit(A, B, C), labels(CAR, CAR, CAR)).tolist() == [1, 2, 3]
    assert tr.update(unit(A), labels(CAR)).tolist() == [1]  # B and C end
    # two new cars wrap around to the free ids 2 and 3 (1 is A's)
    d, e = (0, 0, 0, 1), (0, 0, 0, 0, 1)
    assert tr.update(unit(A, d, e), labels(CAR, CAR, CAR)).tolist() == [1, 2, 3]
    with pytest.raises(RuntimeError, match='held by live tracks'):
        tr.update(unit(A, d, e, C), labels(CAR, CAR, CAR, CAR))
    # low-score segments start no track but their ids are still unique in the frame
    tr = KernelTracker(max_track_id=3, init_score_thr=0.5)
    ids = tr.update(unit(A, B), labels(CAR, CAR), scores=torch.tensor([0.1, 0.1]))
    assert ids.tolist() == [1, 2]


def test_mask_iou_separates_objects_with_equal_kernels():
    h, w = 8, 16
    left, right = torch.zeros(h, w, dtype=torch.bool), torch.zeros(h, w, dtype=torch.bool)
    left[:, :6], right[:, 10:] = True, True
    shifted_left = torch.roll(left, 1, dims=1)
    tr = KernelTracker(iou_weight=0.5)
    assert tr.update(unit(A, A), labels(CAR, CAR),
                     masks=torch.stack([left, right])).tolist() == [1, 2]
    assert tr.update(unit(A, A), labels(CAR, CAR),
                     masks=torch.stack([right, shifted_left])).tolist() == [2, 1]
    with pytest.raises(ValueError, match='needs the segment masks'):
        tr.update(unit(A), labels(CAR))


def test_bad_settings_are_refused():
    for kw in (dict(memory=0), dict(momentum=1.0), dict(iou_weight=1.5),
               dict(max_track_id=1)):
        with pytest.raises(ValueError, match='KernelTracker'):
            KernelTracker(**kw)


def fake_prediction(seq_id, kernels, thing_labels, boxes, h=8, w=16, divisor=1000):
    """A fusion-head-like prediction: stuff class 0 (road) everywhere, thing i (instance
    number i + 1 in paste order) on its box (y0, y1, x0, x1), void in the last row."""
    pan = torch.zeros(1, h, w, dtype=torch.long)
    pan[0, -1] = 255 * divisor
    n = len(thing_labels)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        pan[0, y0:y1, x0:x1] = thing_labels[i] * divisor + i + 1
    segs = InstanceData()
    segs.ids = torch.tensor([c * divisor + i + 1 for i, c in enumerate(thing_labels)] + [0])
    segs.labels = torch.tensor(list(thing_labels) + [0])
    segs.scores = torch.ones(n + 1)
    segs.is_thing = torch.tensor([True] * n + [False])
    segs.areas = torch.stack([(pan[0] == i).sum() for i in segs.ids.tolist()])
    segs.kernels = torch.cat([kernels, torch.zeros(1, kernels.shape[1])])
    ds = DetDataSample(metainfo=dict(seq_id=seq_id))
    ds.pred_panoptic_seg = PixelData(sem_seg=pan)
    ds.pred_segments = segs
    return ds


def test_track_sample_rewrites_map_and_segment_ids_and_resets_between_sequences():
    tr = TASK_UTILS.build(dict(type='KernelTracker'))
    boxes = [(0, 3, 0, 4), (3, 6, 8, 12), (0, 2, 12, 16)]
    f0 = fake_prediction('s0', unit(A, B, C), (CAR, CAR, PERSON), boxes)
    tr.track_sample(f0, 1000)
    # frame 1: the same objects pasted in another order (so other instance numbers)
    f1 = fake_prediction('s0', unit(C, B, A), (PERSON, CAR, CAR), boxes)
    before = f1.pred_panoptic_seg.sem_seg.clone()
    tr.track_sample(f1, 1000)
    pan = f1.pred_panoptic_seg.sem_seg[0]
    assert f1.pred_segments.ids.tolist() == [11001, 13002, 13001, 0]
    assert pan[0, 0] == 11001 and pan[3, 8] == 13002 and pan[0, 12] == 13001
    unchanged = before[0] % 1000 == 0  # stuff and void keep their ids
    assert torch.equal(pan[unchanged], before[0][unchanged])
    assert set(pan.unique().tolist()) == {0, 11001, 13001, 13002, 255000}
    # a new sequence: ids from 1 again, nothing carried over
    f2 = fake_prediction('s1', unit(B), (CAR, ), [(0, 2, 0, 2)])
    tr.track_sample(f2, 1000)
    assert f2.pred_segments.ids.tolist() == [13001, 0] and tr.sequence == 's1'
    assert tr.live_ids == [(CAR, 1)]


def test_thing_segment_without_pixels_is_dropped_not_tracked():
    tr = KernelTracker()
    ds = fake_prediction('s', unit(A, B), (CAR, CAR), [(0, 2, 0, 2), (0, 2, 0, 2)])
    # the second car was pasted and then lost every pixel to the first
    tr.track_sample(ds, 1000)
    assert ds.pred_segments.ids.tolist() == [13001, 0] and len(tr.tracks) == 1


def test_detector_builds_the_tracker_from_test_cfg_off_by_default():
    from mmengine.config import Config

    from mmpdepth.registry import MODELS
    cfg = Config.fromfile('configs/panopticdepth/'
                          'panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py').model
    assert MODELS.build(cfg).tracker is None
    cfg.test_cfg.tracker = dict(type='KernelTracker', memory=2)
    tr = MODELS.build(cfg).tracker
    assert isinstance(tr, KernelTracker) and tr.memory == 2 and tr.max_track_id == 256
    cfg.test_cfg.tracker.max_track_id = 5000  # capped at the label divisor
    assert MODELS.build(cfg).tracker.max_track_id == 1000


def test_track_sample_with_mask_iou_follows_the_boxes_of_equal_kernels():
    """Two cars with the same kernel: only the IoU with their last masks (from the panoptic
    map, at 1/4 resolution) tells them apart, whatever their paste order."""
    tr = KernelTracker(iou_weight=0.5)
    left, right = (0, 8, 0, 8), (0, 8, 8, 16)
    f0 = fake_prediction('s', unit(A, A), (CAR, CAR), [left, right], h=16, w=32)
    tr.track_sample(f0, 1000)
    moved = (0, 8, 1, 9)  # the left car moved right by one pixel, pasted second now
    f1 = fake_prediction('s', unit(A, A), (CAR, CAR), [right, moved], h=16, w=32)
    tr.track_sample(f1, 1000)
    assert f0.pred_segments.ids.tolist() == [13001, 13002, 0]
    assert f1.pred_segments.ids.tolist() == [13002, 13001, 0]
    assert f1.pred_panoptic_seg.sem_seg[0, 0, 1] == 13001
