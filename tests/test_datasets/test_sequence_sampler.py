"""SequenceSampler: whole sequences per rank, every frame once, in order."""
import pytest

from mmpdepth.datasets.samplers import SequenceSampler
from mmpdepth.datasets.samplers import sequence_sampler as module
from mmpdepth.registry import DATA_SAMPLERS


class Frames:
    """A dataset stand-in: ``get_data_info(i)['seq_id']`` from a list."""

    def __init__(self, seq_ids):
        self.seq_ids = list(seq_ids)

    def __len__(self):
        return len(self.seq_ids)

    def get_data_info(self, i):
        return dict(seq_id=self.seq_ids[i])


def split(dataset, world_size, monkeypatch):
    parts = []
    for rank in range(world_size):
        monkeypatch.setattr(module, 'get_dist_info', lambda r=rank: (r, world_size))
        parts.append(list(SequenceSampler(dataset)))
    return parts


@pytest.mark.parametrize('world_size', [1, 2, 3, 4])
def test_ranks_get_whole_sequences_in_order_and_every_frame_once(world_size, monkeypatch):
    # Cityscapes-DVPS-like: 6-frame sequences, plus a long drive and a short one
    seqs = [f'{s:06d}' for s in range(7) for _ in range(6)] + ['drive'] * 20 + ['tail'] * 3
    ds = Frames(seqs)
    parts = split(ds, world_size, monkeypatch)
    assert sum(parts, []) == list(range(len(seqs)))  # contiguous blocks, rank order
    for part in parts:
        for s in {seqs[i] for i in part}:  # a rank holds all of a sequence or none
            assert [i for i in part if seqs[i] == s] == [i for i, x in enumerate(seqs) if x == s]
    if world_size == 2:
        assert [len(p) for p in parts] == [30, 35]  # balanced up to one sequence
    assert len(SequenceSampler(ds)) == len(list(SequenceSampler(ds)))


def test_frames_without_sequence_ids_are_split_like_single_frames(monkeypatch):
    parts = split(Frames([None] * 5), 2, monkeypatch)
    assert parts == [[0, 1], [2, 3, 4]]


def test_registered_for_dataloader_configs():
    sampler = DATA_SAMPLERS.build(dict(type='SequenceSampler', dataset=Frames(['a', 'a', 'b'])))
    assert list(sampler) == [0, 1, 2]
    sampler.set_epoch(3)  # no-op, as the loops call it
