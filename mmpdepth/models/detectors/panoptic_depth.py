"""PanopticDepth detector: backbone -> FPN (P2-P7) -> kernel producer head -> fusion head."""
from typing import Dict, List, Optional, Tuple

from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.logging import print_log
import torch
from torch import Tensor

from mmpdepth.registry import MODELS, TASK_UTILS
from ..layers.precision import inference_autocast, resolve_precision, to_float32


@MODELS.register_module()
class PanopticDepth(BaseDetector):
    """Depth-aware panoptic segmentation with instance-wise mask and depth kernels
    (Gao et al., CVPR 2022).

    Args:
        backbone (dict): e.g. mmdet ``ResNet`` (caffe style for the official weights) or
            ``SwinTransformer``.
        neck (dict): mmdet ``FPN`` giving P2-P7 (``num_outs=6``, ``add_extra_convs='on_output'``,
            ``relu_before_extra_convs=True``: P6 from the P5 output, ReLU before P7).
        panoptic_head (dict): :class:`PanopticDepthHead`.
        panoptic_fusion_head (dict): :class:`PanopticDepthFusionHead`.
        train_cfg / test_cfg (dict): passed to the heads (``test_cfg['head']`` /
            ``test_cfg['fusion']``); ``test_cfg['precision']`` is the inference precision
            (:attr:`precision`); ``test_cfg['channels_last']`` (True / False / 'auto', default
            'auto' = on CPU) runs inference on a channels-last input, which oneDNN's
            convolutions take without reordering; ``test_cfg['tracker']`` (optional) a
            :class:`KernelTracker`
            giving thing segments track ids over the frames of a sequence.
        data_preprocessor (dict): :class:`DPSDataPreprocessor`.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 panoptic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        panoptic_head, panoptic_fusion_head = merge_head_cfgs(panoptic_head, panoptic_fusion_head,
                                                              train_cfg, test_cfg)
        self.panoptic_head = MODELS.build(panoptic_head)
        self.panoptic_fusion_head = MODELS.build(panoptic_fusion_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        tracker = dict(test_cfg or {}).get('tracker')
        # video: thing ids become track ids (off by default, see KernelTracker)
        divisor = self.panoptic_fusion_head.test_cfg['label_divisor']
        self.tracker = TASK_UTILS.build(
            dict(tracker, max_track_id=min(tracker.get('max_track_id', 256), divisor))
        ) if tracker else None

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """(B, 3, H, W) -> FPN outputs P2..P7."""
        return self.neck(self.backbone(batch_inputs))

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        return self.panoptic_head.loss(self.extract_feat(batch_inputs), batch_data_samples)

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Predictions at the original image size (``rescale=False`` keeps the input size).

        Sets ``pred_panoptic_seg`` (ids ``class * label_divisor + instance``),
        ``pred_depth_map`` (metres), ``pred_instances`` and ``pred_segments`` on each sample.
        """
        head_results = self.predict_heads(batch_inputs, batch_data_samples)
        samples = fuse_and_add_predictions(self.panoptic_fusion_head, head_results,
                                           batch_data_samples, rescale)
        return self.track(samples)

    def track(self, data_samples: SampleList) -> SampleList:
        """With ``test_cfg.tracker``: thing ids -> track ids, frame by frame in batch order (a
        new ``seq_id`` starts a new sequence). Without: the samples unchanged."""
        if self.tracker is not None:
            divisor = self.panoptic_fusion_head.test_cfg['label_divisor']
            for ds in data_samples:
                self.tracker.track_sample(ds, divisor)
        return data_samples

    @property
    def precision(self) -> str:
        """The resolved inference precision (``test_cfg.precision``: fp32 / bf16 / fp16 /
        auto, default fp32); resolved once per device (auto measures, see
        :func:`resolve_precision`)."""
        asked = dict(self.test_cfg or {}).get('precision', 'fp32')
        device = next(self.parameters()).device.type
        if getattr(self, '_precision_key', None) != (asked, device):
            self._precision = resolve_precision(asked, device)
            self._precision_key = (asked, device)
            if asked != 'fp32':
                print_log(f'inference precision: {self._precision} (asked: {asked}, device: '
                          f'{device})', logger='current')
        return self._precision

    def _channels_last(self, device: str) -> bool:
        """``test_cfg.channels_last`` resolved for ``device`` ('auto': on CPU only, where it
        made the R-50 backbone ~25 % faster at 1024x2048)."""
        value = dict(self.test_cfg or {}).get('channels_last', 'auto')
        if value not in (True, False, 'auto'):
            raise ValueError(f"test_cfg.channels_last must be True, False or 'auto', got "
                             f'{value!r}')
        return device == 'cpu' if value == 'auto' else bool(value)

    def predict_heads(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> List[dict]:
        """Per-image head results (thing / stuff candidates, embeddings) in float32.

        Backbone, FPN, towers and embeddings run at :attr:`precision` (autocast); what decides
        segments and depth (thresholds, kernel fusion, dynamic convs, the merge) runs in fp32.
        """
        device = batch_inputs.device.type
        if self._channels_last(device):
            batch_inputs = batch_inputs.contiguous(memory_format=torch.channels_last)
        with inference_autocast(self.precision, device):
            outs = self.panoptic_head(self.extract_feat(batch_inputs))
        return self.panoptic_head.predict_by_feat(to_float32(outs))

    def _forward(self, batch_inputs: Tensor, batch_data_samples: SampleList = None) -> dict:
        """``mode='tensor'``: raw head outputs (embeddings and per-level maps)."""
        outs = self.panoptic_head(self.extract_feat(batch_inputs))
        return {k: (tuple(v) if isinstance(v, list) else v) for k, v in outs.items()}


def merge_head_cfgs(panoptic_head: dict, panoptic_fusion_head: dict,
                    train_cfg: Optional[dict] = None,
                    test_cfg: Optional[dict] = None) -> Tuple[dict, dict]:
    """The head and fusion-head configs with the detector's ``train_cfg`` (head) and
    ``test_cfg['head']`` / ``test_cfg['fusion']`` merged in (they override the heads' own).

    The fusion head takes ``num_classes``, ``thing_class_ids`` and ``depth`` from the head
    unless its own config sets them, so a dataset's classes are set in one place."""
    head_test = dict(test_cfg or {}).get('head', None)
    fusion_test = dict(test_cfg or {}).get('fusion', None)
    panoptic_head = dict(panoptic_head)
    if train_cfg is not None:
        panoptic_head['train_cfg'] = dict(panoptic_head.get('train_cfg') or {}, **train_cfg)
    if head_test is not None:
        panoptic_head['test_cfg'] = dict(panoptic_head.get('test_cfg') or {}, **head_test)
    panoptic_fusion_head = dict(panoptic_fusion_head)
    for key in ('num_classes', 'thing_class_ids', 'depth'):
        if key in panoptic_head and key not in panoptic_fusion_head:
            panoptic_fusion_head[key] = panoptic_head[key]
    if fusion_test is not None:
        panoptic_fusion_head['test_cfg'] = dict(
            panoptic_fusion_head.get('test_cfg') or {}, **fusion_test)
    return panoptic_head, panoptic_fusion_head


def fuse_and_add_predictions(fusion_head, head_results: List[dict],
                             data_samples: SampleList, rescale: bool = True) -> SampleList:
    """Run the fusion head on per-image head results and set its outputs on the samples
    (``rescale=False``: keep the input size instead of ``ori_shape``)."""
    metas = []
    for ds in data_samples:
        meta = dict(ds.metainfo)
        if not rescale:
            meta['ori_shape'] = meta['img_shape']
        metas.append(meta)
    for ds, res in zip(data_samples, fusion_head.predict(head_results, metas)):
        for key, value in res.items():
            setattr(ds, key, value)
    return data_samples
