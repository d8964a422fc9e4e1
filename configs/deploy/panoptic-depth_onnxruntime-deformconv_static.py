# Same as the static config, with each DCNv2 layer exported as one standard ONNX DeformConv node
# (opset 19) instead of MatMul + 36 Gather rows: a much smaller graph that ONNX Runtime >= 1.25
# runs with its own DeformConv kernel (CPU and CUDA). Older ONNX Runtime cannot load it.
_base_ = ['./panoptic-depth_onnxruntime_static.py']
onnx_config = dict(opset_version=19)
codebase_config = dict(dcn_export_form='deform_conv')
