# Alias of the Cityscapes-DPS model (Swin-S); see configs/panopticdepth/README.md.
_base_ = './panopticdepth/panopticdepth_swin-s_fpn_8xb1-10k_cityscapes-dps.py'
