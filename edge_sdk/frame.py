"""``Frame``: one image from a source, RGB uint8, with its index and timestamp."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .image import as_rgb


@dataclass(frozen=True, eq=False)
class Frame:
    """A frame. ``image`` is ``(H, W, 3)`` RGB uint8. ``index`` counts from 0 per source;
    ``timestamp`` is seconds: the position in the file for video files, else
    ``time.monotonic()`` at capture. ``source`` names where it came from (a path or URI).

    Sources may hand out views of their own buffers; copy ``image`` to keep it past the next
    frame.
    """

    image: np.ndarray
    index: int = 0
    timestamp: float = field(default_factory=time.monotonic)
    source: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @classmethod
    def from_rgb(
        cls, image: npt.ArrayLike, index: int = 0, timestamp: float | None = None, source: str = ""
    ) -> Frame:
        """Wrap an RGB (or gray/RGBA/16-bit) array, converting it to RGB uint8."""
        ts = time.monotonic() if timestamp is None else timestamp
        return cls(as_rgb(image), index, ts, source)

    @classmethod
    def from_bgr(
        cls, image: npt.ArrayLike, index: int = 0, timestamp: float | None = None, source: str = ""
    ) -> Frame:
        """Wrap an OpenCV BGR(A) array, converting it to RGB uint8 (one copy)."""
        ts = time.monotonic() if timestamp is None else timestamp
        return cls(as_rgb(image, bgr=True), index, ts, source)
