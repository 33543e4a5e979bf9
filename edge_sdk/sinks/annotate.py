"""Annotated frames for the image sinks (video, preview), drawn with :mod:`edge_sdk.draw`.

:func:`annotate` returns a **new** RGB uint8 image (the one copy an image sink makes); the
frame shared with the other sinks is never modified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..draw import (
    caption,
    class_color,
    draw_boxes,
    draw_detections,
    draw_keypoints,
    draw_poses,
    draw_segmentation,
)
from ..results import Classification, Detections, Poses, Segmentation

if TYPE_CHECKING:
    from ..tasks.base import TaskResult

KNOWN_FACE = (72, 249, 10)
UNKNOWN_FACE = (255, 112, 31)


def _classes(image: np.ndarray, classification: Classification, top: int) -> np.ndarray:
    """The top classes as captions at the top-left corner, drawn in place."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.4, min(image.shape[:2]) / 800)
    thick = max(1, round(scale * 2))
    y = 0
    for cat in classification.categories[:top]:
        text = caption(cat.label, cat.id, cat.score)
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        cv2.rectangle(image, (0, y), (tw + 6, y + th + base + 6), class_color(cat.id), -1)
        cv2.putText(image, text, (3, y + th + 3), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
        y += th + base + 8
    return image


def annotate(result: TaskResult, *, top_classes: int = 3) -> np.ndarray:
    """A copy of the result's frame with its boxes, captions and keypoints (or top classes,
    a class overlay with a legend, or pose skeletons).

    Faces are green with ``identity similarity`` when recognised, orange ``unknown score``
    otherwise; detections use :func:`edge_sdk.draw.draw_detections`.
    """
    image = result.frame.image
    res = result.result
    if isinstance(res, Detections):
        return draw_detections(image, res)
    if isinstance(res, Segmentation):
        return draw_segmentation(image, res)
    if isinstance(res, Poses):
        return draw_poses(image, res)
    if isinstance(res, Classification):
        return _classes(np.array(image, dtype=np.uint8, copy=True), res, top_classes)
    faces = res
    colors = [KNOWN_FACE if f.identity else UNKNOWN_FACE for f in faces]
    captions = [
        f"{f.identity} {f.similarity:.2f}"
        if f.identity and f.similarity is not None
        else f"unknown {float(f.score):.2f}"
        for f in faces
    ]
    boxes = np.stack([f.box for f in faces]) if faces else np.zeros((0, 4), np.float32)
    out = draw_boxes(image, boxes, captions, colors)
    for f, color in zip(faces, colors, strict=True):
        draw_keypoints(out, f.keypoints, color, inplace=True)
    return out
