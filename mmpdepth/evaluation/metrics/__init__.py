from .dpq_metric import DPQMetric

__all__ = ['DPQMetric']
