"""Helpers that compare mmpdepth with the official code's outputs (parity tests and tools)."""
from .golden_weights import load_key_table, make_d2_state_dict
from .training_parity import (Check, GoldenError, Tolerances, TrainingParity,
                              build_training_model, format_summary, format_table, golden_files,
                              load_golden)

__all__ = ['load_key_table', 'make_d2_state_dict', 'Check', 'GoldenError', 'Tolerances',
           'TrainingParity', 'build_training_model', 'format_summary', 'format_table',
           'golden_files', 'load_golden']
