"""Images in, RGB uint8 out: decoding files and normalising arrays before preprocessing.

Every image edge_sdk hands to a model is an ``(height, width, 3)`` uint8 array in RGB order.
These helpers turn what users have into that, explicitly:

- grayscale ``(H, W)`` or ``(H, W, 1)`` is replicated to three channels;
- RGBA ``(H, W, 4)`` drops alpha (the colour channels are kept as stored);
- 16-bit images are scaled to 8 bits (``v * 255 / 65535``), never truncated;
- float images must already be in [0, 1] and are scaled to 0..255.

The channel order of an array is never guessed: arrays are RGB unless the caller says BGR.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from .errors import ImageError

MIN_SIDE = 2
"""Images smaller than this in either dimension are rejected: nothing can be recognised in them."""


def _describe(arr: np.ndarray) -> str:
    return f"shape {arr.shape} dtype {arr.dtype}"


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale a 16-bit or float image to uint8; a uint8 image is returned as is (no copy)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # Round to nearest: 65535 -> 255, 257 -> 1.
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if image.dtype in (np.float32, np.float64, np.float16):
        finite = np.isfinite(image)
        if not finite.all():
            raise ImageError(f"image contains NaN or infinite values ({_describe(image)})")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageError(
                f"float images must hold values in [0, 1]; found values in [{lo:.3g}, {hi:.3g}] "
                "(pass uint8 0..255 data instead)"
            )
        return np.rint(image * 255.0).astype(np.uint8)
    raise ImageError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]")


def as_rgb(image: npt.ArrayLike, *, bgr: bool = False) -> np.ndarray:
    """Return ``image`` as an ``(H, W, 3)`` uint8 RGB array.

    Returns the input itself (no copy; possibly a strided view) when it is already
    ``(H, W, 3)`` uint8; otherwise a converted copy.

    Args:
        image: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; uint8, uint16 or
            float in [0, 1].
        bgr: the 3/4-channel data is in OpenCV's BGR(A) order.

    Raises:
        ImageError: not an array, empty, smaller than 2x2, or of an unsupported shape/dtype.
    """
    if image is None:
        raise ImageError("expected an image array, got None (did a file fail to decode?)")
    arr = np.asarray(image)
    if arr.dtype == object:
        raise ImageError("expected a numeric image array, got an object array")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {_describe(arr)}")
    if arr.size == 0:
        raise ImageError(f"image is empty ({_describe(arr)})")
    if arr.shape[0] < MIN_SIDE or arr.shape[1] < MIN_SIDE:
        raise ImageError(
            f"image is {arr.shape[1]}x{arr.shape[0]} pixels; expected at least {MIN_SIDE}x{MIN_SIDE}"
        )
    arr = to_uint8(arr)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    if bgr:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return arr


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to ``(H, W, 3)`` RGB uint8 (16-bit and alpha handled as in :func:`as_rgb`).

    Raises:
        ImageError: the file is missing, unreadable or not a decodable image.
    """
    p = Path(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"cannot read image {p}: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise ImageError(f"image file {p} is empty")
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageError(f"{p} is not a decodable image ({data.size} bytes; expected JPEG, PNG, BMP, ...)")
    try:
        return as_rgb(decoded, bgr=True)
    except ImageError as exc:
        raise ImageError(f"{p}: {exc}") from exc
