"""Test-time sampling that keeps the frames of a video sequence together and in order."""
from typing import Iterator, List, Sized

from mmengine.dist import get_dist_info
from torch.utils.data import Sampler

from mmpdepth.registry import DATA_SAMPLERS


def sequence_runs(dataset: Sized) -> List[List[int]]:
    """Dataset indices grouped into runs of consecutive frames with the same ``seq_id``
    (a frame without one is a run of its own)."""
    runs: List[List[int]] = []
    last = object()
    for i in range(len(dataset)):
        seq = dataset.get_data_info(i).get('seq_id')
        if seq is None or seq != last or not runs:
            runs.append([])
        runs[-1].append(i)
        last = seq
    return runs


@DATA_SAMPLERS.register_module()
class SequenceSampler(Sampler):
    """Whole sequences to each rank, in dataset order (for video inference and DVPQ).

    mmengine's ``DefaultSampler`` deals frames to ranks in turn, so no rank sees two
    consecutive frames of a sequence. This sampler gives each rank a contiguous block of
    whole sequences (a sequence goes to the rank that holds its middle frame of the set,
    which balances frames up to one sequence), with no padding: every frame is predicted
    once. On one process it yields ``0 .. len(dataset) - 1``.

    Args:
        dataset: a dataset whose ``get_data_info(i)`` has ``seq_id`` (the DVPS datasets).
        seed: unused (the order is fixed); accepted like ``DefaultSampler``'s.
    """

    def __init__(self, dataset: Sized, seed=None) -> None:
        rank, world_size = get_dist_info()
        runs = sequence_runs(dataset)
        total = sum(len(r) for r in runs)
        self.indices: List[int] = []
        start = 0
        for run in runs:
            owner = min(world_size - 1, int((start + len(run) / 2) * world_size / total))
            if owner == rank:
                self.indices += run
            start += len(run)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Nothing to shuffle."""
