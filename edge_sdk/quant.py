"""Quantization parameters, and the one place where tensors are quantized and dequantized.

TFLite's affine quantization: ``real = scale * (q - zero_point)``. Per-channel tensors carry
one scale and zero point per slice along ``axis``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of one tensor.

    ``scales`` and ``zero_points`` have one entry for a per-tensor quantized tensor and one per
    channel along ``axis`` for a per-channel one. An empty ``scales`` means "not quantized".
    """

    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis: int = 0

    @property
    def quantized(self) -> bool:
        return len(self.scales) > 0 and any(s != 0.0 for s in self.scales)

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one for a per-channel tensor)."""
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0

    @classmethod
    def from_details(cls, details: dict) -> QuantParams:
        """Build from an interpreter's ``get_input_details()``/``get_output_details()`` entry."""
        qp = details.get("quantization_parameters") or {}
        scales = tuple(float(s) for s in np.asarray(qp.get("scales", ())).ravel())
        zps = tuple(int(z) for z in np.asarray(qp.get("zero_points", ())).ravel())
        if not scales:
            scale, zp = details.get("quantization", (0.0, 0))
            if scale:
                scales, zps = (float(scale),), (int(zp),)
        return cls(scales, zps, int(qp.get("quantized_dimension", 0)))

    def as_dict(self) -> dict:
        if not self.quantized:
            return {}
        if self.per_channel:
            return {"scales": list(self.scales), "zero_points": list(self.zero_points), "axis": self.axis}
        return {"scale": self.scale, "zero_point": self.zero_point}


def _broadcast(values: tuple, params: QuantParams, ndim: int, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.asarray(values, dtype=dtype)
    if not params.per_channel:
        return arr.reshape(())
    shape = [1] * ndim
    shape[params.axis] = arr.size
    return arr.reshape(shape)


def dequantize(q: npt.ArrayLike, params: QuantParams) -> npt.NDArray[np.float32]:
    """Return ``scale * (q - zero_point)`` as float32; a non-quantized tensor is cast only."""
    arr = np.asarray(q)
    if not params.quantized:
        return arr.astype(np.float32, copy=False)
    scale = _broadcast(params.scales, params, arr.ndim, np.float32)
    zp = _broadcast(params.zero_points, params, arr.ndim, np.float32)
    return ((arr.astype(np.float32) - zp) * scale).astype(np.float32, copy=False)


def quantize(x: npt.ArrayLike, params: QuantParams, dtype: npt.DTypeLike) -> np.ndarray:
    """Return ``round(x / scale + zero_point)`` clipped to ``dtype``'s range."""
    arr = np.asarray(x, dtype=np.float32)
    out_dtype = np.dtype(dtype)
    if not params.quantized:
        return arr.astype(out_dtype)
    scale = _broadcast(params.scales, params, arr.ndim, np.float32)
    zp = _broadcast(params.zero_points, params, arr.ndim, np.float32)
    info = np.iinfo(out_dtype)
    return np.clip(np.rint(arr / scale + zp), info.min, info.max).astype(out_dtype)
