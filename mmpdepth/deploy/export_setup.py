"""What an mmdeploy export of a PanopticDepth model needs around ``mmdeploy.apis``."""
import contextlib
import functools
import inspect
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple, Union

import torch
from mmengine import Config

from mmpdepth.apis.dps_inferencer import ANNOTATION_LOADERS
from .candidate_io import flatten_candidates


@contextlib.contextmanager
def legacy_onnx_exporter() -> Iterator[None]:
    """Make ``torch.onnx.export`` use the TorchScript (legacy) exporter inside the block.

    mmdeploy 1.3.1 exports through function rewriters that only the tracing exporter honours;
    torch >= 2.9 defaults to the dynamo exporter (``dynamo=True``), which ignores them and
    fails on the model. Only this block is affected; the original function is restored after.
    """
    original = torch.onnx.export
    if 'dynamo' not in inspect.signature(original).parameters:
        yield  # an old torch: legacy is the only exporter
        return
    torch.onnx.export = functools.partial(original, dynamo=False)
    try:
        yield
    finally:
        torch.onnx.export = original


def deploy_model_cfg(model_cfg: Config) -> Config:
    """A copy of ``model_cfg`` whose test pipeline loads no annotations (deploy inputs are bare
    images); mmdeploy only removes mmdet's ``LoadAnnotations``."""
    cfg = model_cfg.copy()
    steps = [t for t in cfg.test_dataloader.dataset.pipeline
             if t['type'].split('.')[-1] not in ANNOTATION_LOADERS]
    cfg.test_dataloader.dataset.pipeline = steps
    cfg.test_pipeline = steps
    return cfg


def candidate_output_names(model: torch.nn.Module) -> List[str]:
    """Graph output names of ``model`` (a built PanopticDepth), from a 64x64 dry run."""
    with torch.no_grad():
        x = torch.zeros(1, 3, 64, 64, device=next(model.parameters()).device)
        outs = model.panoptic_head(model.extract_feat(x))
        return list(flatten_candidates(model.panoptic_head.candidates_by_feat(outs)))


def export_onnx(deploy_cfg: Union[str, Config], model_cfg: Union[str, Config],
                checkpoint: Optional[str], img: str, work_dir: str,
                device: str = 'cpu') -> Tuple[object, torch.nn.Module, str]:
    """Export with ``mmdeploy.apis.torch2onnx`` the way mmpdepth needs it.

    Prepares the model config (:func:`deploy_model_cfg`), sets the graph output names from
    the model (:func:`candidate_output_names`) and exports under
    :func:`legacy_onnx_exporter`, with ``img`` as the example input.

    Returns:
        tuple: (mmdeploy task processor, the PyTorch model, path of ``end2end.onnx``).
    """
    from mmdeploy.apis import build_task_processor, torch2onnx
    from mmdeploy.utils import load_config

    from .panoptic_depth_rewriter import dcn_export_form_of

    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    dcn_export_form_of(deploy_cfg)  # a bad form / opset pair fails before the model is built
    model_cfg = deploy_model_cfg(model_cfg)
    os.makedirs(work_dir, exist_ok=True)
    task = build_task_processor(model_cfg, deploy_cfg, device)
    torch_model = task.build_pytorch_model(checkpoint).eval()
    deploy_cfg.onnx_config.output_names = candidate_output_names(torch_model)
    deploy_cfg.onnx_config.save_file = 'end2end.onnx'
    with legacy_onnx_exporter():
        torch2onnx(img, work_dir, 'end2end.onnx', deploy_cfg, model_cfg, checkpoint, device)
    return task, torch_model, osp.join(work_dir, 'end2end.onnx')
