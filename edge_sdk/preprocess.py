"""Preprocessing straight into the input tensor, and the Transform that maps results back.

Coordinates: pixel ``(x, y)`` with the origin at the top-left corner of an image; sizes are
``(width, height)``. "Input" pixels are those of the model's input tensor, "source" pixels
those of the original frame.

Data flow, per frame: RGB uint8 frame -> (crop) -> ``cv2.resize`` (bilinear by default,
as the reference runtimes do; ``AUTO`` picks ``INTER_AREA`` when shrinking) -> colour conversion if the model takes 1 channel
-> value mapping (none for raw uint8 inputs, a 256-entry lookup table for other quantized
inputs, scale and offset for float inputs) -> the tensor. The resize writes into the tensor
itself when no value mapping is needed, so a frame is copied once.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .errors import OptionsError, UnsupportedModelError
from .metadata import ColorSpace, Normalization
from .quant import QuantParams, quantize

log = logging.getLogger(__name__)


class ResizeMode(str, enum.Enum):
    """How a frame is fitted to the model's input size.

    STRETCH resizes the whole frame, ignoring aspect ratio. LETTERBOX keeps the aspect ratio
    and pads the borders. CENTER_CROP keeps the aspect ratio and cuts the borders.
    """

    STRETCH = "stretch"
    LETTERBOX = "letterbox"
    CENTER_CROP = "center_crop"


class Interpolation(str, enum.Enum):
    """Resampling filter. AUTO is INTER_AREA when shrinking and INTER_LINEAR otherwise."""

    AUTO = "auto"
    LINEAR = "linear"
    AREA = "area"
    NEAREST = "nearest"


_CV_INTERP = {
    Interpolation.LINEAR: cv2.INTER_LINEAR,
    Interpolation.AREA: cv2.INTER_AREA,
    Interpolation.NEAREST: cv2.INTER_NEAREST,
}


@dataclass(frozen=True)
class Transform:
    """Affine map from source pixels to model-input pixels: ``x_in = x_src * scale_x + offset_x``.

    ``source_size`` and ``input_size`` are ``(width, height)``.
    """

    source_size: tuple[int, int]
    input_size: tuple[int, int]
    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_source(self, points: npt.ArrayLike) -> np.ndarray:
        """Map ``(..., 2)`` input-pixel points to source pixels (not clipped)."""
        p = np.asarray(points, dtype=np.float32)
        out = np.empty_like(p)
        out[..., 0] = (p[..., 0] - self.offset_x) / self.scale_x
        out[..., 1] = (p[..., 1] - self.offset_y) / self.scale_y
        return out

    def boxes_to_source(
        self, xyxy: npt.ArrayLike, *, normalized: bool = False, clip: bool = True
    ) -> np.ndarray:
        """Map ``(N, 4)`` boxes ``x0, y0, x1, y1`` from input space to source pixels.

        Args:
            normalized: the boxes are in [0, 1] of the input size rather than input pixels.
            clip: clip to the source image, ``[0, width] x [0, height]``.
        """
        b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if normalized:
            w, h = self.input_size
            b = b * np.array([w, h, w, h], dtype=np.float32)
        out = self.to_source(b.reshape(-1, 2, 2)).reshape(-1, 4)
        if clip:
            sw, sh = self.source_size
            np.clip(out[:, 0::2], 0, sw, out=out[:, 0::2])
            np.clip(out[:, 1::2], 0, sh, out=out[:, 1::2])
        return out

    @classmethod
    def plan(cls, source_size: tuple[int, int], input_size: tuple[int, int], mode: ResizeMode) -> Transform:
        """The transform a resize ``mode`` applies to a ``source_size`` frame."""
        sw, sh = source_size
        dw, dh = input_size
        if mode is ResizeMode.STRETCH:
            return cls(source_size, input_size, dw / sw, dh / sh)
        if mode is ResizeMode.LETTERBOX:
            s = min(dw / sw, dh / sh)
            nw, nh = max(1, round(sw * s)), max(1, round(sh * s))
            return cls(
                source_size, input_size, nw / sw, nh / sh, float((dw - nw) // 2), float((dh - nh) // 2)
            )
        # CENTER_CROP: the largest centred region with the input's aspect ratio.
        s = max(dw / sw, dh / sh)
        cw, ch = min(sw, round(dw / s)), min(sh, round(dh / s))
        x0, y0 = (sw - cw) // 2, (sh - ch) // 2
        sx, sy = dw / cw, dh / ch
        return cls(source_size, input_size, sx, sy, -x0 * sx, -y0 * sy)


class ValueMapping(str, enum.Enum):
    """How resized uint8 pixels become tensor values."""

    RAW = "raw"  # uint8 tensor takes the pixels as they are
    LUT = "lut"  # quantized tensor: one 256-entry lookup table
    AFFINE = "affine"  # float tensor: (pixel - mean) / std


class RangeSource(str, enum.Enum):
    """Where the float range an input expects was taken from (see :func:`input_range`)."""

    OPTIONS = "options"  # the user's --mean/--std or normalization option
    METADATA = "metadata"  # TFLite Metadata or edge_sdk.json
    FAMILY = "family"  # the model family's convention (YOLO: [0, 1])
    QUANTIZATION = "quantization"  # integer input whose quantization is a plain pixel mapping
    ASSUMED = "assumed"  # nothing known: raw pixels (uint8, float) or pixel - 128 (int8)


YOLO_NORMALIZATION = Normalization((0.0,), (255.0,))
"""Ultralytics YOLO models take RGB in [0, 1]: ``pixel / 255``."""

# Float ranges a pixel mapping commonly produces, (low, high) for pixels 0 and 255.
_PLAIN_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0), (-128.0, 127.0), (-127.5, 127.5))
_warned: set[str] = set()


@dataclass(frozen=True)
class InputRange:
    """The float range an image input expects: ``(pixel - mean) / std``, and where it came from.

    ``normalization`` is None when the integer codes themselves are the pixels (uint8) or
    ``pixel - 128`` (int8), the convention of the TFLite Task Library and MediaPipe.
    """

    normalization: Normalization | None
    source: RangeSource


def _convention_codes(dtype: np.dtype) -> np.ndarray:
    """The integer codes each pixel 0..255 becomes under the raw-pixel convention."""
    levels = np.arange(256, dtype=np.int16)
    return levels - 128 if dtype == np.dtype(np.int8) else levels


def _is_plain(dtype: np.dtype, quant: QuantParams) -> bool:
    """Whether feeding pixels by the convention gives one of the usual float ranges (3 % slack)."""
    codes = _convention_codes(dtype)
    lo = (float(codes[0]) - quant.zero_point) * quant.scale
    hi = (float(codes[-1]) - quant.zero_point) * quant.scale
    for a, b in _PLAIN_RANGES:
        tol = 0.03 * (b - a)
        if abs(lo - a) <= tol and abs(hi - b) <= tol:
            return True
    return False


def _lut(dtype: np.dtype, quant: QuantParams, norm: Normalization, channels: int) -> np.ndarray:
    """``(256, k)`` codes of ``quantize((pixel - mean) / std)`` with the tensor's own scale and
    zero point; ``k`` is 1 for one normalization, else ``channels``."""
    levels = np.arange(256, dtype=np.float32)[:, None]
    mean = np.asarray(norm.mean, np.float32)
    std = np.asarray(norm.std, np.float32)
    k = 1 if mean.size == 1 and std.size == 1 else channels
    real: np.ndarray = (levels - np.broadcast_to(mean, (k,))) / np.broadcast_to(std, (k,))
    return quantize(real, QuantParams((quant.scale,), (quant.zero_point,)), dtype)


def input_range(
    dtype: np.dtype,
    quant: QuantParams,
    *,
    options: Normalization | None = None,
    metadata: Normalization | None = None,
    family: Normalization | None = None,
    source: str = "model",
) -> InputRange:
    """Decide, once per model, the float range its image input expects. Every task uses this.

    In order: the user's ``options``; the model's ``metadata``; the model ``family``'s
    convention (YOLO: [0, 1]); else, for an integer input whose quantization maps the codes
    onto a usual range ([0, 1], [-1, 1], [0, 255] ...), the codes are the pixels (uint8) or
    ``pixel - 128`` (int8) as the TFLite Task Library feeds them; else the same is assumed
    and a warning, once per model, says so and names the ``--mean/--std`` override. Float
    inputs with nothing known take raw 0..255.
    """
    if options is not None:
        return InputRange(options, RangeSource.OPTIONS)
    if metadata is not None:
        return InputRange(metadata, RangeSource.METADATA)
    if family is not None:
        return InputRange(family, RangeSource.FAMILY)
    dt = np.dtype(dtype)
    if dt in (np.dtype(np.uint8), np.dtype(np.int8)) and quant.quantized and not quant.per_channel:
        if _is_plain(dt, quant):
            return InputRange(None, RangeSource.QUANTIZATION)
        key = f"{source}:{quant.scale}:{quant.zero_point}"
        if key not in _warned:
            _warned.add(key)
            feed = "pixel - 128" if dt == np.dtype(np.int8) else "the raw pixels"
            log.warning(
                "%s: the input's float range is unknown (no metadata, %s input with scale %.6g, zero "
                "point %d); assuming it takes %s; pass --mean/--std (normalization=) if it expects "
                "another range",
                source,
                dt.name,
                quant.scale,
                quant.zero_point,
                feed,
            )
    return InputRange(None, RangeSource.ASSUMED)


@dataclass(frozen=True)
class InputFormat:
    """What the model's input tensor wants: ``(height, width, channels)``, dtype and values.

    ``channels_first``: the tensor is NCHW (``[1, C, H, W]``), else NHWC.
    """

    height: int
    width: int
    channels: int
    dtype: np.dtype
    mapping: ValueMapping
    color: ColorSpace
    normalization: Normalization | None = None
    lut: np.ndarray | None = None
    channels_first: bool = False
    range_source: RangeSource = RangeSource.ASSUMED


def image_layout(shape: tuple[int, ...]) -> tuple[int, int, int, bool] | None:
    """``(height, width, channels, channels_first)`` of an image tensor shape, else None.

    ``[1, H, W, C]`` (or ``[H, W, C]``) with C in (1, 3) is NHWC; ``[1, C, H, W]`` with C in
    (1, 3) and W not in (1, 3) is NCHW (as PyTorch exporters write it).
    """
    if len(shape) == 3:
        shape = (1, *shape)
        if shape[3] not in (1, 3):
            return None
    if len(shape) != 4 or shape[0] != 1:
        return None
    if shape[3] in (1, 3) and min(shape[1:3]) >= 1:
        return int(shape[1]), int(shape[2]), int(shape[3]), False
    if shape[1] in (1, 3) and min(shape[2:4]) >= 1:
        return int(shape[2]), int(shape[3]), int(shape[1]), True
    return None


def input_format(
    shape: tuple[int, ...],
    dtype: np.dtype,
    quant: QuantParams,
    normalization: Normalization | None = None,
    *,
    normalization_is_explicit: bool = False,
    value_range: InputRange | None = None,
    color: ColorSpace = ColorSpace.UNKNOWN,
) -> InputFormat:
    """Decide once, at load time, how frames are written into an input tensor.

    The float range comes from ``value_range`` (see :func:`input_range`); without it,
    ``normalization`` is the user's (``normalization_is_explicit``) or the metadata's. A
    quantized input then gets a lookup table ``quantize((pixel - mean) / std)`` built from
    the tensor's own scale and zero point, and raw pixels when that table is the identity.
    A range that is not the user's and that the raw-pixel convention already meets within
    one code keeps the convention (models with metadata whose quantization encodes it).
    Float inputs use ``(pixel - mean) / std`` (raw 0..255 when nothing is known).

    Raises:
        UnsupportedModelError: the tensor is not ``[1, H, W, C]`` or ``[1, C, H, W]`` with C
            in (1, 3), or of a dtype no image can be written to.
    """
    layout = image_layout(tuple(shape))
    if layout is None:
        raise UnsupportedModelError(
            "expected an image input of shape [1, height, width, 1 or 3] (NHWC) or [1, 1 or 3, height, "
            f"width] (NCHW), found {list(shape)}"
        )
    h, w, c, cf = layout
    dt = np.dtype(dtype)
    if value_range is None:
        if normalization_is_explicit and normalization is not None:
            value_range = InputRange(normalization, RangeSource.OPTIONS)
        elif normalization is not None:
            value_range = InputRange(normalization, RangeSource.METADATA)
        else:
            value_range = InputRange(None, RangeSource.ASSUMED)
    norm, src = value_range.normalization, value_range.source
    if c == 1:
        color = ColorSpace.GRAYSCALE
    elif color in (ColorSpace.GRAYSCALE, ColorSpace.UNKNOWN):
        color = ColorSpace.RGB
    if norm is not None and (len(norm.mean) not in (1, c) or len(norm.std) not in (1, c)):
        raise OptionsError(
            f"normalization has {len(norm.mean)} mean and {len(norm.std)} std values; expected 1 or {c} "
            f"(the input's channels)"
        )

    def fmt(mapping: ValueMapping, n: Normalization | None, lut: np.ndarray | None = None) -> InputFormat:
        return InputFormat(h, w, c, dt, mapping, color, n, lut, cf, src)

    if dt in (np.dtype(np.uint8), np.dtype(np.int8)):
        convention = _convention_codes(dt)
        if norm is not None and quant.quantized and not quant.per_channel:
            lut = _lut(dt, quant, norm, c)
            near = np.abs(lut.astype(np.int16) - convention[:, None]).max() <= 1
            if src is RangeSource.OPTIONS or not near:
                if dt == np.uint8 and lut.shape[1] == 1 and np.array_equal(lut[:, 0], convention):
                    return fmt(ValueMapping.RAW, norm)
                return fmt(ValueMapping.LUT, norm, lut.view(np.uint8))
        if dt == np.uint8:
            return fmt(ValueMapping.RAW, norm)
        return fmt(ValueMapping.LUT, norm, convention.astype(np.int8).view(np.uint8)[:, None])
    if dt in (np.dtype(np.float32), np.dtype(np.float16)):
        return fmt(ValueMapping.AFFINE, norm or Normalization((0.0,), (1.0,)))
    raise UnsupportedModelError(f"expected a uint8, int8 or float32 image input, found dtype {dt}")


def _resize_into(src: np.ndarray, dst: np.ndarray, interpolation: int) -> None:
    """``cv2.resize`` of ``src`` to ``dst``'s size, written into ``dst`` (a tensor view or a slice
    of one); copies only if OpenCV had to allocate (it does so silently)."""
    out = cv2.resize(src, (dst.shape[1], dst.shape[0]), dst=dst, interpolation=interpolation)
    if not np.shares_memory(out, dst):
        dst[...] = out


class Preprocessor:
    """Writes RGB uint8 frames into an input tensor; one instance per model input.

    Buffers are allocated once per source size and reused, so steady-state frames allocate
    nothing.
    """

    def __init__(
        self,
        fmt: InputFormat,
        mode: ResizeMode = ResizeMode.STRETCH,
        interpolation: Interpolation = Interpolation.LINEAR,
        pad_value: int = 0,
    ) -> None:
        if not isinstance(mode, ResizeMode):
            raise OptionsError(f"resize mode must be a ResizeMode, got {mode!r}")
        if not 0 <= pad_value <= 255:
            raise OptionsError(f"pad_value must be in 0..255, got {pad_value}")
        self.fmt = fmt
        self.mode = mode
        self.interpolation = interpolation
        self.pad_value = pad_value
        self._rgb = np.empty((fmt.height, fmt.width, 3), np.uint8)
        self._gray = np.empty((fmt.height, fmt.width), np.uint8)
        self._lut_in = np.empty((fmt.height, fmt.width, fmt.channels), np.uint8)
        if fmt.mapping is ValueMapping.AFFINE:
            assert fmt.normalization is not None
            std = np.asarray(fmt.normalization.std, np.float32)
            self._alpha = (1.0 / std).astype(np.float32)
            self._beta = (-np.asarray(fmt.normalization.mean, np.float32) / std).astype(np.float32)
        self._cv_lut = None
        if fmt.lut is not None:
            lut = fmt.lut
            if lut.shape[1] == 1 or fmt.channels == 1:
                self._cv_lut = np.ascontiguousarray(lut[:, 0]).reshape(256, 1)
            else:
                self._cv_lut = np.ascontiguousarray(lut.reshape(256, 1, 3))

    def _interp(self, shrinking: bool) -> int:
        if self.interpolation is Interpolation.AUTO:
            return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        return _CV_INTERP[self.interpolation]

    def _resize_into(self, image: np.ndarray, t: Transform, dst: np.ndarray) -> None:
        """Resize ``image`` (RGB uint8) per ``t`` into ``dst`` (H, W, 3) uint8."""
        sw, sh = t.source_size
        fw, fh = t.input_size
        if self.mode is ResizeMode.CENTER_CROP:
            x0 = round(-t.offset_x / t.scale_x)
            y0 = round(-t.offset_y / t.scale_y)
            cw, ch = round(fw / t.scale_x), round(fh / t.scale_y)
            image = image[y0 : y0 + ch, x0 : x0 + cw]
            sw, sh = cw, ch
        if self.mode is ResizeMode.LETTERBOX:
            nw, nh = round(sw * t.scale_x), round(sh * t.scale_y)
            left, top = int(t.offset_x), int(t.offset_y)
            # Pad only the borders, and resize straight into the image area.
            dst[:top] = self.pad_value
            dst[top + nh :] = self.pad_value
            dst[top : top + nh, :left] = self.pad_value
            dst[top : top + nh, left + nw :] = self.pad_value
            _resize_into(image, dst[top : top + nh, left : left + nw], self._interp(nw * nh < sw * sh))
            return
        if (sw, sh) == (fw, fh):
            dst[...] = image
            return
        _resize_into(image, dst, self._interp(fw * fh < sw * sh))

    def __call__(self, image: np.ndarray, dst: np.ndarray) -> Transform:
        """Write ``image`` into ``dst`` and return the source-to-input transform.

        Args:
            image: ``(H, W, 3)`` RGB uint8 (use :func:`edge_sdk.image.as_rgb` first for other
                layouts).
            dst: the tensor's ``(height, width, channels)`` view, of the tensor's dtype.
        """
        t = Transform.plan((image.shape[1], image.shape[0]), (self.fmt.width, self.fmt.height), self.mode)
        fmt = self.fmt
        direct = (
            fmt.mapping is ValueMapping.RAW
            and fmt.channels == 3
            and fmt.color is ColorSpace.RGB
            and not fmt.channels_first
        )
        rgb = dst if direct else self._rgb
        self._resize_into(image, t, rgb)
        if direct:
            return t
        if fmt.channels == 1:
            px: np.ndarray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY, dst=self._gray)[:, :, None]
        elif fmt.color is ColorSpace.BGR:
            px = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=self._lut_in)
        else:
            px = rgb
        if fmt.channels_first:
            self._write_chw(px, dst)
            return t
        if fmt.mapping is ValueMapping.RAW:
            dst[...] = px
        elif fmt.mapping is ValueMapping.LUT:
            assert self._cv_lut is not None
            out = dst.view(np.uint8)
            if px.shape[2] == 1:
                px, out = px[:, :, 0], out[:, :, 0]
            mapped = cv2.LUT(px, self._cv_lut, dst=out)
            if not np.shares_memory(mapped, out):  # OpenCV could not write in place
                out[...] = mapped
        else:
            np.multiply(px, self._alpha, out=dst, casting="unsafe")
            np.add(dst, self._beta, out=dst, casting="unsafe")
        return t

    def _write_chw(self, px: np.ndarray, dst: np.ndarray) -> None:
        """Map ``(H, W, C)`` uint8 pixels into a ``(C, H, W)`` tensor view, one plane at a time."""
        fmt = self.fmt
        for ch in range(fmt.channels):
            plane = px[:, :, ch]
            out = dst[ch]
            if fmt.mapping is ValueMapping.RAW:
                out[...] = plane
            elif fmt.mapping is ValueMapping.LUT:
                assert fmt.lut is not None
                table = fmt.lut[:, ch if fmt.lut.shape[1] > 1 else 0]
                out.view(np.uint8)[...] = table[plane]
            else:
                k = ch if self._alpha.size > 1 else 0
                np.multiply(plane, self._alpha.reshape(-1)[k], out=out, casting="unsafe")
                np.add(out, self._beta.reshape(-1)[k], out=out, casting="unsafe")
