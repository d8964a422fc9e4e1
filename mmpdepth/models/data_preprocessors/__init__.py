from .dps_data_preprocessor import DPSDataPreprocessor

__all__ = ['DPSDataPreprocessor']
