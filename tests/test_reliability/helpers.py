"""Running the tools in-process on bad input, and checking what they leave behind."""
import contextlib
import hashlib
import importlib.util
import io
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
_TOOLS: Dict[str, object] = {}


def load_tool(rel_path: str):
    """Import ``tools/...py`` as a module (once)."""
    if rel_path not in _TOOLS:
        path = osp.join(ROOT, rel_path)
        sys.path.insert(0, osp.dirname(path))
        spec = importlib.util.spec_from_file_location(
            'tool_' + rel_path.replace('/', '_').replace('.', '_'), path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _TOOLS[rel_path] = mod
    return _TOOLS[rel_path]


def call_tool(rel_path: str, argv: Sequence[str]) -> Tuple[int, str, str]:
    """Run a tool's ``main`` as its ``__main__`` does (``run_tool``), in this process, with
    ``sys.argv`` set; returns (exit status, stdout, stderr)."""
    from mmpdepth.utils.cli import run_tool
    mod = load_tool(rel_path)
    out, err = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = [osp.join(ROOT, rel_path), *map(str, argv)]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run_tool(mod.main)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def error_lines(err: str) -> List[str]:
    """The lines of stderr that report an error (warnings and log lines aside)."""
    return [ln for ln in err.splitlines() if 'error' in ln.lower() or ln.startswith('skipped:')]


def assert_clear_error(result: Tuple[int, str, str], *needles: str) -> str:
    """Non-zero exit, no traceback, exactly one error line, which holds every needle."""
    code, out, err = result
    assert code != 0, f'exit 0; stdout: {out[-2000:]}'
    assert 'Traceback' not in err, err[-3000:]
    lines = error_lines(err)
    assert len(lines) == 1, err[-3000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def snapshot(*paths: str) -> Dict[str, str]:
    """sha1 of every file under ``paths`` (files or folders), by path."""
    seen = {}
    for p in paths:
        if osp.isfile(p):
            files = [p]
        else:
            files = [osp.join(dp, f) for dp, _, fs in os.walk(p) for f in fs]
        for f in files:
            with open(f, 'rb') as fh:
                seen[f] = hashlib.sha1(fh.read()).hexdigest()
    return seen


class Evil:
    """Unpickling this creates ``marker`` (what a hostile checkpoint could do)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker, ))


def write_evil_checkpoint(path: str, marker: str, state_dict=None) -> str:
    """A checkpoint with valid weights whose metadata runs code when fully unpickled."""
    torch.save(dict(state_dict=state_dict or {}, meta=Evil(marker)), path)
    return path
