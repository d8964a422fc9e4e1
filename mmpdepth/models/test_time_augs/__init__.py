from .dps_tta_model import DPSTTAModel

__all__ = ['DPSTTAModel']
