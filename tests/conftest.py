import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('MPLBACKEND', 'Agg')


@pytest.fixture(autouse=True, scope='session')
def mmdet_default_scope():
    """Build components from mmdet's registries, as configs with default_scope='mmdet' do."""
    import mmpdepth  # noqa: F401  (registers everything)
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    yield
