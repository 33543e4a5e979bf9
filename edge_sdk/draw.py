"""Draw results on images: boxes with captions, and keypoints. Kept apart from the result
types so that results stay plain data; used by ``--annotate``, video and preview outputs.

Images are RGB uint8 ``(H, W, 3)``; coordinates are pixels ``x0, y0, x1, y1`` of that image,
origin top-left. Functions draw on a copy unless ``inplace=True``, and return the image
drawn on. Colours are ``(r, g, b)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from .errors import ImageError
from .results import COCO_KEYPOINTS, COCO_SKELETON, Detections, Poses, Segmentation

Color = tuple[int, int, int]

# 20 saturated colours that stay visible on photos (the Ultralytics plotting palette, RGB).
PALETTE: tuple[Color, ...] = (
    (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
    (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187),
    (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255), (0, 24, 236),
    (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
)  # fmt: skip


def class_color(class_id: int) -> Color:
    """A stable colour for a class id (or a track id)."""
    return PALETTE[int(class_id) % len(PALETTE)]


def _canvas(image: npt.ArrayLike, inplace: bool) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ImageError(
            f"can only draw on RGB uint8 (H, W, 3) images, got shape {img.shape} dtype {img.dtype}"
        )
    if inplace:
        if not img.flags.writeable or not img.flags.c_contiguous:
            raise ImageError("inplace drawing needs a writable C-contiguous array")
        return img
    return img.copy()


def _style(img: np.ndarray, thickness: int | None, font_scale: float | None) -> tuple[int, float]:
    side = min(img.shape[:2])
    t = thickness if thickness is not None else max(1, round(side / 300))
    f = font_scale if font_scale is not None else max(0.35, side / 1000)
    return t, f


def draw_boxes(
    image: npt.ArrayLike,
    boxes: npt.ArrayLike,
    captions: Sequence[str | None] | None = None,
    colors: Sequence[Color] | None = None,
    *,
    thickness: int | None = None,
    font_scale: float | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw ``(N, 4)`` boxes, each with an optional caption on a filled tag above it (inside
    the image when the box touches the top edge).

    Raises:
        ImageError: ``image`` is not RGB uint8 (or not writable with ``inplace``).
        ValueError: ``captions``/``colors`` do not have one entry per box.
    """
    img = _canvas(image, inplace)
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n = len(b)
    if captions is not None and len(captions) != n:
        raise ValueError(f"captions must have {n} entries, got {len(captions)}")
    if colors is not None and len(colors) != n:
        raise ValueError(f"colors must have {n} entries, got {len(colors)}")
    t, f = _style(img, thickness, font_scale)
    font = cv2.FONT_HERSHEY_SIMPLEX
    h, w = img.shape[:2]
    for i in range(n):
        color = tuple(int(c) for c in (colors[i] if colors is not None else class_color(i)))
        x0, y0, x1, y1 = (round(float(v)) for v in b[i])
        cv2.rectangle(img, (x0, y0), (x1, y1), color, t, cv2.LINE_8)
        text = captions[i] if captions is not None else None
        if not text:
            continue
        (tw, th), base = cv2.getTextSize(text, font, f, max(1, t // 2))
        ty = y0 - th - base - 2 if y0 - th - base - 2 >= 0 else min(y0 + t, h - th - base - 2)
        tx = min(max(0, x0), max(0, w - tw - 2))
        cv2.rectangle(img, (tx, ty), (tx + tw + 2, ty + th + base + 2), color, -1)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(img, text, (tx + 1, ty + th + 1), font, f, ink, max(1, t // 2), cv2.LINE_AA)
    return img


def draw_keypoints(
    image: npt.ArrayLike,
    points: npt.ArrayLike,
    color: Color = (255, 255, 0),
    *,
    radius: int | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw ``(K, 2)`` points ``x, y`` (for example face landmarks) as filled dots."""
    img = _canvas(image, inplace)
    p = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    r = radius if radius is not None else max(2, round(min(img.shape[:2]) / 200))
    for x, y in p:
        cv2.circle(img, (round(float(x)), round(float(y))), r, color, -1, cv2.LINE_AA)
    return img


def caption(label: str | None, class_id: int, score: float) -> str:
    """``"label 0.87"``, or ``"#id 0.87"`` when there is no label."""
    name = label if label else f"#{class_id}"
    return f"{name} {score:.2f}"


def draw_detections(
    image: npt.ArrayLike,
    detections: Detections,
    *,
    thickness: int | None = None,
    font_scale: float | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw detections: one colour per class (per track when tracked), captioned
    ``label score`` (``label #track score`` when tracked)."""
    ids = detections.tracker_ids if detections.tracker_ids is not None else detections.class_ids
    captions = []
    for i in range(len(detections)):
        text = caption(detections.labels[i], int(detections.class_ids[i]), float(detections.scores[i]))
        if detections.tracker_ids is not None:
            name, score = text.rsplit(" ", 1)
            text = f"{name} #{int(detections.tracker_ids[i])} {score}"
        captions.append(text)
    colors = [class_color(int(c)) for c in ids]
    return draw_boxes(
        image, detections.xyxy, captions, colors, thickness=thickness, font_scale=font_scale, inplace=inplace
    )


def draw_segmentation(
    image: npt.ArrayLike,
    segmentation: Segmentation,
    *,
    alpha: float = 0.5,
    background: int | None = 0,
    legend: bool = True,
    inplace: bool = False,
) -> np.ndarray:
    """Blend a colour per class over the image (``alpha`` of the colour) and draw a legend
    (one swatch and label per class present, top-left).

    Args:
        background: the class id left undrawn (None: draw every class).

    Raises:
        ImageError: ``image`` is not RGB uint8, or its size differs from the mask's.
    """
    img = _canvas(image, inplace)
    mask = segmentation.mask
    if mask.shape != img.shape[:2]:
        raise ImageError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {img.shape[1]}x{img.shape[0]}"
        )
    present = [c for c in segmentation.classes if c.id != background]
    if present:
        lut = np.zeros((max(c.id for c in present) + 1, 3), np.uint8)
        for c in present:
            lut[c.id] = class_color(c.id)
        ids = np.clip(mask, 0, len(lut) - 1)
        paint = (mask != background) & (mask < len(lut)) if background is not None else mask < len(lut)
        colour = lut[ids]
        blended = cv2.addWeighted(img, 1.0 - alpha, colour, alpha, 0.0)
        img[paint] = blended[paint]
    if legend and present:
        font = cv2.FONT_HERSHEY_SIMPLEX
        t, f = _style(img, None, None)
        y = 2
        for c in present:
            text = f"{c.label or f'#{c.id}'} {100 * c.fraction:.1f}%"
            (tw, th), base = cv2.getTextSize(text, font, f, max(1, t // 2))
            cv2.rectangle(img, (2, y), (2 + th, y + th), class_color(c.id), -1)
            cv2.rectangle(img, (2 + th + 2, y - 1), (2 + th + 6 + tw, y + th + base), (0, 0, 0), -1)
            cv2.putText(img, text, (th + 6, y + th), font, f, (255, 255, 255), max(1, t // 2), cv2.LINE_AA)
            y += th + base + 4
    return img


def draw_poses(
    image: npt.ArrayLike,
    poses: Poses,
    *,
    min_score: float = 0.2,
    thickness: int | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw each pose as the COCO skeleton (for 17 keypoints) plus dots; keypoints and
    edges below ``min_score`` are left out; boxes are drawn when the model gave them."""
    img = _canvas(image, inplace)
    t, _ = _style(img, thickness, None)
    r = max(2, round(min(img.shape[:2]) / 200))
    edges = COCO_SKELETON if len(poses.names) == len(COCO_KEYPOINTS) else ()
    for i in range(len(poses)):
        color = class_color(i)
        kps = poses.keypoints[i]
        for a, b in edges:
            if kps[a, 2] >= min_score and kps[b, 2] >= min_score:
                p0 = (round(float(kps[a, 0])), round(float(kps[a, 1])))
                p1 = (round(float(kps[b, 0])), round(float(kps[b, 1])))
                cv2.line(img, p0, p1, color, t, cv2.LINE_AA)
        for x, y, s in kps:
            if s >= min_score:
                cv2.circle(img, (round(float(x)), round(float(y))), r, (255, 255, 255), -1, cv2.LINE_AA)
    if poses.boxes is not None and len(poses):
        draw_boxes(
            img,
            poses.boxes,
            [f"person {float(s):.2f}" for s in poses.scores],
            [class_color(i) for i in range(len(poses))],
            thickness=thickness,
            inplace=True,
        )
    return img
