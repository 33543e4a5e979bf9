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
