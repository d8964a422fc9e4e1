"""mmdeploy backend model: runs the exported graph, then thresholds, fusion and merge in Python."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmdeploy.codebase.base import BaseBackendModel
from mmdeploy.codebase.mmdet.deploy import object_detection_model
from mmdeploy.utils import Backend
from mmengine import Config
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement
from torch import nn

from mmpdepth.models.detectors.panoptic_depth import (fuse_and_add_predictions,
                                                     merge_head_cfgs)
from mmpdepth.registry import MODELS
from .candidate_io import unflatten_candidates

# mmdeploy's registry of mmdet backend models (``codebase_config.model_type`` picks one)
_BACKEND_MODELS = getattr(object_detection_model, '__BACKEND_MODEL')


@_BACKEND_MODELS.register_module('panoptic_depth')
class PanopticDepthBackendModel(BaseBackendModel):
    """PanopticDepth on an inference backend (ONNX Runtime), same outputs as PyTorch.

    The backend returns the fixed-size candidates (see ``panoptic_depth_rewriter``); the head's
    :meth:`predict_by_candidates` and the fusion head's ``predict`` — the same code PyTorch runs
    — make ``pred_panoptic_seg``, ``pred_depth_map``, ``pred_instances`` and ``pred_segments``.
    Their modules are built from ``model_cfg`` only for their settings: no PyTorch weights are
    used.

    Args:
        backend (Backend): e.g. ``Backend.ONNXRUNTIME``.
        backend_files (Sequence[str]): e.g. ``['end2end.onnx']``.
        device (str): 'cpu' or 'cuda:0'.
        deploy_cfg, model_cfg (str | Config): deploy and model configs.
        data_preprocessor (dict | nn.Module): the model's data preprocessor.
    """

    def __init__(self,
                 backend: Backend,
                 backend_files: Sequence[str],
                 device: str,
                 deploy_cfg: Union[str, Config],
                 model_cfg: Union[str, Config],
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 **kwargs) -> None:
        init_default_scope('mmdet')
        if isinstance(model_cfg, str):
            model_cfg = Config.fromfile(model_cfg)
        super().__init__(deploy_cfg=deploy_cfg, data_preprocessor=data_preprocessor)
        self.deploy_cfg = deploy_cfg
        self.model_cfg = model_cfg
        self.device = device
        if backend == Backend.ONNXRUNTIME and str(device).startswith('cpu'):
            self.wrapper = ORTSessionRunner(backend_files[0])
        else:
            # output_names=None: fetch every graph output, keyed by its name
            self.wrapper = BaseBackendModel._build_wrapper(
                backend=backend, backend_files=backend_files, device=device,
                input_names=[self.input_name], output_names=None, deploy_cfg=deploy_cfg)
        det = model_cfg.model
        head_cfg, fusion_cfg = merge_head_cfgs(det.panoptic_head, det.panoptic_fusion_head,
                                               test_cfg=det.get('test_cfg'))
        self.head = MODELS.build(head_cfg).eval()
        self.fusion_head = MODELS.build(fusion_cfg).eval()

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor, data_samples: List[BaseDataElement],
                mode: str = 'predict', rescale: bool = True, **kwargs) -> list:
        """Preprocessed (B, 3, H, W) images -> the data samples with predictions set."""
        if mode != 'predict':
            raise ValueError(f"a deployed model only supports mode='predict', got {mode!r}")
        outputs = self.wrapper({self.input_name: inputs.contiguous()})
        outputs = {k: v.to(self.device) for k, v in outputs.items()}
        head_results = self.head.predict_by_candidates(unflatten_candidates(outputs))
        return fuse_and_add_predictions(self.fusion_head, head_results, data_samples, rescale)


class ORTSessionRunner:
    """ONNX Runtime CPU session that shares the machine with the Python post-processing.

    mmdeploy's ``ORTWrapper`` keeps ONNX Runtime's default thread spinning, so its idle worker
    threads keep the cores busy while PyTorch runs the merge afterwards (measured: the
    post-processing took 4x longer). Here spinning is off and ONNX Runtime uses as many
    threads as torch. mmdeploy's custom-op library is registered when present (graphs exported
    below opset 16 use its ``grid_sampler``).

    Args:
        onnx_file (str): the exported graph.
    """

    def __init__(self, onnx_file: str) -> None:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
        from mmdeploy.backend.onnxruntime.init_plugins import get_ops_path
        ops = get_ops_path()
        if ops and osp.exists(ops):
            opts.register_custom_ops_library(ops)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.onnx_file = onnx_file
        self.sess = ort.InferenceSession(onnx_file, opts, providers=['CPUExecutionProvider'])
        self.output_names = [o.name for o in self.sess.get_outputs()]
        self.input_shapes = {i.name: i.shape for i in self.sess.get_inputs()}

    def __call__(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """{input name: tensor} -> {output name: tensor}, every graph output.

        Raises ``ValueError`` naming the graph when an input's size differs from a static
        graph's fixed size (ONNX Runtime would stop with an INVALID_ARGUMENT traceback)."""
        for name, t in inputs.items():
            want = self.input_shapes.get(name)
            if want is None:
                continue
            fixed = [(i, d) for i, d in enumerate(want) if i > 0 and isinstance(d, int)]
            if any(i < t.dim() and t.shape[i] != d for i, d in fixed):
                raise ValueError(
                    f'{self.onnx_file}: a static export takes input {name!r} of shape '
                    f'{list(want)} only; this image gives {list(t.shape)} after the test '
                    'pipeline (export with configs/deploy/panoptic-depth_onnxruntime_dynamic.py '
                    'for other sizes, or resize the image)')
        feeds = {k: v.detach().cpu().contiguous().numpy() for k, v in inputs.items()}
        outs = self.sess.run(None, feeds)
        return {k: torch.from_numpy(v) for k, v in zip(self.output_names, outs)}
