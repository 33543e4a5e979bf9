"""Typed results. Frozen dataclasses whose shapes are checked when they are built.

Coordinates are pixels of the **original** frame: ``x0, y0, x1, y1`` with the origin at the
top-left corner, x to the right, y down. Sizes are ``(width, height)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .labels import LabelMap


@dataclass(frozen=True)
class Category:
    """One class: ``id`` is the output index, ``score`` the dequantized output in [0, 1] for
    softmax models, ``label`` None when no label map is known."""

    id: int
    score: float
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Classification:
    """Top categories of one frame, best first."""

    categories: tuple[Category, ...] = ()

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __getitem__(self, i: int) -> Category:
        return self.categories[i]

    @property
    def top(self) -> Category | None:
        return self.categories[0] if self.categories else None

    def as_dicts(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.categories]


def _as(arr: npt.ArrayLike, dtype: npt.DTypeLike) -> np.ndarray:
    """A read-only view (no copy when the dtype already matches); the caller's array is untouched."""
    out = np.asarray(arr, dtype=dtype).view()
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Detections:
    """Detected objects of one frame, as struct-of-arrays (index ``i`` is one object).

    ``xyxy``: float32 ``(N, 4)`` boxes ``x0, y0, x1, y1`` in source pixels;
    ``scores``: float32 ``(N,)``; ``class_ids``: int32 ``(N,)``;
    ``labels``: N strings or None; ``tracker_ids``: int32 ``(N,)`` or None.
    Filter with a boolean mask or index array: ``dets[dets.scores > 0.5]``.
    """

    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    labels: tuple[str | None, ...] = ()
    tracker_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = _as(self.xyxy, np.float32)
        if xyxy.size == 0:
            xyxy = _as(np.zeros((0, 4)), np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        scores = _as(self.scores, np.float32)
        class_ids = _as(self.class_ids, np.int32)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
        if class_ids.shape != (n,):
            raise ValueError(f"class_ids must have shape ({n},), got {class_ids.shape}")
        labels = tuple(self.labels) if self.labels else (None,) * n
        if len(labels) != n:
            raise ValueError(f"labels must have {n} entries, got {len(labels)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "labels", labels)
        if self.tracker_ids is not None:
            tids = _as(self.tracker_ids, np.int32)
            if tids.shape != (n,):
                raise ValueError(f"tracker_ids must have shape ({n},), got {tids.shape}")
            object.__setattr__(self, "tracker_ids", tids)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: npt.ArrayLike | slice) -> Detections:
        idx = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        if idx.dtype == np.bool_:
            if idx.shape != (len(self),):
                raise ValueError(f"mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = np.atleast_1d(idx).astype(np.intp)
        return Detections(
            self.xyxy[idx],
            self.scores[idx],
            self.class_ids[idx],
            tuple(self.labels[i] for i in idx),
            None if self.tracker_ids is None else self.tracker_ids[idx],
        )

    @property
    def area(self) -> np.ndarray:
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    def as_dicts(self, decimals: int = 1) -> list[dict[str, Any]]:
        out = []
        for i in range(len(self)):
            d: dict[str, Any] = {
                "id": int(self.class_ids[i]),
                "label": self.labels[i],
                "score": round(float(self.scores[i]), 6),
                "box": [round(float(v), decimals) for v in self.xyxy[i]],
            }
            if self.tracker_ids is not None:
                d["track"] = int(self.tracker_ids[i])
            out.append(d)
        return out


@dataclass(frozen=True, eq=False)
class Face:
    """One face.

    ``box``: ``(4,)`` float32 ``x0, y0, x1, y1`` in source pixels. ``keypoints``: ``(K, 2)``
    float32 ``x, y`` in source pixels, K = 6 for BlazeFace (right eye, left eye, nose tip,
    mouth centre, right ear, left ear; "right" is the person's right) or 5 for YuNet (right
    eye, left eye, nose tip, right and left mouth corners). ``embedding``: L2-normalised
    float32 vector, when computed. ``identity`` and ``similarity`` (cosine in [-1, 1]) are set
    by recognition; ``identity`` is None for an unknown face.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    embedding: np.ndarray | None = None
    identity: str | None = None
    similarity: float | None = None

    def __post_init__(self) -> None:
        box = _as(self.box, np.float32).reshape(-1)
        if box.shape != (4,):
            raise ValueError(f"box must have shape (4,), got {box.shape}")
        kps = _as(self.keypoints, np.float32)
        if kps.size == 0:
            kps = _as(np.zeros((0, 2)), np.float32)
        if kps.ndim != 2 or kps.shape[1] != 2:
            raise ValueError(f"keypoints must have shape (K, 2), got {kps.shape}")
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "keypoints", kps)
        if self.embedding is not None:
            emb = _as(self.embedding, np.float32).reshape(-1)
            object.__setattr__(self, "embedding", emb)

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))

    def as_dict(self, decimals: int = 1) -> dict[str, Any]:
        return {
            "box": [round(float(v), decimals) for v in self.box],
            "score": round(float(self.score), 6),
            "keypoints": [[round(float(x), decimals), round(float(y), decimals)] for x, y in self.keypoints],
            "identity": self.identity,
            "similarity": None if self.similarity is None else round(float(self.similarity), 6),
        }


def faces_as_dicts(faces: Sequence[Face]) -> list[dict[str, Any]]:
    return [f.as_dict() for f in faces]


@dataclass(frozen=True)
class SegmentClass:
    """One class present in a segmentation: ``pixels`` of the source image it covers and
    ``fraction`` of the image (0..1)."""

    id: int
    label: str | None
    pixels: int
    fraction: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "pixels": self.pixels,
            "fraction": round(self.fraction, 6),
        }


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A semantic segmentation of one frame.

    ``mask``: ``(H, W)`` integer class ids (uint8 when every id fits, else int32) at the
    **source image's** size, row ``y``, column ``x``. ``classes``: the classes present, by
    id. ``labels``: the label map (None when unknown). ``scores``: ``(H, W)`` float32
    per-pixel confidence of the winning class (a probability), when asked for and the model
    gives per-class values; else None.
    """

    mask: np.ndarray
    classes: tuple[SegmentClass, ...] = ()
    labels: LabelMap | None = None
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask)
        if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(f"mask must be a 2-D integer array, got shape {mask.shape} dtype {mask.dtype}")
        mask = mask.view()
        mask.setflags(write=False)
        object.__setattr__(self, "mask", mask)
        if self.scores is not None:
            scores = _as(self.scores, np.float32)
            if scores.shape != mask.shape:
                raise ValueError(f"scores must have the mask's shape {mask.shape}, got {scores.shape}")
            object.__setattr__(self, "scores", scores)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the mask (the source image)."""
        return int(self.mask.shape[1]), int(self.mask.shape[0])

    def as_dicts(self) -> list[dict[str, Any]]:
        """The per-class areas (the JSON ``classes`` list); never the mask itself."""
        return [c.as_dict() for c in self.classes]


COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""The 17 COCO keypoints in the order MoveNet and YOLO pose models give them."""

COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11),
    (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)  # fmt: skip
"""The standard COCO skeleton edges, as pairs of keypoint indices (MoveNet's drawing edges)."""


@dataclass(frozen=True, eq=False)
class Poses:
    """People's poses in one frame.

    ``keypoints``: float32 ``(N, K, 3)`` ``x, y, score`` with x, y in **source pixels**
    (origin top-left; not clipped) and score in [0, 1]. ``scores``: float32 ``(N,)`` one per
    pose. ``names``: K keypoint names (COCO-17 when K is 17). ``boxes``: float32 ``(N, 4)``
    ``x0, y0, x1, y1`` in source pixels when the model gives boxes, else None.
    """

    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 17, 3), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    names: tuple[str, ...] = COCO_KEYPOINTS
    boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        kps = _as(self.keypoints, np.float32)
        if kps.ndim != 3 or kps.shape[2] != 3:
            raise ValueError(f"keypoints must have shape (N, K, 3), got {kps.shape}")
        n, k = kps.shape[:2]
        scores = _as(self.scores, np.float32)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
        names = tuple(self.names)
        if len(names) != k:
            raise ValueError(f"names must have {k} entries, got {len(names)}")
        object.__setattr__(self, "keypoints", kps)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "names", names)
        if self.boxes is not None:
            boxes = _as(self.boxes, np.float32)
            if boxes.shape != (n, 4):
                raise ValueError(f"boxes must have shape ({n}, 4), got {boxes.shape}")
            object.__setattr__(self, "boxes", boxes)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def as_dicts(self, decimals: int = 1) -> list[dict[str, Any]]:
        """``[{"score", "box", "keypoints": [{"name", "x", "y", "score"}]}]`` (box null when
        the model gives none)."""
        out = []
        for i in range(len(self)):
            box = None if self.boxes is None else [round(float(v), decimals) for v in self.boxes[i]]
            kps = [
                {
                    "name": name,
                    "x": round(float(x), decimals),
                    "y": round(float(y), decimals),
                    "score": round(float(s), 6),
                }
                for name, (x, y, s) in zip(self.names, self.keypoints[i], strict=True)
            ]
            out.append({"score": round(float(self.scores[i]), 6), "box": box, "keypoints": kps})
        return out
