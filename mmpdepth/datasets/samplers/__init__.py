from .sequence_sampler import SequenceSampler

__all__ = ['SequenceSampler']
