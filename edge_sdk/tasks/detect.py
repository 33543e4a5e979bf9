"""Object detection: ``Detector(model).detect(image) -> Detections`` in source-image pixels.

One ``Detector`` runs SSD-style models (ending in ``TFLite_Detection_PostProcess``) and raw
YOLOv8/YOLO11/YOLOv5 heads; the decoder is chosen once at load (see
:mod:`edge_sdk.tasks.decoders`). Per frame: preprocess into the input tensor (stretch for SSD,
letterbox for YOLO, unless the metadata or the options say otherwise) -> invoke -> decode ->
class allow/deny filter -> NMS (YOLO only, SSD ran its own) -> ``max_detections`` -> boxes
mapped back through the preprocessing :class:`~edge_sdk.preprocess.Transform` and clipped to
the image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import OptionsError
from ..labels import LabelMap
from ..metadata import Normalization
from ..model import Model
from ..nms import nms
from ..preprocess import YOLO_NORMALIZATION, Interpolation, ResizeMode, Transform
from ..results import Detections
from ..validate import instance_of, int_at_least, is_bool, number_in
from .base import BaseOptions, Task, TaskKind
from .decoders import BoxCoordinates, Candidates, Decoder, DetectorHead, select_decoder
from .runner import ImageRunner, Timing, resolve_labels

DEFAULT_IOU = 0.45
"""IoU threshold of the NMS run on YOLO heads when :attr:`DetectorOptions.iou` is None."""

YOLO_PAD_VALUE = 114
"""Grey level of letterbox borders for YOLO models, as Ultralytics pads."""

ClassRef = int | str


def _class_refs(value: Any, name: str) -> tuple[ClassRef, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, str)):
        value = (value,)
    out: list[ClassRef] = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, str, np.integer)):
            raise OptionsError(f"{name} must hold class ids (int) or labels (str), got {v!r}")
        out.append(int(v) if isinstance(v, (int, np.integer)) else v)
    return tuple(out)


@dataclass(frozen=True)
class DetectorOptions:
    """Options of a :class:`Detector`, checked when built.

    Attributes:
        threshold: minimum score in [0, 1]; a score equal to it is kept.
        iou: NMS IoU threshold in [0, 1] for YOLO heads (None: 0.45). For SSD models, whose
            graph already ran NMS, None adds nothing; a value runs a second NMS pass.
        max_detections: at most this many detections per frame, best first (>= 1).
        classes: allow list of class ids or labels (None: every class).
        exclude: deny list of class ids or labels.
        class_agnostic: NMS across classes (boxes of different classes suppress each other).
        resize: how frames are fitted (default: metadata, else STRETCH for SSD and LETTERBOX
            for YOLO).
        normalization: the float range the input expects, ``(pixel - mean) / std``, for float
            and quantized inputs (default: metadata, else [0, 1] for YOLO, as Ultralytics
            trains, else see :func:`edge_sdk.preprocess.input_range`).
        interpolation: resampling filter of the resize.
        head: force an output layout instead of detecting it.
        box_coordinates: force a YOLO head's box units instead of detecting them.
        base: the model, labels and accelerator, for
            :func:`~edge_sdk.tasks.registry.create_task`.

    The allow/deny lists apply to each candidate's best class, before NMS: the class of a
    detection is always the model's top class, and a denied detection never suppresses an
    allowed one.
    """

    threshold: float = 0.5
    iou: float | None = None
    max_detections: int = 100
    classes: Sequence[ClassRef] | None = None
    exclude: Sequence[ClassRef] = ()
    class_agnostic: bool = False
    resize: ResizeMode | None = None
    normalization: Normalization | None = None
    interpolation: Interpolation = Interpolation.LINEAR
    head: DetectorHead | None = None
    box_coordinates: BoxCoordinates | None = None
    base: BaseOptions | None = None

    def __post_init__(self) -> None:
        number_in("threshold", self.threshold, 0.0, 1.0)
        number_in("iou", self.iou, 0.0, 1.0, optional=True)
        int_at_least("max_detections", self.max_detections, 1)
        is_bool("class_agnostic", self.class_agnostic)
        instance_of("resize", self.resize, ResizeMode)
        instance_of("normalization", self.normalization, Normalization)
        instance_of("interpolation", self.interpolation, Interpolation, optional=False)
        instance_of("head", self.head, DetectorHead)
        instance_of("box_coordinates", self.box_coordinates, BoxCoordinates)
        instance_of("base", self.base, BaseOptions)
        object.__setattr__(self, "classes", _class_refs(self.classes, "classes"))
        object.__setattr__(self, "exclude", _class_refs(self.exclude, "exclude") or ())


def _resolve_class_refs(
    refs: Sequence[ClassRef], labels: LabelMap | None, num_classes: int | None, what: str
) -> np.ndarray:
    """Class ids for allow/deny entries; labels are looked up in the label map."""
    by_label: dict[str, int] = {}
    if labels is not None:
        for i, name in sorted(labels.labels.items(), reverse=True):
            by_label[name] = i  # the lowest id wins for duplicated names such as '???'
    ids: list[int] = []
    for r in refs:
        if isinstance(r, str):
            if labels is None:
                raise OptionsError(f"{what} names label {r!r} but the model has no labels; use class ids")
            if r not in by_label:
                raise OptionsError(
                    f"{what} names label {r!r}, which is not in {labels.source or 'the labels'}"
                )
            ids.append(by_label[r])
        else:
            if r < 0 or (num_classes is not None and r >= num_classes):
                hi = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
                raise OptionsError(f"{what} has class id {r}; expected {hi}")
            ids.append(int(r))
    return np.array(sorted(set(ids)), np.int32)


def _finish(
    cand: Candidates,
    transform: Transform,
    *,
    iou: float | None,
    class_agnostic: bool,
    max_detections: int,
    labels: LabelMap | None,
) -> Detections:
    """The last steps of every detector: NMS (when ``iou`` is not None), ``max_detections``,
    boxes mapped from input pixels to source pixels and clipped, labels attached.

    Returns:
        :class:`Detections` sorted by descending score (ties by candidate order).
    """
    if iou is not None and len(cand):
        keep = nms(
            cand.xyxy,
            cand.scores,
            iou,
            class_ids=None if class_agnostic else cand.class_ids,
            max_detections=max_detections,
        )
    else:
        keep = np.lexsort((np.arange(len(cand)), -cand.scores))[:max_detections]
    cand = cand.select(keep)
    xyxy = transform.boxes_to_source(cand.xyxy, clip=True)
    names = tuple(labels.get(int(c)) if labels else None for c in cand.class_ids)
    return Detections(xyxy, cand.scores, cand.class_ids, names)


class Detector(Task):
    """Detect objects in RGB images with a .tflite detector (SSD post-process or YOLO head).

    Args:
        model: a path, bytes, or a loaded :class:`Model`.
        labels: a label file path or :class:`LabelMap`; default: labels embedded in the model
            (for SSD models, those attached to the classes output), else none.
        options: :class:`DetectorOptions`; option keywords (``threshold=0.3`` ...) are
            accepted as a shortcut.
        accelerator, num_threads: passed to :class:`Model` when ``model`` is a path.

    Raises:
        ModelError: see :class:`Model`.
        UnsupportedModelError: the outputs match no known detection layout (the message lists
            every output tensor), or the input is not an image.
        LabelsError: the label map does not cover the model's classes (for example a label
            file shorter than the class count).
        OptionsError: an allow/deny entry names an unknown label or an out-of-range id.

    ``close()`` frees the model when the detector loaded it; a context manager.
    """

    kind = TaskKind.DETECT

    def __init__(
        self,
        model: str | Path | bytes | Model,
        *,
        labels: str | Path | LabelMap | None = None,
        options: DetectorOptions | None = None,
        accelerator: Any = None,
        num_threads: int | None = None,
        **option_kwargs: Any,
    ) -> None:
        if options is not None and option_kwargs:
            raise OptionsError("pass either options= or option keywords, not both")
        self.options = opts = options or DetectorOptions(**option_kwargs)
        self.model = (
            model
            if isinstance(model, Model)
            else Model(model, accelerator=accelerator, num_threads=num_threads)
        )
        self._owned_model = None if isinstance(model, Model) else self.model
        given = str(labels) if isinstance(labels, Path) else labels
        # Labels first (they help tell YOLOv8 from YOLOv5), then the decoder, then the check.
        pre_labels = resolve_labels(given, self.model, self._labelled_output())
        self.decoder: Decoder = select_decoder(
            self.model,
            head=opts.head,
            num_labels=len(pre_labels) if pre_labels is not None else None,
            coordinates=opts.box_coordinates,
        )
        self.labels = pre_labels
        if self.labels is not None and self.decoder.num_classes is not None:
            self.labels.check_fits(self.decoder.num_classes, f"{self.model.source}'s detection head")
        self.num_classes = self.decoder.num_classes
        self._allow = (
            None
            if opts.classes is None
            else _resolve_class_refs(opts.classes, self.labels, self.num_classes, "classes")
        )
        self._deny = _resolve_class_refs(opts.exclude, self.labels, self.num_classes, "exclude")
        is_yolo = self.decoder.head is not DetectorHead.SSD
        self.iou = opts.iou if opts.iou is not None else (DEFAULT_IOU if self.decoder.needs_nms else None)
        self.runner = ImageRunner(
            self.model,
            resize=opts.resize,
            normalization=opts.normalization,
            family=YOLO_NORMALIZATION if is_yolo else self.model.metadata.family_normalization,
            interpolation=opts.interpolation,
            default_resize=ResizeMode.LETTERBOX if is_yolo else ResizeMode.STRETCH,
            pad_value=YOLO_PAD_VALUE if is_yolo else 0,
        )
        self.last_timing = Timing()

    def _labelled_output(self) -> int:
        """The output whose metadata labels name the classes (the SSD's classes output)."""
        embedded = self.model.metadata.output_labels
        if len(embedded) == 1:
            return next(iter(embedded))
        return 1 if len(self.model.outputs) == 4 else 0

    @property
    def resize(self) -> ResizeMode:
        """How frames are fitted to the input."""
        return self.runner.preprocessor.mode

    def _filter(self, cand: Candidates) -> Candidates:
        keep = np.ones(len(cand), bool)
        if self._allow is not None:
            keep &= np.isin(cand.class_ids, self._allow)
        if self._deny.size:
            keep &= ~np.isin(cand.class_ids, self._deny)
        if self.num_classes is not None:
            keep &= (cand.class_ids >= 0) & (cand.class_ids < self.num_classes)
        return cand if keep.all() else cand.select(np.flatnonzero(keep))

    def process(self, image: npt.ArrayLike) -> Detections:
        """:meth:`detect` (the common name every task has)."""
        return self.detect(image)

    def timing_ms(self) -> dict[str, float]:
        return self.last_timing.as_dict()

    def detect(self, image: npt.ArrayLike) -> Detections:
        """Detect objects in one RGB image (``(H, W, 3)`` uint8; gray, RGBA and 16-bit are
        converted).

        Returns:
            :class:`Detections` sorted by descending score, boxes ``x0, y0, x1, y1`` in pixels
            of ``image`` (origin top-left), clipped to ``[0, width] x [0, height]``.

        Raises:
            ImageError: the image is empty, too small or of an unsupported type.
        """
        timing = Timing()
        transform = self.runner.run(image, timing)
        t0 = time.perf_counter()
        cand = self._filter(self.decoder.decode(self.model, float(self.options.threshold)))
        result = _finish(
            cand,
            transform,
            iou=self.iou,
            class_agnostic=self.options.class_agnostic,
            max_detections=self.options.max_detections,
            labels=self.labels,
        )
        timing.postprocess_ms = (time.perf_counter() - t0) * 1e3
        self.last_timing = timing
        return result

    def describe(self) -> str:
        """One line: the decoder chosen at load and the preprocessing."""
        return f"{self.decoder.describe()}; resize {self.resize.value}"
