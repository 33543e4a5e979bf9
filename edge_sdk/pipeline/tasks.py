"""Task adapters for the :class:`~edge_sdk.pipeline.engine.Pipeline`: ``frame -> TaskResult``.

An adapter wraps a task object (:class:`~edge_sdk.tasks.classify.Classifier`,
:class:`~edge_sdk.tasks.detect.Detector` or :class:`~edge_sdk.tasks.faces.recognizer.FaceRecognizer`),
runs it on one :class:`~edge_sdk.frame.Frame` (preprocess, invoke, decode into typed results)
and returns a :class:`TaskResult`. Its ``record`` is the JSON Lines object of the CLI contract
(documented in docs/pipeline.md, "JSON Lines"), built from the results' ``as_dict()``/``as_dicts()``:

* classify: ``{"source", "frame", "classes": [{"id", "label", "score"}], "timing_ms"}``
* detect: ``{"source", "frame", "detections": [{"id", "label", "score", "box"}], "timing_ms"}``
* faces: ``{"source", "frame", "faces": [{"box", "score", "keypoints", "identity",
  "similarity"}], "timing_ms"}``
* segment: ``{"source", "frame", "classes": [{"id", "label", "pixels", "fraction"}],
  "timing_ms"}`` (per-class areas; the mask never goes into a record)
* pose: ``{"source", "frame", "poses": [{"score", "box", "keypoints": [{"name", "x", "y",
  "score"}]}], "timing_ms"}``

Boxes and keypoints are pixels ``x0, y0, x1, y1`` / ``x, y`` of the original frame, origin at
the top-left. Adapters never copy the frame: the image is read in place by the task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..errors import OptionsError
from ..frame import Frame
from ..results import Face
from ..tasks.base import Task, TaskKind, TaskOutput, TaskResult
from ..tasks.classify import Classifier
from ..tasks.detect import Detector
from ..tasks.faces.recognizer import FaceRecognizer

__all__ = [
    "ClassifyTask",
    "DetectTask",
    "FacesTask",
    "TaskAdapter",
    "TaskKind",
    "TaskOutput",
    "TaskResult",
    "TaskRun",
    "adapt",
]


@runtime_checkable
class TaskAdapter(Protocol):
    """What the pipeline runs on the inference thread: ``adapter(frame) -> TaskResult``;
    ``close()`` releases the task once the pipeline is done with it."""

    kind: TaskKind

    def __call__(self, frame: Frame) -> TaskResult: ...

    def close(self) -> None: ...


class TaskRun:
    """Adapter of any :class:`~edge_sdk.tasks.base.Task`: ``task.process(frame.image)``.
    A new task needs no adapter of its own."""

    def __init__(self, task: Task) -> None:
        self.kind = task.kind
        self._task = task

    def __call__(self, frame: Frame) -> TaskResult:
        result = self._task.process(frame.image)
        return TaskResult(frame, self.kind, result, self._task.timing_ms())

    def close(self) -> None:
        self._task.close()


class ClassifyTask:
    """Adapter of a :class:`~edge_sdk.tasks.classify.Classifier`."""

    kind = TaskKind.CLASSIFY

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def __call__(self, frame: Frame) -> TaskResult:
        self.classifier.model.track_source(frame.source)  # a stateful model restarts per source
        result = self.classifier.classify(frame.image)
        return TaskResult(frame, self.kind, result, self.classifier.last_timing.as_dict())

    def close(self) -> None:
        self.classifier.close()


class DetectTask:
    """Adapter of a :class:`~edge_sdk.tasks.detect.Detector`."""

    kind = TaskKind.DETECT

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def __call__(self, frame: Frame) -> TaskResult:
        self.detector.model.track_source(frame.source)  # a stateful model restarts per source
        result = self.detector.detect(frame.image)
        return TaskResult(frame, self.kind, result, self.detector.last_timing.as_dict())

    def close(self) -> None:
        self.detector.close()


class FacesTask:
    """Adapter of a :class:`~edge_sdk.tasks.faces.recognizer.FaceRecognizer`.

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

    def close(self) -> None:
        self.recognizer.close()


def adapt(task: Any) -> TaskAdapter:
    """The adapter of a task object; an adapter is returned as is.

    Raises:
        OptionsError: ``task`` is none of Classifier, Detector, FaceRecognizer or an adapter.
    """
    if isinstance(task, TaskAdapter):
        return task
    if isinstance(task, Classifier):
        return ClassifyTask(task)
    if isinstance(task, Detector):
        return DetectTask(task)
    if isinstance(task, FaceRecognizer):
        return FacesTask(task)
    if isinstance(task, Task):
        return TaskRun(task)
    raise OptionsError(
        "task must be a Classifier, Detector, FaceRecognizer, another Task or a TaskAdapter "
        f"(callable frame -> TaskResult with a .kind and a .close()), got {type(task).__name__}"
    )
