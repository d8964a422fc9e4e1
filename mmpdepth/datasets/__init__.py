from .base_dps_dataset import BaseDPSDataset
from .cityscapes_dps import CityscapesDPSDataset
from .cityscapes_panoptic import CityscapesPanopticDataset
from .samplers import SequenceSampler
from .semkitti_dps import SemKITTIDPSDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['BaseDPSDataset', 'CityscapesDPSDataset', 'CityscapesPanopticDataset',
           'SemKITTIDPSDataset', 'SequenceSampler']
