"""What the terminal shows: progress, metrics and where the outputs are.

mmengine's ``Runner`` logs, at INFO, the whole environment and config (~600 lines), the hook
order and one ``paramwise_options`` line per parameter group. They stay in the log file of the
work dir (``work_dir/<timestamp>/<timestamp>.log``) and leave the terminal:
:class:`FileOnlyRecords` on the logger's console handler drops them there.

Known-harmless upstream messages are dropped everywhere by :class:`HarmlessUpstreamMessages`,
each listed in :data:`HARMLESS_UPSTREAM_MESSAGES` with why it is harmless.
"""
import logging
from typing import Optional, Tuple

#: beginnings of INFO messages of mmengine's Runner / optimizer constructor that are written to
#: the log file only
FILE_ONLY_PREFIXES: Tuple[str, ...] = (
    '\n' + '-' * 60 + '\nSystem environment:',  # Runner._log_env: environment dump
    'Config:\n',  # Runner._log_env: the whole config
    'Hooks will be executed in the following order',  # Runner: hook table
    'paramwise_options -- ',  # DefaultOptimWrapperConstructor: one line per parameter group
    'Distributed training is not used, all SyncBatchNorm',  # Runner: SyncBN note
)

#: (message start, why it is harmless) of upstream warnings dropped from terminal and log file
HARMLESS_UPSTREAM_MESSAGES: Tuple[Tuple[str, str], ...] = (
    ('Failed to search registry with scope "mmdet" in the "function" registry tree',
     # mmdet 3.x defines no FUNCTIONS registry, so mmengine's lookup of the collate function
     # under the "mmdet" scope falls back to mmengine's FUNCTIONS, which is where
     # pseudo_collate (the function every config uses) is registered
     'mmdet has no function registry; collate functions live in mmengine\'s'),
    ('"FileClient" will be deprecated in future',
     # mmengine's CheckpointHook.before_train builds a FileClient for backward compatibility
     # even without file_client_args, and then does not use it (it saves with file backends)
     'CheckpointHook builds an unused FileClient'),
    ('"HardDiskBackend" is the alias of "LocalBackend"',
     # the same unused FileClient picks the disk backend under its old name
     'the unused FileClient names its disk backend'),
)


class FileOnlyRecords(logging.Filter):
    """A console-handler filter: drops records below WARNING whose message starts with one of
    :data:`FILE_ONLY_PREFIXES` (the file handler still writes them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not str(record.msg).startswith(FILE_ONLY_PREFIXES)


class HarmlessUpstreamMessages(logging.Filter):
    """A logger filter: drops the messages of :data:`HARMLESS_UPSTREAM_MESSAGES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not any(msg.startswith(start) for start, _ in HARMLESS_UPSTREAM_MESSAGES)


def _add_once(target, flt_cls) -> None:
    if not any(isinstance(f, flt_cls) for f in target.filters):
        target.addFilter(flt_cls())


def readable_console(logger: Optional[logging.Logger] = None) -> logging.Logger:
    """Install both filters on ``logger`` (default: mmengine's current ``MMLogger``):
    :class:`HarmlessUpstreamMessages` on the logger, :class:`FileOnlyRecords` on its console
    handlers (stream handlers that are not file handlers). Idempotent; returns the logger."""
    if logger is None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
    _add_once(logger, HarmlessUpstreamMessages)
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and \
                not isinstance(handler, logging.FileHandler):
            _add_once(handler, FileOnlyRecords)
    return logger
