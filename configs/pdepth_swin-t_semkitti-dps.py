# Alias of the SemKITTI-DPS model (Swin-T); see configs/panopticdepth/README.md.
_base_ = './panopticdepth/panopticdepth_swin-t_fpn_8xb1-10k_semkitti-dps.py'
