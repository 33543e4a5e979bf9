"""Image classification: ``Classifier(model).classify(image) -> Classification``."""

from __future__ import annotations

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
from ..preprocess import Interpolation, ResizeMode
from ..quant import dequantize
from ..results import Category, Classification
from ..validate import instance_of, int_at_least, number_in
from .base import BaseOptions, Task, TaskKind
from .decoders import describe_outputs
from .runner import ImageRunner, Timing, resolve_labels, top_k


@dataclass(frozen=True)
class ClassifierOptions:
    """Options of a :class:`Classifier`, checked when built.

    ``top_k``: how many categories to return (>= 1). ``threshold``: minimum score in [0, 1].
    ``resize``: how frames are fitted (default: metadata, else stretch, as the TFLite Task
    Library does). ``normalization``: the float range the input expects, ``(pixel - mean) /
    std``; overrides the metadata (see :func:`edge_sdk.preprocess.input_range`). ``base``: the
    model, labels and accelerator, for :func:`~edge_sdk.tasks.registry.create_task`.
    """

    top_k: int = 5
    threshold: float = 0.0
    resize: ResizeMode | None = None
    normalization: Normalization | None = None
    interpolation: Interpolation = Interpolation.LINEAR

    base: BaseOptions | None = None

    def __post_init__(self) -> None:
        int_at_least("top_k", self.top_k, 1)
        number_in("threshold", self.threshold, 0.0, 1.0)
        instance_of("resize", self.resize, ResizeMode)
        instance_of("normalization", self.normalization, Normalization)
        instance_of("interpolation", self.interpolation, Interpolation, optional=False)
        instance_of("base", self.base, BaseOptions)


class Classifier(Task):
    """Classify RGB images with a .tflite classifier.

    Args:
        model: a path, bytes, or a loaded :class:`Model`.
        labels: a label file path or :class:`LabelMap`; default: the model's embedded labels.
        options: :class:`ClassifierOptions`; keyword arguments ``top_k``/``threshold``/...
            are accepted as a shortcut.
        accelerator, num_threads: passed to :class:`Model` when ``model`` is a path.

    Raises:
        ModelError: see :class:`Model`.
        UnsupportedModelError: the model does not end in one ``[1, N]`` score tensor.
        LabelsError: the label count does not match the number of classes.

    ``close()`` frees the model when the classifier loaded it; a context manager.
    """

    kind = TaskKind.CLASSIFY

    def __init__(
        self,
        model: str | Path | bytes | Model,
        *,
        labels: str | Path | LabelMap | None = None,
        options: ClassifierOptions | None = None,
        accelerator: Any = None,
        num_threads: int | None = None,
        **option_kwargs: Any,
    ) -> None:
        if options is not None and option_kwargs:
            raise OptionsError("pass either options= or option keywords, not both")
        self.options = options or ClassifierOptions(**option_kwargs)
        self.model = (
            model
            if isinstance(model, Model)
            else Model(model, accelerator=accelerator, num_threads=num_threads)
        )
        self._owned_model = None if isinstance(model, Model) else self.model
        outs = self.model.outputs
        if len(outs) != 1 or len([d for d in outs[0].shape if d != 1]) != 1:
            raise UnsupportedModelError(
                f"{self.model.source} is not a classifier: expected one output of shape [1, classes], "
                f"found {describe_outputs(outs)}"
            )
        self.num_classes = max(outs[0].shape)
        self.labels = resolve_labels(str(labels) if isinstance(labels, Path) else labels, self.model)
        if self.labels is not None:
            self.labels.check_fits(self.num_classes, f"{self.model.source}'s output")
        self.runner = ImageRunner(
            self.model,
            resize=self.options.resize,
            normalization=self.options.normalization,
            interpolation=self.options.interpolation,
            family=self.model.metadata.family_normalization,
        )
        self.last_timing = Timing()

    def process(self, image: npt.ArrayLike) -> Classification:
        """:meth:`classify` (the common name every task has)."""
        return self.classify(image)

    def timing_ms(self) -> dict[str, float]:
        return self.last_timing.as_dict()

    def classify(self, image: npt.ArrayLike) -> Classification:
        """Classify one RGB image (``(H, W, 3)`` uint8; gray, RGBA and 16-bit are converted).

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        timing = Timing()
        self.runner.run(image, timing)
        t0 = time.perf_counter()
        raw = self.model.output(0).reshape(-1)
        quant = self.model.outputs[0].quant
        if quant.per_channel or (quant.quantized and quant.scale < 0):
            raw = dequantize(raw, quant)
        idx = top_k(raw, self.options.top_k)  # on raw values: only the winners are dequantized
        scores = dequantize(raw[idx], quant) if raw.dtype != np.float32 else raw[idx]
        labels = self.labels
        cats = tuple(
            Category(int(i), float(s), labels.get(int(i)) if labels else None)
            for i, s in zip(idx, scores, strict=True)
            if s >= self.options.threshold
        )
        timing.postprocess_ms = (time.perf_counter() - t0) * 1e3
        self.last_timing = timing
        return Classification(cats)
