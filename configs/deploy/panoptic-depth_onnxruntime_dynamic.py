# Same as the static config, with dynamic batch, height and width (multiples of 32).
_base_ = ['./panoptic-depth_onnxruntime_static.py']
onnx_config = dict(
    dynamic_axes=dict(input=dict({0: 'batch', 2: 'height', 3: 'width'})))
