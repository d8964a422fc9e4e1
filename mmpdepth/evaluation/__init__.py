from .functional import *  # noqa: F401,F403
from .metrics import DPQMetric

__all__ = ['DPQMetric']
