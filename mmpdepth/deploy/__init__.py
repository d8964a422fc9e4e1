"""ONNX deployment through mmdeploy: load with ``codebase_config.module=['mmpdepth.deploy']``.

* :mod:`.panoptic_depth_rewriter` — the exported graph ends at fixed-size candidates;
* :class:`PanopticDepthBackendModel` (``codebase_config.model_type='panoptic_depth'``) — runs
  the backend, then the same Python post-processing as PyTorch;
* :mod:`.grid_sample_symbolic` — ``grid_sample`` as the standard ONNX ``GridSample``;
* :mod:`.export_setup` — legacy-exporter switch and config preparation used by
  ``tools/deployment/deploy.py``.
"""
import mmpdepth  # noqa: F401  (registers the models)
from . import grid_sample_symbolic, panoptic_depth_rewriter  # noqa: F401
from .candidate_io import flatten_candidates, unflatten_candidates
from .export_setup import (candidate_output_names, deploy_model_cfg, export_onnx,
                           legacy_onnx_exporter)
from .panoptic_depth_backend_model import PanopticDepthBackendModel
from .parity import prediction_agreement, pytorch_candidates, raw_tensor_errors

__all__ = [
    'flatten_candidates', 'unflatten_candidates', 'candidate_output_names', 'deploy_model_cfg',
    'export_onnx',
    'legacy_onnx_exporter', 'PanopticDepthBackendModel', 'prediction_agreement',
    'pytorch_candidates', 'raw_tensor_errors'
]
