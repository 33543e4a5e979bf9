"""Non-maximum suppression over numpy arrays: OpenCV for a few hundred candidates, else a greedy
numpy loop, vectorised per kept box, that stops early.

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

These are the rules of ``cv2.dnn.NMSBoxes``/``NMSBoxesBatched`` too (the tests check both
against a plain reference), so up to :data:`OPENCV_MAX_CANDIDATES` candidates OpenCV does
the work in one C++ call. It cannot stop early, though: on 8400 YOLO candidates at a low
score threshold it took ~200 ms, where the numpy loop used above that size, which stops after
``max_detections`` kept boxes and compares each kept box only with its own class, takes ~7 ms
(``bench/detect_decode.py``).
"""

from __future__ import annotations

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
    # Visit order: descending score, ties by ascending index (a stable sort).
    order = cand[np.lexsort((cand, -s[cand]))]
    limit = order.size if max_detections is None else min(max_detections, order.size)
    if order.size <= OPENCV_MAX_CANDIDATES:
        return order[
            _opencv(b[order], s[order], None if cid is None else cid[order], float(iou_threshold), limit)
        ]
    kept = _greedy(
        b[order].astype(np.float64), None if cid is None else cid[order], float(iou_threshold), limit
    )
    return order[kept]


OPENCV_MAX_CANDIDATES = 1024
"""Up to this many candidates, ``cv2.dnn.NMSBoxes`` (C++, O(n^2) at worst) runs per class; it
costs a few microseconds where the numpy loop pays ~10 us of Python per kept box. Above it the
numpy loop's early stop after ``max_detections`` kept boxes wins."""


def _opencv(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray | None, iou_threshold: float, limit: int
) -> np.ndarray:
    """Same contract as :func:`_greedy` (positions in visit order), through ``cv2.dnn.NMSBoxes``.

    OpenCV keeps a box whose IoU with every kept box is ``<=`` the threshold: the rules above.
    The boxes arrive in visit order already (ties resolved), so OpenCV gets strictly decreasing
    stand-in scores ``n..1``: its order is ours, and its (strict, non-negative) score
    threshold of 0 drops nothing.
    """
    # lazy: OpenCV, only on this path
    import cv2

    xywh = boxes.astype(np.float64)
    xywh[:, 2:] -= xywh[:, :2]
    rank = np.arange(boxes.shape[0], 0, -1, dtype=np.float64)
    if classes is None:
        idx = cv2.dnn.NMSBoxes(xywh, rank, 0.0, iou_threshold)  # type: ignore[arg-type]
    else:
        # One call: OpenCV shifts each class by its own offset (exact in float64), so boxes of
        # different classes never overlap.
        idx = cv2.dnn.NMSBoxesBatched(xywh, rank, classes.astype(np.int32), 0.0, iou_threshold)  # type: ignore[arg-type]
    return np.sort(np.asarray(idx, np.intp).reshape(-1))[:limit]


def _greedy(boxes: np.ndarray, classes: np.ndarray | None, iou_threshold: float, limit: int) -> np.ndarray:
    """Greedy NMS over boxes already in visit order; positions of the kept ones.

    Each kept box is compared, in one vectorised step, only with the later boxes of its own
    class that are still alive, and the loop stops after ``limit`` kept boxes, so the cost is
    ``O(kept x candidates per class)`` rather than ``O(n^2)``.
    """
    n = boxes.shape[0]
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x1 - x0) * (y1 - y0)
    if classes is None:
        groups = [np.arange(n)]
        group_of = np.zeros(n, np.intp)
        rank = np.arange(n)
    else:
        _, group_of = np.unique(classes, return_inverse=True)
        group_of = group_of.reshape(-1)
        by_group = np.argsort(group_of, kind="stable")  # positions, grouped, visit order kept
        starts = np.searchsorted(group_of[by_group], np.arange(group_of.max() + 1))
        groups = np.split(by_group, starts[1:])
        rank = np.empty(n, np.intp)
        rank[by_group] = np.arange(n) - starts[group_of[by_group]]
    suppressed = np.zeros(n, bool)
    kept: list[int] = []
    for p in range(n):
        if suppressed[p]:
            continue
        kept.append(p)
        if len(kept) >= limit:
            break
        later = groups[group_of[p]][rank[p] + 1 :]
        later = later[~suppressed[later]]
        if later.size == 0:
            continue
        iw = np.minimum(x1[p], x1[later]) - np.maximum(x0[p], x0[later])
        ih = np.minimum(y1[p], y1[later]) - np.maximum(y0[p], y0[later])
        np.maximum(iw, 0.0, out=iw)
        np.maximum(ih, 0.0, out=ih)
        inter = iw * ih
        # IoU > t  <=>  inter > t * union (union > 0 for the positive-size boxes kept here).
        suppressed[later[inter > iou_threshold * (area[p] + area[later] - inter)]] = True
    return np.array(kept, np.intp)
