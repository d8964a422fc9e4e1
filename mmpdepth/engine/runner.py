"""mmengine ``Runner`` whose resume may trust only the run's own work dir."""
from mmengine.runner import Runner

from mmpdepth.registry import RUNNERS

from .checkpoint_safety import trusted_dir


@RUNNERS.register_module()
class DPSRunner(Runner):
    """``Runner`` with scoped trust for resuming.

    ``resume`` loads weights-only like every other load; only if that fails *and* the file lies
    inside ``work_dir`` is it fully unpickled (checkpoints of this very run written without
    :class:`PlainCheckpointHook`). Use ``runner_type='DPSRunner'`` in the config (our
    ``default_runtime`` does).
    """

    def resume(self, filename: str, *args, **kwargs) -> None:
        with trusted_dir(self.work_dir):
            return super().resume(filename, *args, **kwargs)
