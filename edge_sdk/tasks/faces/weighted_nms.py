"""MediaPipe-style weighted non-maximum suppression (``NonMaxSuppressionCalculator``, WEIGHTED).

Each kept detection is the score-weighted mean of itself and every remaining detection whose
IoU with it exceeds the threshold; its score is the best one of the group. This steadies
BlazeFace boxes and keypoints, which fire on several neighbouring anchors per face.
"""

from __future__ import annotations

import numpy as np

from ...nms import box_iou


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with ``(N, 4)`` boxes, all ``x0, y0, x1, y1`` (any unit), as
    float32 ``(N,)`` (:func:`edge_sdk.nms.box_iou`: an empty union gives 0)."""
    return box_iou(box[None], boxes)[0].astype(np.float32)


def weighted_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    keypoints: np.ndarray,
    iou_threshold: float,
    max_detections: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted NMS over ``boxes`` ``(N, 4)`` xyxy, ``scores`` ``(N,)``, ``keypoints`` ``(N, K, 2)``.

    Returns ``(boxes, scores, keypoints)`` of the kept detections, best first. Detections
    overlapping the current best with IoU strictly greater than ``iou_threshold`` are merged
    into it.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.ndim != 3:
        keypoints = keypoints.reshape(boxes.shape[0], -1, 2)
    order = np.argsort(-scores, kind="stable")
    out_b: list[np.ndarray] = []
    out_s: list[float] = []
    out_k: list[np.ndarray] = []
    while order.size and (max_detections is None or len(out_b) < max_detections):
        top = order[0]
        ious = iou_one_to_many(boxes[top], boxes[order])
        group = order[ious > iou_threshold]
        if group.size == 0:  # degenerate (zero-area) box: keep it on its own
            group = order[:1]
        w = scores[group]
        total = float(w.sum())
        out_b.append((boxes[group] * w[:, None]).sum(0) / total)
        out_k.append((keypoints[group] * w[:, None, None]).sum(0) / total)
        out_s.append(float(scores[top]))
        order = order[~np.isin(order, group)]
    k = keypoints.shape[1]
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, k, 2), np.float32)
    return (
        np.stack(out_b).astype(np.float32),
        np.asarray(out_s, np.float32),
        np.stack(out_k).astype(np.float32),
    )
