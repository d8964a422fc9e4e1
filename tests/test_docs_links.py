"""The user docs hold together: every relative link and image in README.md and docs/**/*.md
resolves (with its #anchor), every repository path they name exists, and every ``--flag`` they
show for one of our tools exists in that tool's argument parser (built, never run)."""
import argparse
import functools
import glob
import importlib.util
import inspect
import itertools
import os.path as osp
import re
import sys
from unittest import mock

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = ['README.md', 'configs/panopticdepth/README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True))

FENCE = re.compile(r'^```.*?^```', re.M | re.S)
INLINE_CODE = re.compile(r'`([^`\n]+)`')
LINK = re.compile(r'!?\[[^\]\n]*\]\(([^)\s]+)\)|<img [^>]*src="([^"]+)"')
TOOL = re.compile(r'(?<![\w/.])((?:tools|benchmarks)/[\w/.-]+\.(?:py|sh))')
REPO_PATH = re.compile(r'(?<![\w/.$~-])((?:tools|benchmarks|configs|demo|docs|requirements|tests)'
                       r'/[\w/.{},*-]*[\w}*])')
FLAG = re.compile(r'(?<![\w-])(--[a-zA-Z][\w-]*)')
# shell wrappers and the tool whose flags they pass through
WRAPS = {'dist_train.sh': 'tools/train.py', 'slurm_train.sh': 'tools/train.py',
         'dist_train_stages.sh': 'tools/train.py', 'dist_test.sh': 'tools/test.py',
         'slurm_test.sh': 'tools/test.py'}


def read(doc: str) -> str:
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        return f.read()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r'`|\*\*|\[|\]\([^)]*\)', '', heading.strip().lower())
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


@functools.lru_cache(maxsize=None)
def anchors(doc: str) -> frozenset:
    text = FENCE.sub('', read(doc))
    return frozenset(slug(m.group(1)) for m in re.finditer(r'^#{1,6}\s+(.+)$', text, re.M))


def expand_braces(path: str) -> list:
    """Shell brace expansion: ``a_{x,y}.py`` and ``v-{a..f}.py``."""
    def options(group):
        span = re.fullmatch(r'(\w)\.\.(\w)', group)
        if span:
            return [chr(c) for c in range(ord(span.group(1)), ord(span.group(2)) + 1)]
        return group.split(',')
    parts = re.split(r'\{([^{}]*)\}', path)
    choices = [options(p) if i % 2 else [p] for i, p in enumerate(parts)]
    return [''.join(c) for c in itertools.product(*choices)]


@pytest.mark.parametrize('doc', DOCS)
def test_relative_links_and_images_resolve(doc):
    text = FENCE.sub('', read(doc))
    text = INLINE_CODE.sub('', text)
    bad = []
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if re.match(r'[a-z][a-z0-9+.-]*:', target):  # https:, mailto:
            continue
        path, _, anchor = target.partition('#')
        resolved = osp.normpath(osp.join(osp.dirname(doc), path)) if path else doc
        if not osp.exists(osp.join(ROOT, resolved)):
            bad.append(f'{target}: {resolved} does not exist')
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            bad.append(f'{target}: no heading with anchor #{anchor} in {resolved}')
    assert bad == [], f'{doc}: ' + '; '.join(bad)


@pytest.mark.parametrize('doc', DOCS)
def test_named_repository_paths_exist(doc):
    """Paths such as tools/x.py or configs/panopticdepth/{a,b}.py that the doc shows exist."""
    bad = []
    for m in REPO_PATH.finditer(read(doc)):
        path = m.group(1)
        if '...' in path or re.search(r'[A-Z]{2,}|\*|<', path):  # placeholders, globs
            continue
        for p in expand_braces(path):
            if not osp.exists(osp.join(ROOT, p.rstrip('.'))):
                bad.append(p)
    assert bad == [], f'{doc} names paths that do not exist: {sorted(set(bad))}'


def commands(doc: str):
    """(tool, flags) for every command line that runs one of our tools: the lines of code blocks
    (with their ``\\`` continuations) and inline code spans."""
    text = read(doc)
    pieces = []
    for block in FENCE.findall(text):
        body = re.sub(r'\\\n', ' ', block)
        pieces += [line.split(' #')[0] for line in body.splitlines()[1:-1]]
    pieces += INLINE_CODE.findall(FENCE.sub('', text))
    for piece in pieces:
        for cmd in re.split(r'&&|\|\||;|\|', piece):
            tool = TOOL.search(cmd)
            if tool:
                yield tool.group(1), FLAG.findall(cmd[tool.end():])


class _Parsed(Exception):

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def _capture(parser, *args, **kwargs):
    raise _Parsed(parser)


@functools.lru_cache(maxsize=None)
def tool_flags(tool: str) -> frozenset:
    """The option strings of ``tool``'s argparse parser: the module is imported (tools run
    only under ``__main__``) and its ``parse_args`` / ``main`` is called with parsing
    intercepted, so the parser is built exactly as the tool builds it and nothing runs."""
    path = osp.join(ROOT, tool)
    name = osp.basename(tool)
    if name in WRAPS:
        extra = set(FLAG.findall(read(tool))) if name == 'dist_train_stages.sh' else set()
        return tool_flags(WRAPS[name]) | extra
    if tool.endswith('.sh'):  # other shell scripts parse their options by hand
        return frozenset(FLAG.findall(read(tool)))
    spec = importlib.util.spec_from_file_location(f'_doc_tool_{name[:-3]}', path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, osp.dirname(path))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(osp.dirname(path))
    entry = getattr(module, 'parse_args', None) or getattr(module, 'main')
    args = [[]] if inspect.signature(entry).parameters else []
    with mock.patch.object(argparse.ArgumentParser, 'parse_args', _capture), \
            mock.patch.object(argparse.ArgumentParser, 'parse_known_args', _capture), \
            mock.patch.object(sys, 'argv', [path]):
        try:
            entry(*args)
        except _Parsed as parsed:
            return frozenset(parsed.parser._option_string_actions)
    raise AssertionError(f'{tool}: {entry.__name__}() built no argparse parser')


def test_tool_flags_finds_the_parsers_options():
    flags = tool_flags('tools/analysis_tools/eval_dpq.py')
    assert {'--gt-dir', '--pan-dir', '--depth-dir', '--eval-frames', '--nproc'} <= flags
    assert '--no-such-flag' not in flags
    assert {'--dry-run', '--resume', '--cfg-options'} <= tool_flags('tools/dist_train_stages.sh')
    assert list(commands('docs/en/evaluation.md'))[0] == (
        'tools/analysis_tools/eval_dpq.py',
        ['--gt-dir', '--pan-dir', '--depth-dir', '--eval-frames', '--nproc', '--out'])


@pytest.mark.parametrize('doc', DOCS)
def test_flags_shown_for_a_tool_exist_in_its_parser(doc):
    bad = []
    for tool, flags in commands(doc):
        if not osp.isfile(osp.join(ROOT, tool)):
            bad.append(f'{tool} does not exist')
            continue
        known = tool_flags(tool)
        bad += [f'{tool} {f}' for f in flags if f not in known]
    assert bad == [], f'{doc} shows options the tools do not have: {bad}'


@pytest.mark.parametrize('dataset', ['CityscapesDPSDataset', 'SemKITTIDPSDataset',
                                     'CityscapesPanopticDataset'])
def test_missing_data_errors_point_to_the_data_guide(dataset, tmp_path):
    """A config whose data is not there yet stops naming the folder (or index) and the guide
    that says where the data comes from."""
    from mmpdepth.registry import DATASETS
    cfg = dict(type=dataset, data_root=str(tmp_path / 'nowhere'), pipeline=[])
    if dataset == 'CityscapesPanopticDataset':
        cfg.update(ann_file='gtFine/cityscapes_panoptic_val.json')
    else:
        cfg.update(ann_file='', data_prefix=dict(img_path='video_sequence/val'))
    with pytest.raises(FileNotFoundError) as err:
        DATASETS.build(cfg)
    assert str(tmp_path / 'nowhere') in str(err.value)
    assert 'see docs/en/dataset_prepare.md' in str(err.value)
    assert osp.isfile(osp.join(ROOT, 'docs', 'en', 'dataset_prepare.md'))
