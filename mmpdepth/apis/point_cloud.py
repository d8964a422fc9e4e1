"""Back-projection of a depth map to a coloured, labelled point cloud; binary PLY and glTF
(GLB) point cloud I/O."""
import json
import math
import struct
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: PLY vertex layout written by :func:`write_ply`
PLY_DTYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('red', 'u1'), ('green', 'u1'),
                      ('blue', 'u1'), ('class', '<u2'), ('instance', '<u4')])

#: horizontal field of view used when no intrinsics are known (documented default)
DEFAULT_HFOV_DEG = 60.0


def default_intrinsics(height: int, width: int, hfov_deg: float = DEFAULT_HFOV_DEG
                       ) -> Dict[str, float]:
    """A pinhole camera with the given horizontal field of view, principal point at the centre."""
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return dict(fx=f, fy=f, cx=width / 2.0, cy=height / 2.0)


def sky_classes(meta: dict) -> Tuple[int, ...]:
    """Class ids named ``sky`` in a dataset meta's ``classes`` (none for SemKITTI)."""
    return tuple(i for i, name in enumerate(meta.get('classes') or ()) if name == 'sky')


def point_mask(depth: np.ndarray, panoptic: Optional[np.ndarray] = None,
               label_divisor: int = 1000, drop_classes: Sequence[int] = ()) -> np.ndarray:
    """(H, W) bool: pixels that become points, those with depth > 0 whose class (from the
    ``panoptic`` ids ``class * label_divisor + instance``) is not in ``drop_classes``. A depth
    model predicts a depth for the sky too; leaving the sky class out keeps it from standing in
    the cloud as a wall."""
    keep = np.asarray(depth) > 0
    if panoptic is not None and len(drop_classes):
        keep &= ~np.isin(np.asarray(panoptic, np.int64) // label_divisor, list(drop_classes))
    return keep


def backproject(depth: np.ndarray, intrinsics: Dict[str, float],
                mask: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels with depth > 0 (and ``mask``, if given) -> camera-frame points.

    For pixel (row v, column u) with depth Z: ``X = (u - cx) · Z / fx``, ``Y = (v - cy) · Z / fy``,
    ``Z = Z`` (x right, y down, z forward, metres).

    Returns:
        tuple: ``points`` (N, 3) float32 and the flat indices (N,) of the valid pixels.
    """
    h, w = depth.shape
    keep = np.asarray(depth) > 0
    if mask is not None:
        keep &= np.asarray(mask, bool)
    idx = np.flatnonzero(keep.ravel())
    z = np.asarray(depth, np.float64).ravel()[idx]
    v, u = np.divmod(idx, w)
    x = (u - intrinsics['cx']) * z / intrinsics['fx']
    y = (v - intrinsics['cy']) * z / intrinsics['fy']
    return np.stack([x, y, z], 1).astype(np.float32), idx


def write_ply(path: str, depth: np.ndarray, rgb: np.ndarray, intrinsics: Dict[str, float],
              panoptic: Optional[np.ndarray] = None, label_divisor: int = 1000,
              mask: Optional[np.ndarray] = None) -> int:
    """Write a binary little-endian PLY of the valid-depth pixels (and ``mask``, e.g. from
    :func:`point_mask`); returns the point count.

    Vertex properties: float x, y, z (metres), uchar red, green, blue, ushort class, uint
    instance (from ``panoptic`` ids ``class * label_divisor + instance``; 0 without it).
    """
    pts, idx = backproject(depth, intrinsics, mask)
    data = np.zeros(len(idx), PLY_DTYPE)
    data['x'], data['y'], data['z'] = pts[:, 0], pts[:, 1], pts[:, 2]
    colours = np.asarray(rgb).reshape(-1, 3)[idx]
    data['red'], data['green'], data['blue'] = colours[:, 0], colours[:, 1], colours[:, 2]
    if panoptic is not None:
        ids = np.asarray(panoptic, np.int64).ravel()[idx]
        data['class'] = np.clip(ids // label_divisor, 0, 65535)
        data['instance'] = ids % label_divisor
    header = ('ply\nformat binary_little_endian 1.0\ncomment mmpdepth point cloud (metres; '
              'x right, y down, z forward)\n'
              f'element vertex {len(data)}\nproperty float x\nproperty float y\n'
              'property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n'
              'property ushort class\nproperty uint instance\nend_header\n')
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        f.write(data.tobytes())
    return len(data)


def read_ply(path: str) -> np.ndarray:
    """Read a PLY written by :func:`write_ply` (structured array with :data:`PLY_DTYPE`)."""
    with open(path, 'rb') as f:
        raw = f.read()
    end = raw.index(b'end_header\n') + len(b'end_header\n')
    header = raw[:end].decode('ascii').splitlines()
    if header[0] != 'ply' or 'format binary_little_endian 1.0' not in header:
        raise ValueError(f'{path}: not a binary little-endian PLY')
    n = int(next(line.split()[2] for line in header if line.startswith('element vertex')))
    return np.frombuffer(raw[end:end + n * PLY_DTYPE.itemsize], PLY_DTYPE, count=n)


def intrinsics_record(intrinsics: Optional[Dict[str, float]], height: int, width: int,
                      source: Optional[str] = None) -> Dict:
    """The camera a point cloud was made with, as written beside it: ``fx, fy, cx, cy`` (px),
    the image size, the horizontal field of view and where the values came from
    (``source``; without ``intrinsics`` the :func:`default_intrinsics` are used and the source
    says they are assumed)."""
    if intrinsics is None:
        intrinsics = default_intrinsics(height, width)
        source = f'assumed: no intrinsics given, {DEFAULT_HFOV_DEG:g} degree horizontal field ' \
                 'of view, principal point at the image centre'
    rec = {k: round(float(intrinsics[k]), 4) for k in ('fx', 'fy', 'cx', 'cy')}
    rec.update(width=int(width), height=int(height),
               hfov_deg=round(math.degrees(2 * math.atan(width / 2 / rec['fx'])), 3),
               source=source or 'given')
    return rec


def write_intrinsics_json(path: str, record: Dict, **extra) -> None:
    """Write :func:`intrinsics_record` (plus ``extra`` keys, e.g. point counts) as JSON."""
    with open(path, 'w') as f:
        json.dump(dict(record, **extra), f, indent=1)


def write_glb(path: str, points: np.ndarray, colours: np.ndarray) -> int:
    """Write a point cloud as binary glTF 2.0 (``.glb``, one mesh of mode POINTS with
    POSITION and 8-bit normalised COLOR_0), which web viewers (three.js, Gradio's ``Model3D``)
    show. glTF is y up, so camera-frame points (y down, z forward) are turned about x:
    ``(x, -y, -z)``. Returns the point count."""
    pos = np.asarray(points, np.float32).reshape(-1, 3) * np.float32([1, -1, -1])
    col = np.concatenate([np.asarray(colours, np.uint8).reshape(-1, 3),
                          np.full((len(pos), 1), 255, np.uint8)], 1)
    n = len(pos)
    blob = pos.tobytes() + col.tobytes()
    blob += b'\0' * (-len(blob) % 4)
    lo = pos.min(0).tolist() if n else [0.0] * 3
    hi = pos.max(0).tolist() if n else [0.0] * 3
    gltf = dict(
        asset=dict(version='2.0', generator='mmpdepth'), scene=0, scenes=[dict(nodes=[0])],
        nodes=[dict(mesh=0)],
        meshes=[dict(primitives=[dict(attributes=dict(POSITION=0, COLOR_0=1), mode=0)])],
        buffers=[dict(byteLength=len(blob))],
        bufferViews=[dict(buffer=0, byteOffset=0, byteLength=pos.nbytes, target=34962),
                     dict(buffer=0, byteOffset=pos.nbytes, byteLength=col.nbytes,
                          target=34962)],
        accessors=[dict(bufferView=0, componentType=5126, count=n, type='VEC3', min=lo, max=hi),
                   dict(bufferView=1, componentType=5121, normalized=True, count=n,
                        type='VEC4')])
    js = json.dumps(gltf, separators=(',', ':')).encode()
    js += b' ' * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    with open(path, 'wb') as f:
        f.write(struct.pack('<4sII', b'glTF', 2, total))
        f.write(struct.pack('<I4s', len(js), b'JSON') + js)
        f.write(struct.pack('<I4s', len(blob), b'BIN\0') + blob)
    return n


def read_glb(path: str) -> Tuple[dict, np.ndarray, np.ndarray]:
    """Read a GLB written by :func:`write_glb`: (glTF JSON, (N, 3) float32 positions,
    (N, 4) uint8 colours)."""
    with open(path, 'rb') as f:
        raw = f.read()
    magic, version, total = struct.unpack_from('<4sII', raw, 0)
    if magic != b'glTF' or version != 2 or total != len(raw):
        raise ValueError(f'{path}: not a glTF 2.0 binary file')
    jlen, _ = struct.unpack_from('<I4s', raw, 12)
    gltf = json.loads(raw[20:20 + jlen])
    blen, kind = struct.unpack_from('<I4s', raw, 20 + jlen)
    if kind != b'BIN\0':
        raise ValueError(f'{path}: no binary chunk')
    blob = raw[28 + jlen:28 + jlen + blen]
    pos_view, col_view = gltf['bufferViews'][0], gltf['bufferViews'][1]
    n = gltf['accessors'][0]['count']
    pos = np.frombuffer(blob, np.float32, n * 3, pos_view['byteOffset']).reshape(n, 3)
    col = np.frombuffer(blob, np.uint8, n * 4, col_view['byteOffset']).reshape(n, 4)
    return gltf, pos, col


def render_point_cloud(points: np.ndarray, colours: np.ndarray, out_file: str,
                       max_points: int = 60000, max_depth: float = 80.0,
                       elev: float = 20.0, azim: float = -75.0) -> None:
    """Save a matplotlib 3D scatter view of a point cloud as PNG (for quick looks / README)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keep = points[:, 2] <= max_depth
    points, colours = points[keep], colours[keep]
    if len(points) > max_points:
        sel = np.random.default_rng(0).choice(len(points), max_points, replace=False)
        points, colours = points[sel], colours[sel]
    fig = plt.figure(figsize=(8, 6), dpi=100)
    ax = fig.add_subplot(projection='3d')
    # plot with z (forward) as the depth axis and -y as up
    ax.scatter(points[:, 0], points[:, 2], -points[:, 1], c=colours / 255.0, s=0.3,
               linewidths=0)
    ax.set_xlabel('x (m)')
    ax.set_ylabel('z (m, forward)')
    ax.set_zlabel('up (m)')
    ax.view_init(elev=elev, azim=azim)
    try:
        ax.set_box_aspect((np.ptp(points[:, 0]) + 1e-3, np.ptp(points[:, 2]) + 1e-3,
                           np.ptp(points[:, 1]) + 1e-3))
    except Exception:  # noqa: BLE001 - older matplotlib
        pass
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
