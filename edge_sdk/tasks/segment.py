"""Semantic segmentation: ``Segmenter(model).segment(image) -> Segmentation`` at source size.

Output forms (decided once, at load, from the model's one output):

* ``[1, H, W]`` integer (int32/int64/uint8): class ids, the argmax already inside the model
  (DeepLab v3 exports from Coral and TF);
* ``[1, H, W, C]`` with C >= 2, float32, uint8 or int8: per-class logits or probabilities;
  the argmax runs on the raw values (a positive quantization scale keeps their order, so
  nothing is dequantized per pixel);
* ``[1, H, W, 1]`` float32, uint8 or int8: a foreground probability; a pixel is class 1
  when its value is at least ``threshold`` (compared on the raw integers for quantized
  outputs), else class 0 (U-Nets, medical masks).

Mapping back: every source pixel's centre goes through the preprocessing
:class:`~edge_sdk.preprocess.Transform` (stretch, letterbox or centre crop) to the model
input, then to the output grid, and takes that cell's id: nearest-neighbour, ids are never
interpolated. The index arrays are computed once per source size. With ``center_crop``,
source pixels cut off by the crop take the nearest id inside it.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import OptionsError, UnsupportedModelError
from ..labels import LabelMap
from ..metadata import Normalization
from ..model import Model
from ..preprocess import Interpolation, ResizeMode, Transform
from ..quant import dequantize
from ..results import Segmentation, SegmentClass
from ..validate import instance_of, is_bool, number_in
from .base import BaseOptions, Task, TaskKind
from .decoders import describe_outputs
from .runner import ImageRunner, Timing, resolve_labels

FOREGROUND_LABELS = LabelMap({0: "background", 1: "foreground"}, "foreground output")


class SegmentationOutput(str, enum.Enum):
    """The output form of a segmentation model (see the module docstring)."""

    CLASS_IDS = "class_ids"
    SCORES = "scores"
    FOREGROUND = "foreground"


@dataclass(frozen=True)
class SegmenterOptions:
    """Options of a :class:`Segmenter`, checked when built.

    Attributes:
        threshold: foreground outputs: a pixel is foreground when its probability is at
            least this, in [0, 1] (ignored by the other forms).
        scores: also return the per-pixel confidence (:attr:`Segmentation.scores`) for
            per-class and foreground outputs; costs a dequantize and a softmax per pixel.
        resize: how frames are fitted (default: metadata, else stretch, as pycoral does).
        normalization: for float inputs without metadata.
        interpolation: resampling filter of the input resize.
        base: the model, labels and accelerator, for
            :func:`~edge_sdk.tasks.registry.create_task`.
    """

    threshold: float = 0.5
    scores: bool = False
    resize: ResizeMode | None = None
    normalization: Normalization | None = None
    interpolation: Interpolation = Interpolation.LINEAR
    base: BaseOptions | None = None

    def __post_init__(self) -> None:
        number_in("threshold", self.threshold, 0.0, 1.0)
        is_bool("scores", self.scores)
        instance_of("resize", self.resize, ResizeMode)
        instance_of("normalization", self.normalization, Normalization)
        instance_of("interpolation", self.interpolation, Interpolation, optional=False)
        instance_of("base", self.base, BaseOptions)


def output_form(model: Model) -> SegmentationOutput:
    """The form of ``model``'s segmentation output.

    Raises:
        UnsupportedModelError: not one output of a known form; the message lists the outputs.
    """
    outs = model.outputs
    expected = (
        "expected one segmentation output: class ids [1, H, W] int32/int64, per-class scores "
        "[1, H, W, C] float32/uint8/int8, or a foreground probability [1, H, W, 1]"
    )
    if len(outs) != 1:
        raise UnsupportedModelError(f"{model.source}: {expected}; found {describe_outputs(outs)}")
    spec = outs[0]
    shape, dt = spec.shape, spec.dtype
    scores_dtypes = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.float16))
    if len(shape) == 3 and shape[0] == 1 and min(shape[1:]) >= 2 and np.issubdtype(dt, np.integer):
        return SegmentationOutput.CLASS_IDS
    if len(shape) == 4 and shape[0] == 1 and min(shape[1:3]) >= 2 and dt in scores_dtypes:
        if spec.quant.per_channel and shape[3] > 1:
            return SegmentationOutput.SCORES  # dequantized first (see _decode)
        return SegmentationOutput.FOREGROUND if shape[3] == 1 else SegmentationOutput.SCORES
    raise UnsupportedModelError(f"{model.source}: {expected}; found {describe_outputs(outs)}")


def source_index(transform: Transform, output_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the output cell under every source pixel's centre.

    Args:
        transform: the source-to-input transform of the frame.
        output_size: ``(width, height)`` of the output grid (it spans the whole input).

    Returns:
        ``(rows, cols)``: intp arrays of the source height and width, clipped to the grid.
    """
    sw, sh = transform.source_size
    iw, ih = transform.input_size
    ow, oh = output_size
    x_in = (np.arange(sw, dtype=np.float64) + 0.5) * transform.scale_x + transform.offset_x
    y_in = (np.arange(sh, dtype=np.float64) + 0.5) * transform.scale_y + transform.offset_y
    cols = np.clip(np.floor(x_in * (ow / iw)), 0, ow - 1).astype(np.intp)
    rows = np.clip(np.floor(y_in * (oh / ih)), 0, oh - 1).astype(np.intp)
    return rows, cols


class Segmenter(Task):
    """Segment RGB images with a .tflite semantic segmentation model.

    Args:
        model: a path, bytes, or a loaded :class:`Model`.
        labels: a label file or :class:`LabelMap`; default: the model's, else none
            (``background``/``foreground`` for a foreground output).
        options: :class:`SegmenterOptions`; option keywords are accepted as a shortcut.
        accelerator, num_threads: passed to :class:`Model` when ``model`` is a path.

    Raises:
        ModelError: see :class:`Model`.
        UnsupportedModelError: the output fits no known form (see :func:`output_form`), or
            the input is not an image.
        LabelsError: the labels do not fit the per-class output's class count.

    ``close()`` frees the model when the segmenter loaded it; a context manager.
    """

    kind = TaskKind.SEGMENT

    def __init__(
        self,
        model: str | Path | bytes | Model,
        *,
        labels: str | Path | LabelMap | None = None,
        options: SegmenterOptions | None = None,
        accelerator: Any = None,
        num_threads: int | None = None,
        **option_kwargs: Any,
    ) -> None:
        if options is not None and option_kwargs:
            raise OptionsError("pass either options= or option keywords, not both")
        self.options = opts = options or SegmenterOptions(**option_kwargs)
        self.model = (
            model
            if isinstance(model, Model)
            else Model(model, accelerator=accelerator, num_threads=num_threads)
        )
        self._owned_model = None if isinstance(model, Model) else self.model
        try:
            self.form = output_form(self.model)
            spec = self.model.outputs[0]
            self.output_size = (int(spec.shape[2]), int(spec.shape[1]))
            self.labels = resolve_labels(str(labels) if isinstance(labels, Path) else labels, self.model)
            self.num_classes: int | None
            if self.form is SegmentationOutput.SCORES:
                self.num_classes = int(spec.shape[3])
            elif self.form is SegmentationOutput.FOREGROUND:
                self.num_classes = 2
                self.labels = self.labels or FOREGROUND_LABELS
            else:
                self.num_classes = len(self.labels) if self.labels is not None else None
            if self.labels is not None and self.num_classes is not None:
                self.labels.check_fits(self.num_classes, f"{self.model.source}'s segmentation output")
            self._dtype = (
                np.dtype(np.uint8)
                if self.num_classes is not None and self.num_classes <= 256
                else np.dtype(np.int32)
            )
            q = spec.quant
            self._dequantize_first = q.per_channel or (q.quantized and q.scale <= 0)
            if q.quantized and not self._dequantize_first:
                self._raw_threshold = opts.threshold / q.scale + q.zero_point
            else:
                self._raw_threshold = opts.threshold
            self._probabilities = self._gives_probabilities()
            self.runner = ImageRunner(
                self.model,
                resize=opts.resize,
                normalization=opts.normalization,
                interpolation=opts.interpolation,
                default_resize=ResizeMode.STRETCH,
                family=self.model.metadata.family_normalization,
            )
        except BaseException:
            self.close()
            raise
        self._index_cache: tuple[Transform, tuple[np.ndarray, np.ndarray]] | None = None
        self.last_timing = Timing()

    def _gives_probabilities(self) -> bool:
        """Per-class values are probabilities (a final softmax/sigmoid, or a quantized range
        inside [0, 1]) rather than logits."""
        ops = self.model.file.op_counts
        if "SOFTMAX" in ops or "LOGISTIC" in ops:
            return True
        q = self.model.outputs[0].quant
        if q.quantized and not q.per_channel:
            info = np.iinfo(self.model.outputs[0].dtype)
            lo, hi = q.scale * (info.min - q.zero_point), q.scale * (info.max - q.zero_point)
            return lo >= -1e-6 and hi <= 1.0 + 1e-2
        return False

    @property
    def resize(self) -> ResizeMode:
        """How frames are fitted to the input."""
        return self.runner.preprocessor.mode

    def process(self, image: npt.ArrayLike) -> Segmentation:
        """:meth:`segment` (the common name every task has)."""
        return self.segment(image)

    def timing_ms(self) -> dict[str, float]:
        return self.last_timing.as_dict()

    def _index(self, transform: Transform) -> tuple[np.ndarray, np.ndarray]:
        cached = self._index_cache
        if cached is not None and cached[0] == transform:
            return cached[1]
        index = source_index(transform, self.output_size)
        self._index_cache = (transform, index)
        return index

    def _decode(self, view: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Class ids (and, when asked, confidences) at output resolution; copies."""
        t = view[0]
        quant = self.model.outputs[0].quant
        want = self.options.scores
        if self.form is SegmentationOutput.CLASS_IDS:
            return t.astype(self._dtype), None
        if self.form is SegmentationOutput.FOREGROUND:
            v = t[..., 0]
            if self._dequantize_first:
                v = dequantize(v, quant)
            fg = v >= self._raw_threshold
            conf = None
            if want:
                p = dequantize(t[..., 0], quant) if quant.quantized else t[..., 0].astype(np.float32)
                conf = np.where(fg, p, 1.0 - p).astype(np.float32)
            return fg.astype(self._dtype), conf
        raw = dequantize(t, quant) if self._dequantize_first else t
        ids = raw.argmax(axis=-1).astype(self._dtype)
        conf = None
        if want:
            real = dequantize(raw, quant) if quant.quantized and not self._dequantize_first else raw
            real = real.astype(np.float32, copy=False)
            if self._probabilities:
                conf = real.max(axis=-1)
            else:
                e = np.exp(real - real.max(axis=-1, keepdims=True))
                conf = (1.0 / e.sum(axis=-1)).astype(np.float32)
        return ids, conf

    def segment(self, image: npt.ArrayLike) -> Segmentation:
        """Segment one RGB image (``(H, W, 3)`` uint8; gray, RGBA and 16-bit are converted).

        Returns:
            :class:`Segmentation` whose mask has the image's own ``(H, W)``.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        timing = Timing()
        transform = self.runner.run(image, timing)
        t0 = time.perf_counter()
        ids, conf = self.model.read_output(self._decode, 0)
        rows, cols = self._index(transform)
        identity = (rows.size, cols.size) == ids.shape and transform.source_size == transform.input_size
        identity = identity and bool(rows[-1] == rows.size - 1 and cols[-1] == cols.size - 1)
        mask = ids if identity else np.take(np.take(ids, rows, axis=0), cols, axis=1)
        scores = None
        if conf is not None:
            scores = conf if identity else np.take(np.take(conf, rows, axis=0), cols, axis=1)
        result = Segmentation(mask, self._classes(mask), self.labels, scores)
        timing.postprocess_ms = (time.perf_counter() - t0) * 1e3
        self.last_timing = timing
        return result

    def _classes(self, mask: np.ndarray) -> tuple[SegmentClass, ...]:
        total = mask.size
        if mask.dtype == np.uint8 or int(mask.min()) >= 0:
            counts = np.bincount(mask.ravel())
            ids = np.flatnonzero(counts)
            counts = counts[ids]
        else:
            ids, counts = np.unique(mask, return_counts=True)
        labels = self.labels
        return tuple(
            SegmentClass(int(i), labels.get(int(i)) if labels else None, int(n), float(n) / total)
            for i, n in zip(ids, counts, strict=True)
        )

    def describe(self) -> str:
        """One line: the output form and the preprocessing."""
        spec = self.model.outputs[0]
        return f"{self.form.value} output {list(spec.shape)} {spec.dtype.name}; resize {self.resize.value}"
