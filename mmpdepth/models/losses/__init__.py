from .instance_depth_loss import InstanceDepthLoss, si_log_rel_loss

__all__ = ['InstanceDepthLoss', 'si_log_rel_loss']
