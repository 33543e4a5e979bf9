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
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .errors import OptionsError, UnsupportedModelError
from .metadata import ColorSpace, Normalization
from .quant import QuantParams, quantize


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


@dataclass(frozen=True)
class InputFormat:
    """What the model's input tensor wants: ``(height, width, channels)``, dtype and values."""

    height: int
    width: int
    channels: int
    dtype: np.dtype
    mapping: ValueMapping
    color: ColorSpace
    normalization: Normalization | None = None
    lut: np.ndarray | None = None


def input_format(
    shape: tuple[int, ...],
    dtype: np.dtype,
    quant: QuantParams,
    normalization: Normalization | None,
    *,
    normalization_is_explicit: bool = False,
    color: ColorSpace = ColorSpace.UNKNOWN,
) -> InputFormat:
    """Decide once, at load time, how frames are written into an input tensor.

    Quantized uint8 inputs take raw pixels (the convention of the TFLite Task Library and
    MediaPipe: the quantization already encodes the normalization); int8 inputs take
    ``pixel - 128``. Only a normalization the user passed explicitly overrides that, through
    a lookup table. Float inputs use ``(pixel - mean) / std``, from the user, else the
    metadata, else raw 0..255 values.

    Raises:
        UnsupportedModelError: the tensor is not ``[1, H, W, C]`` with C in (1, 3), or of a
            dtype no image can be written to.
    """
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3) or min(shape[1:3]) < 1:
        raise UnsupportedModelError(
            f"expected an image input of shape [1, height, width, 1 or 3] (NHWC), found {list(shape)}"
        )
    h, w, c = int(shape[1]), int(shape[2]), int(shape[3])
    dt = np.dtype(dtype)
    if c == 1:
        color = ColorSpace.GRAYSCALE
    elif color in (ColorSpace.GRAYSCALE, ColorSpace.UNKNOWN):
        color = ColorSpace.RGB
    if dt in (np.dtype(np.uint8), np.dtype(np.int8)):
        if normalization is not None and normalization_is_explicit and quant.quantized:
            levels = np.arange(256, dtype=np.float32)[:, None]
            real = (levels - np.asarray(normalization.mean, np.float32)) / np.asarray(
                normalization.std, np.float32
            )
            lut = quantize(real, QuantParams((quant.scale,), (quant.zero_point,)), dt)
            if dt == np.uint8 and np.array_equal(lut[:, 0], np.arange(256)) and lut.shape[1] == 1:
                return InputFormat(h, w, c, dt, ValueMapping.RAW, color, normalization)
            return InputFormat(h, w, c, dt, ValueMapping.LUT, color, normalization, lut.view(np.uint8))
        if dt == np.uint8:
            return InputFormat(h, w, c, dt, ValueMapping.RAW, color, normalization)
        lut = (np.arange(256, dtype=np.int16) - 128).astype(np.int8).view(np.uint8)[:, None]
        return InputFormat(h, w, c, dt, ValueMapping.LUT, color, normalization, lut)
    if dt in (np.dtype(np.float32), np.dtype(np.float16)):
        norm = normalization or Normalization((0.0,), (1.0,))
        return InputFormat(h, w, c, dt, ValueMapping.AFFINE, color, norm)
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
        direct = fmt.mapping is ValueMapping.RAW and fmt.channels == 3 and fmt.color is ColorSpace.RGB
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
