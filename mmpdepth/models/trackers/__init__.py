from .kernel_tracker import KernelTracker

__all__ = ['KernelTracker']
