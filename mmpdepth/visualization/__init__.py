from .dps_drawing import (colourize_depth, colourize_panoptic, depth_colour_bar,
                          instance_colour, overlay_panoptic, panel, segment_boundaries)
from .dps_local_visualizer import DPSLocalVisualizer

__all__ = [
    'colourize_depth', 'colourize_panoptic', 'depth_colour_bar', 'instance_colour',
    'overlay_panoptic', 'panel', 'segment_boundaries', 'DPSLocalVisualizer'
]
