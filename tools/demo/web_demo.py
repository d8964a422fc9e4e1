"""Browser demo: depth-aware panoptic segmentation of an uploaded image, with a 3D point cloud.

    python tools/demo/web_demo.py CONFIG --weights CKPT [--port 7860] [--host 127.0.0.1]
        [--device cpu] [--hfov 60] [--max-depth 80] [--cfg-options k=v ...]

Open the printed address in a browser, upload an image (or pick the bundled example) and see
the panoptic overlay with its class legend, the depth map with a colour bar in metres, the point
cloud to turn around (sky and pixels without depth left out), a table of segments (class, area,
mean depth) and downloads of the panoptic PNG, the depth PNG and the PLY point cloud. Uploads
that are not images, too large, or of an unusual kind get a message in the page.

Needs the optional web dependencies: ``pip install -r requirements/web.txt`` (Gradio).
``--random-weights`` runs a randomly initialised model instead of ``--weights`` (for testing the
page only: its predictions mean nothing). The page has no authentication: keep ``--host`` at
127.0.0.1 unless the network is yours.
"""
import logging
import os
import os.path as osp
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Dict, List, Optional

import numpy as np

from mmpdepth.utils.cli import (CfgOptionsAction, InputError, ToolArgumentParser,
                                merge_cfg_options, run_tool)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: the example offered in the page (a synthetic street scene, tools/misc/make_demo_image.py)
EXAMPLE = osp.join(ROOT, 'demo', 'demo_synthetic.png')
#: largest upload accepted, in bytes and in pixels (a 8000 x 5000 photo)
MAX_UPLOAD_BYTES = 50 * 2**20
MAX_PIXELS = 40_000_000
#: the browser's point cloud is subsampled to at most this many points (the PLY has all)
MAX_VIEWER_POINTS = 300_000
#: result folders kept on disk (older ones are removed)
KEEP_RESULTS = 16
SEGMENT_HEADERS = ['segment id', 'class', 'kind', 'area (px)', 'mean depth (m)', 'score']

log = logging.getLogger('web_demo')


def parse_args(argv=None):
    p = ToolArgumentParser(description='Depth-aware panoptic segmentation in the browser')
    p.add_argument('config', help='config file')
    p.add_argument('--weights', default=None, help='checkpoint of the config')
    p.add_argument('--random-weights', action='store_true',
                   help='run a randomly initialised model (tests of the page only)')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to serve on (the page has no authentication)')
    p.add_argument('--port', type=int, default=7860)
    p.add_argument('--device', default='cpu')
    p.add_argument('--hfov', type=float, default=60.0,
                   help='horizontal field of view (degrees) assumed for uploads, whose camera '
                   'is unknown; it sets the point cloud intrinsics')
    p.add_argument('--max-depth', type=float, default=80.0, help='depth colour range (m)')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override settings of the config, key=value')
    args = p.parse_args(argv)
    if (args.weights is None) == (not args.random_weights):
        p.error('give --weights CKPT (or, to test the page only, --random-weights)')
    if not 1.0 <= args.hfov <= 170.0:
        p.error(f'--hfov {args.hfov}: must be between 1 and 170 degrees')
    return args


class WebDemo:
    """The model behind the page: checks an upload, runs :class:`DPSInferencer` once on it and
    makes the page's outputs (pictures, point cloud files, segment table, downloads).

    Args:
        inferencer (DPSInferencer): the model.
        out_root (str): folder for result files (one sub-folder per upload).
        hfov (float): horizontal field of view (degrees) of the assumed camera.
        max_depth (float): top of the depth colour range (m).
    """

    def __init__(self, inferencer, out_root: str, hfov: float = 60.0,
                 max_depth: float = 80.0) -> None:
        self.inferencer = inferencer
        self.out_root = out_root
        self.hfov = hfov
        self.max_depth = max_depth
        self.runs = 0

    # ------------------------------------------------------------------ input
    def read_upload(self, path: str) -> dict:
        """An uploaded file -> the inferencer's input dict; :class:`InputError` with a message
        for the page when it is not an image the model can take."""
        from PIL import Image
        name = osp.basename(path)
        size = osp.getsize(path)
        if size > MAX_UPLOAD_BYTES:
            raise InputError(f'{name}: file of {size / 2**20:.0f} MB is too large (at most '
                             f'{MAX_UPLOAD_BYTES // 2**20} MB)')
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Image.DecompressionBombError:
            raise InputError(f'{name}: image too large (at most {MAX_PIXELS / 1e6:.0f} '
                             'megapixels)') from None
        except (OSError, ValueError, SyntaxError):
            raise InputError(f'{name}: not an image (PNG, JPEG, BMP, TIFF or WebP expected)'
                             ) from None
        if w * h > MAX_PIXELS:
            raise InputError(f'{name}: image of {w}x{h} px is too large (at most '
                             f'{MAX_PIXELS / 1e6:.0f} megapixels)')
        try:
            item = self.inferencer.read_input(path, 0)
        except ValueError as e:
            raise InputError(str(e).replace(path, name)) from None
        item['name'] = osp.splitext(name)[0] or 'upload'
        return item

    # ------------------------------------------------------------------ model
    def predict(self, path: Optional[str]) -> Dict:
        """Run the model on an uploaded file. Returns the page's values: ``status``
        (markdown), ``overlay`` and ``depth`` (RGB pictures), ``model3d`` (GLB path),
        ``segments`` (table rows) and ``files`` (panoptic PNG, depth PNG, PLY paths); only
        ``status`` when the upload cannot be used."""
        if not path:
            return dict(status='')
        try:
            item = self.read_upload(path)
        except InputError as e:
            return dict(status=f'**Cannot use this upload.** {e}')
        try:
            return self._run(item)
        except Exception as e:  # noqa: BLE001 - the page gets one line, the terminal the rest
            log.error('inference on %s failed:\n%s', item['name'], traceback.format_exc())
            msg = ' '.join(str(e).split())[:300]
            return dict(status=f'**Inference failed** ({type(e).__name__}: {msg}). The '
                        'terminal running the demo has the details.')

    def _run(self, item: dict) -> Dict:
        from mmpdepth.apis.point_cloud import (backproject, default_intrinsics,
                                               intrinsics_record, point_mask, sky_classes,
                                               write_glb, write_intrinsics_json, write_ply)
        from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, write_depth_png
        t0 = time.time()
        out = self.inferencer([item['img']], no_save_vis=True, no_save_pred=True)
        if out['errors'] or not out['predictions']:
            raise RuntimeError('; '.join(out['errors']) or 'no prediction')
        pred = out['predictions'][0]
        ids, depth = pred['panoptic'], pred['depth']
        rgb = np.ascontiguousarray(item['img'][..., ::-1])
        h, w = rgb.shape[:2]
        meta, div = self.inferencer.dataset_meta, self.inferencer.label_divisor
        self.runs += 1
        folder = self._result_folder(item['name'])
        files = dict(panoptic=osp.join(folder, f'{item["name"]}_panoptic.png'),
                     depth=osp.join(folder, f'{item["name"]}_depth.png'),
                     ply=osp.join(folder, f'{item["name"]}.ply'))
        CITYSCAPES_DVPS_FORMAT.write_pred_ids([files['panoptic']], ids, div)
        result = dict(overlay=self.draw_overlay(rgb, ids, meta, div), segments=self.table(pred))
        notes = list(item['notes'])
        if depth is None:
            result.update(depth=None, model3d=None)
            notes.append('this model predicts no depth')
            files.pop('depth')
            files.pop('ply')
        else:
            write_depth_png(files['depth'], depth)
            cam = default_intrinsics(h, w, self.hfov)
            record = intrinsics_record(cam, h, w, f'assumed: {self.hfov:g} degree horizontal '
                                       'field of view (the upload has no camera data)')
            mask = point_mask(depth, ids, div, sky_classes(meta))
            n = write_ply(files['ply'], depth, rgb, cam, ids, div, mask)
            write_intrinsics_json(osp.join(folder, f'{item["name"]}_camera.json'), record,
                                  points=n)
            pts, idx = backproject(depth, cam, mask)
            if len(idx) > MAX_VIEWER_POINTS:
                keep = np.random.default_rng(0).choice(len(idx), MAX_VIEWER_POINTS,
                                                       replace=False)
                pts, idx = pts[np.sort(keep)], idx[np.sort(keep)]
            glb = osp.join(folder, f'{item["name"]}_points.glb')
            write_glb(glb, pts, rgb.reshape(-1, 3)[idx])
            result.update(depth=self.draw_depth(depth), model3d=glb)
            notes.append(f'point cloud: {n} points (sky and pixels without depth left out; '
                         f'{len(idx)} shown), camera {record["source"]}, fx = fy = '
                         f'{record["fx"]:.1f} px')
        secs = time.time() - t0
        n_seg = len(pred['segments'])
        log.info('%s: %dx%d px, %d segment(s), %.1f s', item['name'], w, h, n_seg, secs)
        status = f'**{item["name"]}**: {w}x{h} px, {n_seg} segment{"" if n_seg == 1 else "s"}, ' \
                 f'{secs:.1f} s.'
        result.update(status=' '.join([status] + [f'{n[0].upper()}{n[1:]}.' for n in notes]),
                      files=files)
        return result

    def _result_folder(self, name: str) -> str:
        os.makedirs(self.out_root, exist_ok=True)
        old = sorted((d for d in os.listdir(self.out_root) if d[:6].isdigit()),
                     key=lambda d: int(d.split('_')[0]))
        for d in old[:max(0, len(old) - KEEP_RESULTS + 1)]:
            shutil.rmtree(osp.join(self.out_root, d), ignore_errors=True)
        folder = osp.join(self.out_root, f'{self.runs:06d}_{name}')
        os.makedirs(folder, exist_ok=True)
        return folder

    # ------------------------------------------------------------------ pictures
    def draw_overlay(self, rgb: np.ndarray, ids: np.ndarray, meta: dict,
                     div: int) -> np.ndarray:
        """Panoptic overlay with the legend of the classes present below it."""
        from mmpdepth.visualization.dps_drawing import (default_palette, draw_legend,
                                                        legend_entries, overlay_panoptic,
                                                        stack_rows)
        pan = overlay_panoptic(rgb, ids, meta.get('palette') or default_palette(), div,
                               meta.get('thing_ids', ()), 0.6)
        entries = legend_entries(meta, [ids], div)
        return stack_rows([pan, draw_legend(entries, pan.shape[1], rgb.shape[0])])

    def draw_depth(self, depth: np.ndarray) -> np.ndarray:
        """Depth on the fixed metric range with its colour bar in metres (and the no-depth
        colour named below, if any pixel has none)."""
        from mmpdepth.visualization.dps_drawing import (NO_DEPTH_COLOUR, colourize_depth,
                                                        depth_colour_bar, draw_legend, panel,
                                                        stack_rows)
        pic = panel([colourize_depth(depth, self.max_depth),
                     depth_colour_bar(depth.shape[0], self.max_depth)])
        if (depth <= 0).any():
            pic = stack_rows([pic, draw_legend([('no depth', NO_DEPTH_COLOUR)], pic.shape[1],
                                               depth.shape[0])])
        return pic

    def table(self, pred: dict) -> List[list]:
        """Segment rows (largest first): id, class, thing / stuff, area, mean depth, score
        (a value the model did not give, e.g. no depth head: 'n/a')."""
        def na(v):
            return 'n/a' if v is None else v

        things = set(self.inferencer.dataset_meta.get('thing_ids', ()))
        rows = [[s['id'], s['class_name'], 'thing' if s['class'] in things else 'stuff',
                 s['area'], na(s['mean_depth']), na(s['score'])] for s in pred['segments']]
        return sorted(rows, key=lambda r: -r[3])


def build_page(demo: WebDemo, title: str):
    """The Gradio page (upload or example in, pictures / 3D / table / downloads out)."""
    import gradio as gr
    with gr.Blocks(title='mmpdepth: depth-aware panoptic segmentation') as page:
        gr.Markdown(f'## Depth-aware panoptic segmentation\n{title}. Upload an image or pick '
                    'the example; the model runs once per upload.')
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label='image (PNG, JPEG, BMP, TIFF, WebP)', type='filepath',
                                 elem_id='upload')
                if osp.isfile(EXAMPLE):
                    gr.Examples(examples=[[EXAMPLE]], inputs=[upload],
                                label='example (a synthetic street scene)')
                status = gr.Markdown(elem_id='status')
                with gr.Row():
                    dl_pan = gr.DownloadButton('panoptic PNG', visible=False, size='sm',
                                               elem_id='download-panoptic')
                    dl_depth = gr.DownloadButton('depth PNG', visible=False, size='sm',
                                                 elem_id='download-depth')
                    dl_ply = gr.DownloadButton('point cloud PLY', visible=False, size='sm',
                                               elem_id='download-ply')
            with gr.Column(scale=2):
                overlay = gr.Image(label='panoptic segmentation', type='numpy', format='png',
                                   interactive=False, elem_id='overlay')
                depth = gr.Image(label='depth (m)', type='numpy', format='png',
                                 interactive=False, elem_id='depth')
        with gr.Row():
            viewer = gr.Model3D(label='point cloud (drag to turn, scroll to zoom)',
                                display_mode='point_cloud', clear_color=(0.08, 0.08, 0.1, 1.0),
                                height=480, elem_id='pointcloud')
            segments = gr.Dataframe(headers=SEGMENT_HEADERS, label='segments',
                                    interactive=False, elem_id='segments', wrap=True)

        def run(path):
            r = demo.predict(path)
            files = r.get('files', {})

            def button(key):
                return gr.DownloadButton(value=files.get(key), visible=key in files)
            return (r['status'], r.get('overlay'), r.get('depth'), r.get('model3d'),
                    r.get('segments') or [], button('panoptic'), button('depth'),
                    button('ply'))

        upload.change(run, inputs=upload,
                      outputs=[status, overlay, depth, viewer, segments, dl_pan, dl_depth,
                               dl_ply], concurrency_limit=1)
    return page


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # no calls home
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise InputError('gradio is not installed; the web demo needs the optional web '
                         'dependencies: pip install -r requirements/web.txt') from None
    if not osp.isfile(args.config):
        raise InputError(f'{args.config}: config file not found')
    if args.weights is not None and not osp.isfile(args.weights):
        raise InputError(f'--weights {args.weights}: checkpoint not found')
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('[web_demo] %(message)s'))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    from mmengine.config import Config

    from mmpdepth.apis import DPSInferencer
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    if args.random_weights:
        import torch
        torch.manual_seed(0)  # the same page on every start (for tests of the page)
    inferencer = DPSInferencer(cfg, args.weights, device=args.device, show_progress=False)
    out_root = tempfile.mkdtemp(prefix='mmpdepth_web_')
    what = (f'Model: {osp.basename(args.config)} with '
            + (osp.basename(args.weights) if args.weights else
               'random weights (page test only: the predictions mean nothing)'))
    page = build_page(WebDemo(inferencer, out_root, args.hfov, args.max_depth), what)
    page.queue(default_concurrency_limit=1, max_size=32)
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        log.warning('serving on %s: anyone who reaches this address can use the page',
                    args.host)
    def stop(signum, frame):  # SIGTERM stops like Ctrl-C: server closed, result files removed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        page.launch(server_name=args.host, server_port=args.port, allowed_paths=[out_root],
                    max_file_size=4 * MAX_UPLOAD_BYTES, show_error=False, quiet=True,
                    prevent_thread_lock=True)
        log.info('open %s in a browser (Ctrl-C stops the demo)', page.local_url)
        page.block_thread()
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_tool(main)
