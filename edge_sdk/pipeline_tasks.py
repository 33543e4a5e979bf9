"""Task adapters for the :class:`~edge_sdk.pipeline.Pipeline`: ``frame -> TaskResult``.

An adapter wraps a task object (:class:`~edge_sdk.classify.Classifier`,
:class:`~edge_sdk.detect.Detector` or :class:`~edge_sdk.faces.recognizer.FaceRecognizer`),
runs it on one :class:`~edge_sdk.frame.Frame` (preprocess, invoke, decode into typed results)
and returns a :class:`TaskResult`. Its ``record`` is the JSON Lines object of the CLI contract
(DESIGN.md section 3), built from the results' ``as_dict()``/``as_dicts()``:

* classify: ``{"source", "frame", "classes": [{"id", "label", "score"}], "timing_ms"}``
* detect: ``{"source", "frame", "detections": [{"id", "label", "score", "box"}], "timing_ms"}``
* faces: ``{"source", "frame", "faces": [{"box", "score", "keypoints", "identity",
  "similarity"}], "timing_ms"}``

Boxes and keypoints are pixels ``x0, y0, x1, y1`` / ``x, y`` of the original frame, origin at
the top-left. Adapters never copy the frame: the image is read in place by the task.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import OptionsError
from .frame import Frame
from .results import Classification, Detections, Face

if TYPE_CHECKING:
    from .classify import Classifier
    from .detect import Detector
    from .faces.recognizer import FaceRecognizer


class TaskKind(str, enum.Enum):
    """The pipeline tasks; the value is the name used by ``edge-sdk run --task``."""

    CLASSIFY = "classify"
    DETECT = "detect"
    FACES = "faces"

    @classmethod
    def parse(cls, value: str | TaskKind) -> TaskKind:
        """``"classify"``, ``"detect"`` or ``"faces"``.

        Raises:
            OptionsError: any other name.
        """
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(k.value for k in cls)
            raise OptionsError(f"task must be one of {names}, got {value!r}") from None


TaskOutput = Classification | Detections | tuple[Face, ...]


@dataclass(frozen=True, eq=False)
class TaskResult:
    """The result of one frame.

    ``frame``: the frame it was computed on (its image is not copied). ``result``: the typed
    result (:class:`Classification`, :class:`Detections` or a tuple of :class:`Face`).
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
        else:
            rec["faces"] = [f.as_dict() for f in res]
        rec["timing_ms"] = self.timing_ms
        return rec


@runtime_checkable
class TaskAdapter(Protocol):
    """What the pipeline runs on the inference thread: ``adapter(frame) -> TaskResult``."""

    kind: TaskKind

    def __call__(self, frame: Frame) -> TaskResult: ...


class ClassifyTask:
    """Adapter of a :class:`~edge_sdk.classify.Classifier`."""

    kind = TaskKind.CLASSIFY

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def __call__(self, frame: Frame) -> TaskResult:
        self.classifier.model.track_source(frame.source)  # a stateful model restarts per source
        result = self.classifier.classify(frame.image)
        return TaskResult(frame, self.kind, result, self.classifier.last_timing.as_dict())


class DetectTask:
    """Adapter of a :class:`~edge_sdk.detect.Detector`."""

    kind = TaskKind.DETECT

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def __call__(self, frame: Frame) -> TaskResult:
        self.detector.model.track_source(frame.source)  # a stateful model restarts per source
        result = self.detector.detect(frame.image)
        return TaskResult(frame, self.kind, result, self.detector.last_timing.as_dict())


class FacesTask:
    """Adapter of a :class:`~edge_sdk.faces.recognizer.FaceRecognizer`.

    With an embedder, faces are recognised (identity and similarity set from the gallery);
    without one they are only detected (``identity`` and ``similarity`` are null).
    """

    kind = TaskKind.FACES

    def __init__(self, recognizer: FaceRecognizer) -> None:
        self.recognizer = recognizer
        self._run: Callable[[Any], list[Face]] = (
            recognizer.recognize if recognizer.embedder is not None else recognizer.detect
        )

    def __call__(self, frame: Frame) -> TaskResult:
        faces = tuple(self._run(frame.image))
        return TaskResult(frame, self.kind, faces, self.recognizer.last_timing.as_dict())


def adapt(task: Any) -> TaskAdapter:
    """The adapter of a task object; an adapter is returned as is.

    Raises:
        OptionsError: ``task`` is none of Classifier, Detector, FaceRecognizer or an adapter.
    """
    if isinstance(task, TaskAdapter):
        return task
    from .classify import Classifier
    from .detect import Detector
    from .faces.recognizer import FaceRecognizer

    if isinstance(task, Classifier):
        return ClassifyTask(task)
    if isinstance(task, Detector):
        return DetectTask(task)
    if isinstance(task, FaceRecognizer):
        return FacesTask(task)
    raise OptionsError(
        "task must be a Classifier, Detector, FaceRecognizer or a TaskAdapter "
        f"(callable frame -> TaskResult with a .kind), got {type(task).__name__}"
    )
