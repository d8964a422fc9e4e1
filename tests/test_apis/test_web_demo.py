"""The browser demo (tools/demo/web_demo.py) in a real browser: headless Chromium (Debian's
``chromium``) driven by Playwright against the demo served on 127.0.0.1 with the tiny synthetic
config (random weights, low fusion thresholds so that it predicts segments)."""
import io
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from mmpdepth.apis.point_cloud import read_ply
from mmpdepth.datasets.class_meta import CITYSCAPES_CLASSES
from mmpdepth.datasets.synthetic import SyntheticSceneRenderer

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
CHROMIUM = '/usr/bin/chromium'
#: the viewer's background (web_demo.py's clear_color (0.08, 0.08, 0.1)) in 8 bit
VIEWER_BACKGROUND = np.array([20, 20, 26])

# not skipped when missing: requirements/tests.txt installs them, .ci/run installs Chromium
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # no calls home
import gradio  # noqa: F401,E402
from playwright import sync_api  # noqa: E402

if not os.access(CHROMIUM, os.X_OK):
    pytest.fail(f'{CHROMIUM} missing: apt-get install chromium (.ci/run does)',
                pytrace=False)
#: server start (model build; ~20 s on an idle 2-core machine) + uploads, with margin
pytestmark = pytest.mark.timeout(400)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """The demo on a free port; killed (its whole process group) at the end."""
    port, log = free_port(), str(tmp_path_factory.mktemp('web') / 'server.log')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, 'tools/demo/web_demo.py', TINY, '--random-weights', '--port',
             str(port), '--cfg-options', 'model.test_cfg.fusion.combine_inst_thr=0.0',
             'model.test_cfg.fusion.min_rescored_score=0.0',
             'model.test_cfg.fusion.stuff_area_limit=16'],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, open(log).read()[-3000:]
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                assert time.time() < deadline, 'the demo did not start in 180 s'
                time.sleep(1)
        yield dict(url=url, log=log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope='module')
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox'])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={'width': 1400, 'height': 1250})
    outside = []

    def local_only(route):  # the page must not need the internet (and may not reach it)
        if route.request.url.startswith(('http://127.0.0.1', 'data:', 'blob:')):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route('**/*', local_only)
    page.goto(server['url'])
    page.wait_for_selector('#upload input[type=file]', state='attached', timeout=60000)
    yield page
    page.close()
    assert not outside, outside


def upload(page, path: str, expect: str, timeout_ms: int = 120000) -> str:
    """Upload a file (after clearing an earlier one) and wait for ``expect`` in the status."""
    clear = page.locator('#upload button[aria-label="Clear"]')
    if clear.count():
        clear.first.click()
        page.wait_for_selector('#upload input[type=file]', state='attached')
    page.set_input_files('#upload input[type=file]', path)
    page.wait_for_function(
        'text => document.querySelector("#status").innerText.includes(text)', arg=expect,
        timeout=timeout_ms)
    return page.inner_text('#status')


def image_pixels(page, selector: str) -> np.ndarray:
    src = page.get_attribute(f'{selector} img', 'src')
    assert src and src.startswith('http://127.0.0.1'), src
    with urllib.request.urlopen(src) as r:
        return np.asarray(Image.open(io.BytesIO(r.read())).convert('RGB'))


def table_rows(page, expected: int, timeout_s: float = 30) -> list:
    """The segment table's visible rows (the page's text, six cells a row), once the table
    shows ``expected`` whole rows (the page may still be drawing it when the status is set)."""
    deadline = time.time() + timeout_s
    while True:
        cells = [c.strip() for c in page.inner_text('#segments').split('\n') if c.strip()]
        body = cells[cells.index('score') + 1:] if 'score' in cells else []
        if len(body) == 6 * expected or time.time() > deadline:
            break
        time.sleep(0.5)
    assert len(body) == 6 * expected, (expected, cells)
    return [body[i:i + 6] for i in range(0, len(body), 6)]


def runs(server) -> int:
    """Inferences the server has run (one log line each)."""
    return sum(bool(re.match(r'\[web_demo\] .+: \d+x\d+ px, \d+ segment\(s\)', ln))
               for ln in open(server['log']))


def test_upload_shows_overlay_depth_point_cloud_and_segments(page, server, tmp_path):
    img, _, _ = SyntheticSceneRenderer(128, 256, np.random.default_rng(7)).render(0)
    frame = str(tmp_path / 'frame.png')
    Image.fromarray(img).save(frame)
    before = runs(server)
    status = upload(page, frame, ' segment')
    assert 'frame: 256x128 px' in status and 'Point cloud: ' in status
    assert 'Traceback' not in page.content()
    overlay, depth = image_pixels(page, '#overlay'), image_pixels(page, '#depth')
    assert overlay.shape[1] == 256 and overlay.shape[0] > 128  # the legend below the overlay
    assert depth.shape[0] >= 128 and depth.shape[1] > 256  # the colour bar beside the depth
    assert overlay.std() > 10 and depth.std() > 10
    # the segment table: one row per segment (largest first), with class, area and mean depth
    count = int(re.search(r'(\d+) segment', status).group(1))
    rows = table_rows(page, count)
    assert len(rows) == count >= 1
    for seg_id, name, kind, area, mean_depth, score in rows:
        assert CITYSCAPES_CLASSES[int(seg_id) // 1000] == name, (seg_id, name)
        assert kind == ('thing' if int(seg_id) // 1000 >= 11 else 'stuff')
        assert int(area) > 0 and float(mean_depth) >= 0 and 0 <= float(score) <= 1
    areas = [int(r[3]) for r in rows]
    assert areas == sorted(areas, reverse=True)
    # the 3D viewer: a canvas that draws the served GLB point cloud
    glb_url = page.get_attribute('#pointcloud a[href$=".glb"]', 'href')
    with urllib.request.urlopen(glb_url) as r:
        glb = r.read()
    assert glb[:4] == b'glTF' and len(glb) > 1000
    canvas = page.locator('#pointcloud canvas')
    assert canvas.count() == 1
    background = drawn = 0
    for _ in range(60):  # software WebGL takes a few seconds (the canvas is blank before)
        shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert('RGB'))
        off = np.abs(shot.astype(int) - VIEWER_BACKGROUND).max(-1)
        background = (off <= 6).mean()  # the viewer's clear colour: WebGL renders
        drawn = int(((off > 40) & (shot.min(-1) < 240)).sum())  # coloured points on it
        if background > 0.5 and drawn > 200:
            break
        time.sleep(0.5)
    assert background > 0.5 and drawn > 200, f'the point cloud viewer drew nothing ' \
        f'({background:.0%} background, {drawn} point pixels)'
    # downloads: the PLY is the point cloud, the PNGs the panoptic ids and the depth
    with page.expect_download() as dl:
        page.click('#download-ply')
    ply = str(tmp_path / 'x.ply')
    dl.value.save_as(ply)
    points = read_ply(ply)
    assert len(points) > 100 and 10 not in set(points['class'].tolist())  # no sky
    for button in ('#download-panoptic', '#download-depth'):
        with page.expect_download() as dl:
            page.click(button)
        path = str(tmp_path / dl.value.suggested_filename)
        dl.value.save_as(path)
        assert Image.open(path).size == (256, 128)
    page.screenshot(path=str(tmp_path / 'page.png'), full_page=True)
    assert runs(server) == before + 1  # the model ran once for the upload


def test_bad_uploads_get_a_message_in_the_page(page, server, tmp_path):
    before = runs(server)
    text = tmp_path / 'notes.txt'
    text.write_text('not a picture')
    status = upload(page, str(text), 'Cannot use this upload')
    assert 'notes.txt: not an image' in status
    huge = str(tmp_path / 'huge.png')
    Image.new('1', (9000, 5000)).save(huge)  # 45 megapixels, 6 KB
    assert 'huge.png: image of 9000x5000 px is too large' in upload(page, huge, 'too large')
    gray = str(tmp_path / 'gray.png')
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 128), np.uint8)).save(gray)
    assert 'Grayscale image converted to 3 channels' in upload(page, gray, 'Grayscale')
    rgba = str(tmp_path / 'rgba.png')
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 128, 4), np.uint8)).save(rgba)
    assert 'Alpha channel dropped' in upload(page, rgba, 'Alpha')
    assert 'Traceback' not in page.content()
    assert runs(server) == before + 2  # the gray and RGBA images; bad files never reach it
