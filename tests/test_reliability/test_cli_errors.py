"""One-line error messages of the tools."""
import pytest


def test_dataloader_worker_errors_become_one_line(tmp_path):
    """A bad file read in a DataLoader worker: one line with the file and the problem, not the
    worker's traceback (real configs load with workers)."""
    import torch.utils.data as tud

    from mmpdepth.utils.cli import error_message

    class Bad(tud.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            raise ValueError(f'{tmp_path}/x_depth.png: depth must be a single-channel 16-bit PNG')

    with pytest.raises(ValueError) as info:
        next(iter(tud.DataLoader(Bad(), num_workers=1)))
    assert 'Original Traceback' in str(info.value)
    assert error_message(info.value) == \
        f'{tmp_path}/x_depth.png: depth must be a single-channel 16-bit PNG'
