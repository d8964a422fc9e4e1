"""Command-line behaviour shared by the tools: one-line errors, checked config options."""
import difflib
import pickle
import sys
from typing import Callable, Optional, Sequence

#: errors that bad input produces (a missing / wrong file, a bad value, a refused checkpoint);
#: the tools print them as one line and exit with status 2 (``--debug``: the traceback)
EXPECTED_ERRORS = (OSError, ValueError, KeyError, pickle.UnpicklingError)


class InputError(ValueError):
    """Bad input the user can fix; the message names the file / option and the problem."""


def run_tool(main: Callable[[], Optional[int]], argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main()``: expected errors become ``PROG: error: MESSAGE`` on one line and
    exit status 2, unless ``--debug`` is among the arguments (then the full traceback)."""
    args = sys.argv if argv is None else list(argv)
    debug = '--debug' in args
    if debug:
        args.remove('--debug')
    try:
        code = main()
    except Exception as e:  # noqa: BLE001 - re-raised unless expected
        runner = sys.modules.get('mmpdepth.engine.runner')  # not imported by light tools
        expected = EXPECTED_ERRORS + ((runner.CheckpointError, ) if runner else ())
        if debug or not isinstance(e, expected):
            raise
        prog = args[0].rsplit('/', 1)[-1] if args else 'mmpdepth'
        msg = error_message(e)
        print(f'{prog}: error: {msg or type(e).__name__} (--debug for the traceback)',
              file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def error_message(e: BaseException) -> str:
    """The one-line message of an expected error. An error re-raised from a DataLoader worker
    carries the worker's whole traceback in its text; only its last line (the error) is kept."""
    text = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
    if 'Original Traceback' in text:
        last = [ln for ln in text.splitlines() if ln.strip()][-1]
        text = last.split(': ', 1)[1] if ': ' in last else last
    return ' '.join(text.split())


def runner_config_keys() -> set:
    """Top-level keys the runner reads even when a config leaves them out (``randomness``,
    ``resume``, ...): mmengine ``Runner`` arguments and the ones our ``DPSRunner`` adds."""
    import inspect

    from mmengine.runner import Runner
    return set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'} | {
        'runner_type', 'launcher', 'find_unused_parameters', 'model_wrapper_cfg',
        'load_from_strict', 'load_from_allow_missing', 'trust_checkpoint'}


def merge_cfg_options(cfg, options: Optional[dict], source: str = '--cfg-options') -> None:
    """``cfg.merge_from_dict(options)``, refusing keys whose top level the config lacks
    (a misspelt ``trian_cfg.max_iters=...`` would otherwise be added and ignored)."""
    if not options:
        return
    top = set(cfg.keys()) | runner_config_keys()
    for key in options:
        head = key.split('.')[0]
        if head not in top:
            near = difflib.get_close_matches(head, sorted(top), n=1)
            hint = f' (did you mean {near[0]}?)' if near else ''
            raise InputError(f'{source}: the config has no key {head!r}{hint}')
    try:
        cfg.merge_from_dict(options)
    except TypeError as e:  # e.g. a dict merged into a key that is None in the config
        raise InputError(f'{source}: {e}') from None
