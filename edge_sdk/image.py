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

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from .errors import ImageError
from .safe_io import not_regular

MIN_SIDE = 2
"""Images smaller than this in either dimension are rejected: nothing can be recognised in them."""


DEFAULT_MAX_PIXELS = 50_000_000
"""Largest image decoded, in pixels (width x height): 50 MP, e.g. 8660x5773. Decoding needs about
3 bytes a pixel, so this caps one decode near 150 MB. Override per call (``max_pixels=``) or for
the process with the environment variable ``EDGE_SDK_MAX_IMAGE_PIXELS``."""


def max_pixels_default() -> int:
    """The pixel limit: ``EDGE_SDK_MAX_IMAGE_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        ImageError: the environment variable is not a positive integer.
    """
    raw = os.environ.get("EDGE_SDK_MAX_IMAGE_PIXELS")
    if raw is None or not raw.strip():
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ImageError(f"EDGE_SDK_MAX_IMAGE_PIXELS must be a positive integer, got {raw!r}")
    return value


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > n:
                return None
            h, w = struct.unpack_from(">HH", data, pos + 5)
            return int(w), int(h)
        if length < 2:
            return None
        pos += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by a PNG, JPEG, BMP, GIF or WebP header, without decoding.

    Returns None for other formats or a header too short to tell (the decoder then decides).
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack_from(">II", data, 16)
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack_from("<ii", data, 18)
        return abs(int(w)), abs(int(h))
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack_from("<HH", data, 6)
        return int(w), int(h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return w, h
        if kind == b"VP8 ":
            w, h = struct.unpack_from("<HH", data, 26)
            return int(w) & 0x3FFF, int(h) & 0x3FFF
        if kind == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


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


def load_image(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to ``(H, W, 3)`` RGB uint8 (16-bit and alpha handled as in :func:`as_rgb`).

    Args:
        max_pixels: refuse images larger than this many pixels (width x height), read from the
            header before anything is decoded; default :func:`max_pixels_default`.

    Raises:
        ImageError: the file is missing, unreadable, not a regular file, larger than
            ``max_pixels``, or not a decodable image (OpenCV's own errors included).
    """
    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    if limit < 1:
        raise ImageError(f"max_pixels must be >= 1, got {max_pixels}")
    p = Path(path)
    problem = not_regular(p)
    if problem and problem != "does not exist":
        raise ImageError(f"image {p} {problem}; expected a regular image file")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"cannot read image {p}: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise ImageError(f"image file {p} is empty")
    declared = header_size(data[: 1 << 20].tobytes())
    if declared is not None and declared[0] * declared[1] > limit:
        raise ImageError(
            f"image {p} declares {declared[0]}x{declared[1]} = {declared[0] * declared[1]} pixels; "
            f"expected at most {limit} (raise EDGE_SDK_MAX_IMAGE_PIXELS to allow more)"
        )
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ImageError(f"{p} cannot be decoded: {detail}") from None
    if decoded is not None and decoded.shape[0] * decoded.shape[1] > limit:
        raise ImageError(
            f"image {p} is {decoded.shape[1]}x{decoded.shape[0]} pixels; expected at most {limit} "
            "(raise EDGE_SDK_MAX_IMAGE_PIXELS to allow more)"
        )
    if decoded is None:
        raise ImageError(f"{p} is not a decodable image ({data.size} bytes; expected JPEG, PNG, BMP, ...)")
    try:
        return as_rgb(decoded, bgr=True)
    except ImageError as exc:
        raise ImageError(f"{p}: {exc}") from exc
