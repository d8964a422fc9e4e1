import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('MPLBACKEND', 'Agg')
# large CPU tensors on huge pages, as the tools do (mmpdepth.utils.cli.use_cpu_huge_pages)
os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')


@pytest.fixture(autouse=True, scope='session')
def mmdet_default_scope():
    """Build components from mmdet's registries, as configs with default_scope='mmdet' do."""
    import mmpdepth  # noqa: F401  (registers everything)
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    yield


@pytest.fixture(scope='session')
def tiny_synthetic_root(tmp_path_factory):
    """A small synthetic DPS set (1 train + 1 val sequence of 2 frames, 128x256) for the tools'
    tests on the tiny config."""
    from mmpdepth.datasets.synthetic import write_synthetic_dps
    root = str(tmp_path_factory.mktemp('synth'))
    write_synthetic_dps(root, num_train_seqs=1, num_val_seqs=1, frames_per_seq=2, height=128,
                        width=256, seed=5)
    return root
