# The dynamic config (batch, height and width) with each DCNv2 layer exported as one standard
# ONNX DeformConv node (opset 19): ONNX Runtime >= 1.25 runs it with its own DeformConv kernel.
_base_ = ['./panoptic-depth_onnxruntime_dynamic.py']
onnx_config = dict(opset_version=19)
codebase_config = dict(dcn_export_form='deform_conv')
