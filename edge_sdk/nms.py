"""Non-maximum suppression over numpy arrays (OpenCV's ``cv2.dnn.NMSBoxes`` underneath).

Boxes are ``(N, 4)`` ``x0, y0, x1, y1`` in any one unit (pixels or normalized), origin
top-left. IoU is ``area(a & b) / area(a | b)`` on continuous coordinates (no ``+1``).

Rules, identical for the class-wise and the class-agnostic variant:

- Candidates with ``score < score_threshold`` are dropped first (``>=`` keeps, so a score
  equal to the threshold survives), and so are boxes with a non-positive width or height or
  a non-finite value.
- Candidates are visited by descending score; **ties keep input order** (the lower index
  is visited first and therefore wins). A candidate is suppressed when its IoU with an
  already kept box (of the same class, for class-wise NMS) is **strictly greater** than
  ``iou_threshold``; an IoU equal to the threshold does not suppress.
- The result holds at most ``max_detections`` indices, sorted by descending score, ties by
  ascending index.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from .errors import OptionsError

__all__ = ["box_iou", "nms"]


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of two sets of ``x0, y0, x1, y1`` boxes.

    Pairs whose union is empty have IoU 0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _check(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_detections: int | None) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise OptionsError(f"boxes must have shape (N, 4), got {boxes.shape}")
    if scores.shape != (boxes.shape[0],):
        raise OptionsError(f"scores must have shape ({boxes.shape[0]},), got {scores.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise OptionsError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    if max_detections is not None and max_detections < 0:
        raise OptionsError(f"max_detections must be >= 0, got {max_detections}")


def nms(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    iou_threshold: float = 0.45,
    *,
    class_ids: npt.ArrayLike | None = None,
    score_threshold: float = 0.0,
    max_detections: int | None = None,
) -> np.ndarray:
    """Indices of the boxes that survive NMS, best first (see the module docstring for ties).

    Args:
        boxes: ``(N, 4)`` ``x0, y0, x1, y1``.
        scores: ``(N,)``.
        iou_threshold: suppress a box whose IoU with a kept box is strictly greater.
        class_ids: ``(N,)`` integers for class-wise NMS (boxes of different classes never
            suppress each other); None for class-agnostic NMS.
        score_threshold: drop candidates scoring below this before NMS.
        max_detections: keep at most this many (None: all).

    Returns:
        ``intp`` array of indices into ``boxes``.

    Raises:
        OptionsError: mismatched shapes or a threshold out of range.
    """
    b = np.asarray(boxes, dtype=np.float32)
    if b.size == 0:
        b = b.reshape(0, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    _check(b, s, float(iou_threshold), max_detections)
    cid = None if class_ids is None else np.asarray(class_ids).reshape(-1)
    if cid is not None and cid.shape != s.shape:
        raise OptionsError(f"class_ids must have shape {s.shape}, got {cid.shape}")
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    valid = (s >= score_threshold) & (w > 0) & (h > 0) & np.isfinite(b).all(axis=1) & np.isfinite(s)
    cand = np.flatnonzero(valid)
    if cand.size == 0 or max_detections == 0:
        return np.zeros(0, np.intp)
    # Visit order: descending score, ties by ascending index. OpenCV sorts stably, and we
    # hand it the candidates already in this order, so its result follows the same rule.
    cand = cand[np.lexsort((cand, -s[cand]))]
    xywh = np.stack([b[cand, 0], b[cand, 1], w[cand], h[cand]], axis=1).astype(np.float64)
    cs = s[cand].astype(np.float32)
    # OpenCV keeps scores strictly above its threshold; ours was applied already.
    below = float(np.nextafter(cs.min(), np.float32(-np.inf)))
    dnn: Any = cv2.dnn  # its stubs want Python sequences; it takes numpy arrays without a copy
    if cid is None:
        keep = dnn.NMSBoxes(xywh, cs, below, float(iou_threshold))
    else:
        keep = dnn.NMSBoxesBatched(xywh, cs, cid[cand].astype(np.int32), below, float(iou_threshold))
    kept = np.sort(np.asarray(keep, dtype=np.intp).reshape(-1))  # positions in visit order
    out = cand[kept]
    if max_detections is not None:
        out = out[:max_detections]
    return out
