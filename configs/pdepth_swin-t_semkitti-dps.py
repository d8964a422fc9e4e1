# Alias of the SemKITTI-DPS model (Swin-T); see configs/panopticdepth/README.md.
_base_ = './panopticdepth/panopticdepth_swin-t_fpn_10kx8_semkitti-dps.py'
