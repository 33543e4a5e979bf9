"""What every task shares: the task enum, the result a task hands to the pipeline and the
sinks, the shared base options, and the task lifecycle.

A *task* is a model plus its pre- and post-processing (``image -> typed result``):
:class:`~edge_sdk.tasks.classify.Classifier`, :class:`~edge_sdk.tasks.detect.Detector`,
:class:`~edge_sdk.tasks.faces.recognizer.FaceRecognizer`. Build any of them from options with
:func:`edge_sdk.tasks.registry.create_task`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import OptionsError
from ..frame import Frame
from ..labels import LabelMap
from ..lifecycle import Closeable
from ..metadata import Normalization
from ..model import Model
from ..results import Classification, Detections, Face, Poses, Segmentation
from ..validate import instance_of, int_at_least

# The task words written in model metadata and printed by ``edge-sdk info`` (the model's
# vocabulary, not a second enum): which TaskKind runs a model of each.
MODEL_TASKS: dict[str, str] = {
    "classification": "classify",
    "detection": "detect",
    "face_detection": "faces",
    "embedding": "faces",
    "segmentation": "segment",
    "pose": "pose",
}
UNKNOWN_MODEL_TASK = "unknown"


class TaskKind(str, enum.Enum):
    """The pipeline tasks; the value is the name used by ``edge-sdk run --task``."""

    CLASSIFY = "classify"
    DETECT = "detect"
    FACES = "faces"
    SEGMENT = "segment"
    POSE = "pose"

    @classmethod
    def parse(cls, value: str | TaskKind) -> TaskKind:
        """``"classify"``, ``"detect"``, ``"faces"``, ``"segment"`` or ``"pose"``.

        Raises:
            OptionsError: any other name.
        """
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(k.value for k in cls)
            raise OptionsError(f"task must be one of {names}, got {value!r}") from None


TaskOutput = Classification | Detections | tuple[Face, ...] | Segmentation | Poses


@dataclass(frozen=True, eq=False)
class TaskResult:
    """The result of one frame.

    ``frame``: the frame it was computed on (its image is not copied). ``result``: the typed
    result (:class:`Classification`, :class:`Detections`, a tuple of :class:`Face`,
    :class:`Segmentation` or :class:`Poses`).
    ``timing_ms``: milliseconds per stage, taken when the task ran. ``record``: the JSON
    Lines object of the CLI contract, built on first use (on the sink thread).
    """

    frame: Frame
    task: TaskKind
    result: TaskOutput
    timing_ms: dict[str, float] = field(default_factory=dict)

    @cached_property
    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"source": self.frame.source, "frame": self.frame.index}
        res = self.result
        if isinstance(res, Classification):
            rec["classes"] = res.as_dicts()
        elif isinstance(res, Detections):
            rec["detections"] = res.as_dicts()
        elif isinstance(res, Segmentation):
            rec["classes"] = res.as_dicts()  # per-class areas; the mask never goes into a record
        elif isinstance(res, Poses):
            rec["poses"] = res.as_dicts()
        else:
            rec["faces"] = [f.as_dict() for f in res]
        rec["timing_ms"] = self.timing_ms
        return rec


@dataclass(frozen=True)
class BaseOptions:
    """What every task needs, composed into each task's own options (``options.base``).

    Attributes:
        model: a .tflite path, its bytes or a loaded :class:`~edge_sdk.model.Model` (for
            faces: the face detector).
        labels: a label file or :class:`~edge_sdk.labels.LabelMap` (default: the model's).
        accelerator: ``"cpu"``, ``"cpu:N"``, ``"edgetpu[...]"`` or an
            :class:`~edge_sdk.delegates.Accelerator` (default: CPU on every core).
        num_threads: XNNPACK threads (>= 1; default from the accelerator spec).
        normalization: for float inputs without metadata; a task's own ``normalization``
            option, when set, wins (for faces: the embedder's).

    Raises:
        OptionsError: a wrong type or a thread count below 1.
    """

    model: str | Path | bytes | Model | None = None
    labels: str | Path | LabelMap | None = None
    accelerator: Any = None
    num_threads: int | None = None
    normalization: Normalization | None = None

    def __post_init__(self) -> None:
        instance_of("model", self.model, (str, Path, bytes, Model))
        instance_of("labels", self.labels, (str, Path, LabelMap))
        int_at_least("num_threads", self.num_threads, 1, optional=True)
        instance_of("normalization", self.normalization, Normalization)


class Task(Closeable):
    """Base class of the tasks: ``close()`` releases the model(s); a context manager.

    Subclasses set ``_owned_model`` to the :class:`~edge_sdk.model.Model` they loaded from
    a path or bytes (a Model passed in stays the caller's) and extend :meth:`_release` when
    they hold more (a gallery).
    """

    kind: TaskKind
    _owned_model: Model | None = None

    def process(self, image: Any) -> TaskOutput:
        """Run on one RGB image; the task's own method (``classify``, ``detect`` ...) under a
        common name, so the pipeline runs any task without knowing it."""
        raise NotImplementedError

    def timing_ms(self) -> dict[str, float]:
        """Milliseconds per stage of the last :meth:`process` call."""
        raise NotImplementedError

    def _release(self) -> None:
        if self._owned_model is not None:
            self._owned_model.close()
