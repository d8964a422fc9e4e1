from .dps_inferencer import DPSInferencer, inference_dps, init_model
from .point_cloud import backproject, default_intrinsics, read_ply, write_ply

__all__ = ['DPSInferencer', 'inference_dps', 'init_model', 'backproject', 'default_intrinsics',
           'read_ply', 'write_ply']
