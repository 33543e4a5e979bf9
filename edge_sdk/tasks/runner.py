"""``ImageRunner``: a Model plus its Preprocessor: frame in, raw outputs out, with timings.

Every image task (classification, detection, face models) runs frames through this one
class, so preprocessing, invoking and timing are written once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..image import as_rgb
from ..labels import LabelMap
from ..metadata import ColorSpace, Normalization
from ..model import Model
from ..preprocess import Interpolation, Preprocessor, ResizeMode, Transform, input_format, input_range


@dataclass
class Timing:
    """Milliseconds spent per stage for one frame."""

    preprocess_ms: float = 0.0
    invoke_ms: float = 0.0
    postprocess_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.invoke_ms + self.postprocess_ms

    def as_dict(self) -> dict[str, float]:
        return {
            "preprocess": round(self.preprocess_ms, 3),
            "invoke": round(self.invoke_ms, 3),
            "postprocess": round(self.postprocess_ms, 3),
            "total": round(self.total_ms, 3),
        }


class ImageRunner:
    """Preprocess a frame into a model's image input and invoke it.

    Args:
        model: the loaded model; its first input must be an NHWC or NCHW image tensor.
        resize: how frames are fitted; default from the model's metadata, else ``default_resize``.
        normalization: the user's ``(pixel - mean) / std``; it overrides the metadata, which
            overrides ``family`` (the model family's convention, e.g. YOLO's [0, 1]). See
            :func:`edge_sdk.preprocess.input_range`.

    Raises:
        UnsupportedModelError: the first input is not an image tensor.
    """

    def __init__(
        self,
        model: Model,
        *,
        resize: ResizeMode | None = None,
        normalization: Normalization | None = None,
        interpolation: Interpolation = Interpolation.LINEAR,
        default_resize: ResizeMode = ResizeMode.STRETCH,
        pad_value: int = 0,
        family: Normalization | None = None,
    ) -> None:
        self.model = model
        meta = model.metadata
        spec = model.input
        if resize is None:
            resize = ResizeMode(meta.resize) if meta.resize else default_resize
        self.value_range = input_range(
            spec.dtype,
            spec.quant,
            options=normalization,
            metadata=meta.normalization,
            family=family,
            source=model.source,
        )
        self.format = input_format(
            spec.shape,
            spec.dtype,
            spec.quant,
            value_range=self.value_range,
            color=meta.color_space if meta.color_space is not ColorSpace.UNKNOWN else ColorSpace.RGB,
        )
        self.preprocessor = Preprocessor(self.format, resize, interpolation, pad_value)

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` of the model input."""
        return self.format.width, self.format.height

    def run(self, image: npt.ArrayLike, timing: Timing | None = None) -> Transform:
        """Preprocess ``image`` (RGB; gray/RGBA/16-bit converted) into the input and invoke.

        Returns the source-to-input :class:`Transform`; read outputs from ``self.model``.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        t0 = time.perf_counter()
        rgb = as_rgb(image)
        transform = self.model.write_input(lambda dst: self.preprocessor(rgb, dst))
        t1 = time.perf_counter()
        self.model.invoke()
        t2 = time.perf_counter()
        if timing is not None:
            timing.preprocess_ms += (t1 - t0) * 1e3
            timing.invoke_ms += (t2 - t1) * 1e3
        return transform


def resolve_labels(labels: str | LabelMap | None, model: Model, output_index: int = 0) -> LabelMap | None:
    """Labels in order of precedence: the given file or map, then the model's metadata, else None."""
    if isinstance(labels, LabelMap):
        return labels
    if labels is not None:
        return LabelMap.from_file(labels)
    embedded = model.metadata.output_labels
    if output_index in embedded:
        return embedded[output_index]
    return model.metadata.labels


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``scores``, best first; equal scores in index order.

    Works on raw quantized outputs too (any real dtype): with a positive scale, the order of
    the quantized values is the order of the dequantized ones, so only the ``k`` winners need
    dequantizing.
    """
    scores = scores.reshape(-1)
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, np.intp)
    idx = (
        np.argpartition(scores, scores.size - k)[scores.size - k :]
        if k < scores.size
        else np.arange(scores.size)
    )
    return idx[np.lexsort((idx, -scores[idx].astype(np.float64)))]
