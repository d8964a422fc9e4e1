# Alias of the Cityscapes-DPS model (ResNet-50 (caffe style, as the official code)); see
# configs/panopticdepth/README.md.
_base_ = './panopticdepth/panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py'
