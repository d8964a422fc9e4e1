from .depth_metrics import DEPTH_SUM_KEYS, depth_sums, summarize_depth
from .dvps_protocol import (CITYSCAPES_DVPS, DPQ_THRESHOLDS, PROTOCOLS, SEMKITTI_DVPS,
                            DVPSProtocol, get_protocol, make_windows, summarize_dpq,
                            window_stats)
from .prediction_agreement import prediction_agreement, same_segment_fraction
from .panoptic_quality import (PQStats, PQSummary, apply_depth_threshold, pq_stats,
                               summarize_pq)

__all__ = [
    'DEPTH_SUM_KEYS', 'depth_sums', 'summarize_depth', 'CITYSCAPES_DVPS', 'DPQ_THRESHOLDS',
    'PROTOCOLS', 'SEMKITTI_DVPS', 'DVPSProtocol', 'get_protocol', 'make_windows',
    'summarize_dpq', 'window_stats', 'PQStats', 'PQSummary', 'apply_depth_threshold',
    'pq_stats', 'summarize_pq', 'prediction_agreement', 'same_segment_fraction'
]
