"""Back-projection of a depth map to a coloured, labelled point cloud, and binary PLY I/O."""
import math
from typing import Dict, Optional, Tuple

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


def backproject(depth: np.ndarray, intrinsics: Dict[str, float]
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels with depth > 0 -> camera-frame points.

    For pixel (row v, column u) with depth Z: ``X = (u - cx) · Z / fx``, ``Y = (v - cy) · Z / fy``,
    ``Z = Z`` (x right, y down, z forward, metres).

    Returns:
        tuple: ``points`` (N, 3) float32 and the flat indices (N,) of the valid pixels.
    """
    h, w = depth.shape
    idx = np.flatnonzero(np.asarray(depth).ravel() > 0)
    z = np.asarray(depth, np.float64).ravel()[idx]
    v, u = np.divmod(idx, w)
    x = (u - intrinsics['cx']) * z / intrinsics['fx']
    y = (v - intrinsics['cy']) * z / intrinsics['fy']
    return np.stack([x, y, z], 1).astype(np.float32), idx


def write_ply(path: str, depth: np.ndarray, rgb: np.ndarray, intrinsics: Dict[str, float],
              panoptic: Optional[np.ndarray] = None, label_divisor: int = 1000) -> int:
    """Write a binary little-endian PLY of the valid-depth pixels; returns the point count.

    Vertex properties: float x, y, z (metres), uchar red, green, blue, ushort class, uint
    instance (from ``panoptic`` ids ``class * label_divisor + instance``; 0 without it).
    """
    pts, idx = backproject(depth, intrinsics)
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
