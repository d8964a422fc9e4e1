from .panopticdepth_d2 import convert_key, convert_state_dict

__all__ = ['convert_key', 'convert_state_dict']
