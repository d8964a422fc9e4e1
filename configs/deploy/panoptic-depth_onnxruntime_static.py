# mmdeploy deploy config: PanopticDepth -> ONNX (opset 17) -> ONNX Runtime, static shape.
# The graph is exported at the size of the image given to tools/deployment/deploy.py (after the
# model's test pipeline and padding to 32) and only accepts that size.
# Outputs: fixed-size candidates (mmpdepth/deploy/candidate_io.py); deploy.py fills
# onnx_config.output_names from the model (the list below is the one of a 5-level DPS model).
_levels = 5
_fields = ('thing_scores', 'thing_index', 'thing_classes', 'thing_kernels', 'thing_depth_kernels',
           'stuff_scores', 'stuff_kernels', 'stuff_depth_kernels')
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=17,  # GridSample (the DCNv2 sampling) needs >= 16
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['mask_embed', 'depth_embed'] +
    [f'l{i}_{f}' for i in range(_levels) for f in _fields],
    input_shape=None,
    optimize=False)
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='panoptic_depth',  # mmpdepth.deploy.PanopticDepthBackendModel
    module=['mmpdepth.deploy'])
backend_config = dict(type='onnxruntime')
