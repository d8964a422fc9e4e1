from .fuse_conv_bn_hook import FuseConvBNHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .plain_checkpoint_hook import PlainCheckpointHook

__all__ = ['FuseConvBNHook', 'PlainCheckpointHook', 'NonFiniteLossHook', 'NonFiniteLossError']
