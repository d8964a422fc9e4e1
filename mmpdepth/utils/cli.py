"""Command-line behaviour shared by the tools: one-line errors, checked config options."""
import argparse
import difflib
import inspect
import os
import os.path as osp
import pickle
import sys
from typing import Callable, Iterable, List, Optional, Sequence

from mmengine.config import DictAction

#: errors that bad input produces (a missing / wrong file, a bad value, a refused checkpoint);
#: the tools print them as one line and exit with status 2 (``--debug``: the traceback)
EXPECTED_ERRORS = (OSError, ValueError, KeyError, pickle.UnpicklingError)

#: exit status after Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED_STATUS = 130


class InputError(ValueError):
    """Bad input the user can fix; the message names the file / option and the problem."""


class ToolArgumentParser(argparse.ArgumentParser):
    """``ArgumentParser`` of every tool: lists ``--debug`` (handled by :func:`run_tool`) in
    ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument('--debug', action='store_true',
                          help='show the full traceback of an error instead of one line')


def positive_int(text: str) -> int:
    """argparse ``type``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {value}')
    return value


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` with a clear error for an item without ``=``."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values:
            if '=' not in kv:
                parser.error(f'{option_string} {kv}: expected key=value (e.g. '
                             'train_cfg.max_iters=100), got no "="')
        super().__call__(parser, namespace, values, option_string)


def check_out_dir(out_dir: str, overwrite: bool, option: str = '--out-dir') -> None:
    """Refuse an output folder that is a file, or that already holds files unless
    ``overwrite`` (results of the same names would be replaced)."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise InputError(f'{option} {out_dir}: exists and is not a folder')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise InputError(f'{option} {out_dir}: not empty (pass --overwrite to write into it, '
                         'replacing results of the same names)')


def unwritable_output(path: str, option: str) -> Optional[str]:
    """Why the file ``path`` (given as ``option``) could not be written, checked before the
    work starts: its folder, or the nearest existing one above it, is a file or not writable.
    None if it can be written."""
    parent = osp.dirname(osp.abspath(path))
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        return f'{option} {path}: {parent} is a file, not a folder'
    if not os.access(parent, os.W_OK):
        return f'{option} {path}: the folder {parent} is not writable'
    return None


def use_cpu_huge_pages() -> None:
    """Let PyTorch put large CPU tensors on transparent huge pages (``THP_MEM_ALLOC_ENABLE=1``,
    kept if the environment sets it). A fresh 1 GB tensor otherwise pays ~260k page faults
    when first written (a 1024x2048 forward allocates several); with huge pages, 512x fewer.
    Takes effect only before the process's first large CPU tensor; no effect where the
    kernel has THP off."""
    os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')


def run_tool(main: Callable[[], Optional[int]], argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main()``: expected errors become ``PROG: error: MESSAGE`` on one line and
    exit status 2, Ctrl-C one line and status 130, unless ``--debug`` is among the arguments
    (then the full traceback). Large CPU tensors go on huge pages (:func:`use_cpu_huge_pages`).
    """
    use_cpu_huge_pages()
    args = sys.argv if argv is None else list(argv)
    debug = '--debug' in args
    if debug:
        args.remove('--debug')
    prog = args[0].rsplit('/', 1)[-1] if args else 'mmpdepth'
    try:
        code = main()
    except KeyboardInterrupt:
        if debug:
            raise
        print(f'{prog}: interrupted (Ctrl-C); outputs written so far are kept',
              file=sys.stderr)
        sys.exit(INTERRUPTED_STATUS)
    except Exception as e:  # noqa: BLE001 - re-raised unless expected
        expected = EXPECTED_ERRORS + _engine_errors()
        if debug or not isinstance(e, expected):
            raise
        msg = error_message(e)
        print(f'{prog}: error: {msg or type(e).__name__} (--debug for the traceback)',
              file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def _engine_errors() -> tuple:
    """Expected errors of the training engine, if it is loaded (light tools do not import
    it): a refused checkpoint, a diverged training."""
    found = []
    for module, name in (('mmpdepth.engine.runner', 'CheckpointError'),
                         ('mmpdepth.engine.hooks.non_finite_loss_hook', 'NonFiniteLossError')):
        mod = sys.modules.get(module)
        if mod is not None:
            found.append(getattr(mod, name))
    return tuple(found)


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
    from mmengine.runner import Runner
    return set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'} | {
        'runner_type', 'launcher', 'find_unused_parameters', 'model_wrapper_cfg',
        'load_from_strict', 'load_from_allow_missing', 'trust_checkpoint',
        'allow_nonfinite_weights', 'break_work_dir_lock'}


#: keys a dataloader dict may hold besides ``torch.utils.data.DataLoader``'s arguments
#: (mmengine's ``Runner.build_dataloader`` takes them out)
_DATALOADER_KEYS = ('dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn')


def _registered_class(type_name) -> Optional[type]:
    """The class a config's ``type`` names, searched in every mmengine / mmdet / mmpdepth
    registry (None if not found or not a name)."""
    if not isinstance(type_name, str):
        return type_name if inspect.isclass(type_name) else None
    import mmdet.registry as mmdet_reg
    import mmengine.registry as engine_reg
    from mmengine.registry import Registry

    import mmpdepth.registry as own_reg
    short = type_name.split('.')[-1]
    for module in (own_reg, mmdet_reg, engine_reg):
        for reg in vars(module).values():
            if isinstance(reg, Registry):
                found = reg.module_dict.get(short)
                if found is not None and inspect.isclass(found):
                    return found
    return None


def _accepted_arguments(cls: type) -> Optional[set]:
    """Keyword arguments ``cls(...)`` accepts; None if it takes ``**kwargs`` it does not pass
    to a base class we can read (so any name may be valid)."""
    names = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {'self'}
    return None


def _allowed_new_keys(path: str, node: dict) -> Optional[set]:
    """Keys that may be added to the config dict ``node`` (at ``path``) besides the ones it
    has: the arguments of the class its ``type`` names, a DataLoader's arguments for a
    dataloader; None when that cannot be known."""
    if 'type' in node:
        cls = _registered_class(node['type'])
        return _accepted_arguments(cls) if cls is not None else None
    if path.split('.')[-1].endswith('dataloader'):
        import torch.utils.data as tud
        return _accepted_arguments(tud.DataLoader) | set(_DATALOADER_KEYS)
    return None


def _near(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> List[str]:
    return difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=cutoff)


def check_option_key(cfg, key: str, source: str = '--cfg-options') -> None:
    """Raise :class:`InputError` when ``key`` (``a.b.c``) cannot be meant for the config:
    a misspelt part of the path (``train_cfg.max_iter``, ``model.backbone.depthh``) gets one
    line with the closest existing name ("did you mean"). A key that is new to a component's
    dict is accepted when the component takes it as an argument (or takes any)."""
    parts = key.split('.')
    top = set(cfg.keys()) | runner_config_keys()
    if parts[0] not in top:
        near = _near(parts[0], top)
        hint = f' (did you mean {near[0]}?)' if near else ''
        raise InputError(f'{source}: the config has no key {parts[0]!r}{hint}')
    if parts[0] not in cfg:
        return  # a runner argument the config leaves out
    node = cfg[parts[0]]
    for depth, part in enumerate(parts[1:], 1):
        where = '.'.join(parts[:depth])
        if isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                raise InputError(f'{source} {key}: {where} is a list of {len(node)} items; '
                                 f'{part!r} is not one of its indices 0..{len(node) - 1}')
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            return  # a value is replaced by a dict: merge_from_dict reports it
        if part in node:
            node = node[part]
            continue
        allowed = _allowed_new_keys(where, node)
        if allowed is not None and part in allowed:
            return
        near = _near(part, list(node.keys()) + sorted(allowed or ()),
                     cutoff=0.6 if allowed is not None else 0.8)
        if allowed is None and not near:
            return  # a new key of a plain dict, or of a component taking any argument
        cls = f' ({node["type"]} takes no argument {part!r})' if 'type' in node else ''
        hint = f'; did you mean {where}.{near[0]}?' if near else ''
        raise InputError(f'{source}: {where} has no key {part!r}{cls}{hint}')


def merge_cfg_options(cfg, options: Optional[dict], source: str = '--cfg-options') -> None:
    """``cfg.merge_from_dict(options)``, refusing keys a misspelling would make: a top level the
    config lacks (``trian_cfg.max_iters=...`` would be added and ignored) or a nested name that
    neither the config nor the component it configures knows (see :func:`check_option_key`)."""
    if not options:
        return
    for key in options:
        check_option_key(cfg, key, source)
    try:
        cfg.merge_from_dict(options)
    except TypeError as e:  # e.g. a dict merged into a key that is None in the config
        raise InputError(f'{source}: {e}') from None
