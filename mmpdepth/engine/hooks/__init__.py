from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .plain_checkpoint_hook import PlainCheckpointHook

__all__ = ['PlainCheckpointHook', 'NonFiniteLossHook', 'NonFiniteLossError']
