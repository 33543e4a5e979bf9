"""Face alignment: a similarity transform from detector keypoints to the ArcFace template.

The standard ArcFace 5-point template is defined for a 112x112 crop (pixels, origin top-left):
right eye, left eye (the person's; image left then right), nose tip, right and left mouth
corners. It is scaled to the embedder's input ``(width, height)``. Detectors with other
points use the subset they have: BlazeFace gives eyes, nose tip and the mouth centre, which
maps to the midpoint of the template's mouth corners (its ears are not used).

The transform (rotation, uniform scale, translation; no reflection or shear) is the least
squares fit of Umeyama (1991), as insightface's ``norm_crop`` uses; the crop is made with
``cv2.warpAffine`` (bilinear, black borders).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from ...errors import OptionsError

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)
"""ArcFace's 5 reference points in a 112x112 crop: right eye, left eye, nose, mouth corners."""


def template_for(num_keypoints: int, size: tuple[int, int] = (112, 112)) -> tuple[np.ndarray, np.ndarray]:
    """``(template points, keypoint indices used)`` for a detector with ``num_keypoints`` points.

    5 points (YuNet, RetinaFace order): all five. 6 points (BlazeFace): eyes, nose tip and mouth
    centre against the template's eyes, nose and mouth-corner midpoint. ``size`` is the crop's
    ``(width, height)``; the 112x112 template is scaled to it.

    Raises:
        OptionsError: another keypoint count (no known correspondence).
    """
    w, h = size
    t = ARCFACE_TEMPLATE_112
    if num_keypoints == 5:
        pts, idx = t, np.arange(5)
    elif num_keypoints == 6:
        pts, idx = np.vstack([t[:3], t[3:5].mean(0, keepdims=True)]), np.arange(4)
    else:
        raise OptionsError(
            f"alignment needs 5 (eyes, nose, mouth corners) or 6 (BlazeFace) keypoints, got {num_keypoints}"
        )
    return (pts * np.array([w / 112.0, h / 112.0], np.float32)).astype(np.float32), idx


def umeyama(src: npt.ArrayLike, dst: npt.ArrayLike) -> np.ndarray:
    """Least-squares similarity transform mapping ``src`` ``(N, 2)`` points onto ``dst``.

    Returns the ``(2, 3)`` float64 matrix ``[sR | t]`` with ``dst ≈ sR @ src + t``.
    """
    s = np.asarray(src, np.float64)
    d = np.asarray(dst, np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 2:
        raise OptionsError(
            f"expected two (N>=2, 2) point sets of the same shape, got {s.shape} and {d.shape}"
        )
    n = s.shape[0]
    ms, md = s.mean(0), d.mean(0)
    sc, dc = s - ms, d - md
    cov = dc.T @ sc / n
    u, sing, vt = np.linalg.svd(cov)
    e = np.ones(2)
    if np.linalg.det(cov) < 0:
        e[-1] = -1.0
    rot = u @ np.diag(e) @ vt
    var = (sc**2).sum() / n
    scale = float((sing * e).sum() / var) if var > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - scale * rot @ ms
    return m


def alignment_matrix(keypoints: npt.ArrayLike, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """The ``(2, 3)`` source-to-crop matrix for a face's ``(K, 2)`` keypoints (source pixels).

    Raises:
        OptionsError: unsupported keypoint count.
    """
    kps = np.asarray(keypoints, np.float32).reshape(-1, 2)
    dst, idx = template_for(kps.shape[0], size)
    return umeyama(kps[idx], dst)


def align_face(image: np.ndarray, keypoints: npt.ArrayLike, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """Warp the face with ``keypoints`` (source pixels) out of ``image`` (RGB uint8) to ``size``.

    Returns a new ``(height, width, 3)`` uint8 array (a copy).

    Raises:
        OptionsError: unsupported keypoint count.
    """
    m = alignment_matrix(keypoints, size)
    return cv2.warpAffine(
        image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def square_crop(image: np.ndarray, box: npt.ArrayLike, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """The unaligned baseline: the square around ``box`` (x0, y0, x1, y1 source pixels), resized.

    Used to show what alignment buys; recognition should use :func:`align_face`.
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box).reshape(4))
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = size[0] / side, size[1] / side
    m = np.array([[s[0], 0, size[0] / 2 - cx * s[0]], [0, s[1], size[1] / 2 - cy * s[1]]], np.float64)
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA if side > size[0] else cv2.INTER_LINEAR)
