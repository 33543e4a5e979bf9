"""One way to build a task: ``create_task(kind, options)``, and which task a model is for.

Adding a task is one module (its options with a ``base: BaseOptions`` field, and the task
class deriving :class:`~edge_sdk.tasks.base.Task`) plus one entry in :data:`BUILDERS`.
The CLI (``classify``, ``detect``, ``faces``), the run configuration file
(:mod:`edge_sdk.pipeline.config`) and Python all build tasks here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import OptionsError, UnsupportedModelError
from ..model import Model
from ..modelfile import DETECTION_POSTPROCESS_OP
from .base import MODEL_TASKS, UNKNOWN_MODEL_TASK, BaseOptions, Task, TaskKind
from .classify import Classifier, ClassifierOptions
from .detect import Detector, DetectorOptions
from .faces.embedder import load_embedder
from .faces.gallery import Gallery
from .faces.options import FaceDetectorOptions
from .faces.recognizer import FaceRecognizer, RecognizerOptions
from .pose import POSENET_OPS, PoseEstimator, PoseEstimatorOptions, metadata_kpt_shape, select_head
from .segment import Segmenter, SegmenterOptions, output_form

TaskOptions = (
    ClassifierOptions | DetectorOptions | RecognizerOptions | SegmenterOptions | PoseEstimatorOptions
)


def _base(options: TaskOptions, kind: TaskKind) -> BaseOptions:
    if options.base is None or (options.base.model is None and kind is not TaskKind.FACES):
        raise OptionsError(
            f"task {kind.value} needs options.base=BaseOptions(model=...), got {options.base!r}"
        )
    return options.base


def _with_normalization(options: Any, base: BaseOptions) -> Any:
    if options.normalization is None and base.normalization is not None:
        return dataclasses.replace(options, normalization=base.normalization)
    return options


def _labelled(cls: type[Any], kind: TaskKind) -> Callable[[Any], Task]:
    """The builder of a one-model task that takes labels: classify, detect, segment."""

    def build(options: Any) -> Task:
        base = _base(options, kind)
        assert base.model is not None
        task: Task = cls(
            base.model,
            labels=base.labels,
            options=_with_normalization(options, base),
            accelerator=base.accelerator,
            num_threads=base.num_threads,
        )
        return task

    return build


def _recognizer(options: RecognizerOptions) -> FaceRecognizer:
    base = _base(options, TaskKind.FACES)
    if isinstance(base.model, (bytes, Model)):
        raise OptionsError(f"the faces task takes a face detector file path, got {type(base.model).__name__}")
    embedder: Any = options.embedder
    if base.normalization is not None and embedder is not None:
        # --mean/--std of the faces commands are the embedder's (the detectors have known ranges)
        embedder = load_embedder(
            embedder,
            accelerator=base.accelerator,
            num_threads=base.num_threads,
            normalization=base.normalization,
        )
    rec = FaceRecognizer(
        base.model,
        embedder=embedder,
        options=options,
        accelerator=base.accelerator,
        num_threads=base.num_threads,
    )
    if options.gallery is not None:
        try:
            rec.require_embedder()
            rec.gallery = Gallery(options.gallery, create=False)
        except BaseException:
            rec.close()
            raise
    return rec


def _pose(options: PoseEstimatorOptions) -> PoseEstimator:
    base = _base(options, TaskKind.POSE)
    assert base.model is not None
    if base.labels is not None:
        raise OptionsError(f"the pose task takes no labels (keypoints are named), got {base.labels!r}")
    return PoseEstimator(
        base.model,
        options=_with_normalization(options, base),
        accelerator=base.accelerator,
        num_threads=base.num_threads,
    )


BUILDERS: dict[TaskKind, tuple[type[Any], Callable[[Any], Task]]] = {
    TaskKind.CLASSIFY: (ClassifierOptions, _labelled(Classifier, TaskKind.CLASSIFY)),
    TaskKind.DETECT: (DetectorOptions, _labelled(Detector, TaskKind.DETECT)),
    TaskKind.FACES: (RecognizerOptions, _recognizer),
    TaskKind.SEGMENT: (SegmenterOptions, _labelled(Segmenter, TaskKind.SEGMENT)),
    TaskKind.POSE: (PoseEstimatorOptions, _pose),
}


def create_task(kind: TaskKind | str, options: TaskOptions) -> Task:
    """Build the task ``kind`` from its options (``options.base`` names the model).

    Raises:
        OptionsError: an unknown kind, options of another task, or no ``base.model``.
        ModelError, LabelsError, AcceleratorError, GalleryError: see the task classes.
    """
    kind = TaskKind.parse(kind)
    options_type, build = BUILDERS[kind]
    if not isinstance(options, options_type):
        raise OptionsError(f"task {kind.value} takes {options_type.__name__}, got {type(options).__name__}")
    return build(options)


def create_task_from_config(config: Mapping[str, Any]) -> Task:
    """Build a task from a plain mapping, e.g. read from JSON or TOML::

        {"task": "detect", "model": "ssd.tflite", "labels": null, "accelerator": "cpu",
         "num_threads": 4, "threshold": 0.4, "iou": 0.5}

    ``task`` picks the kind; ``model``, ``labels``, ``accelerator``, ``num_threads`` and
    ``normalization`` fill :class:`BaseOptions`; the other keys are the task's options
    (for ``faces``, ``score_threshold``/``iou_threshold``/``max_faces``/``max_side`` fill its
    detector options).

    Raises:
        OptionsError: no ``task``, an unknown key for that task, or a bad value.
    """
    values = dict(config)
    if "task" not in values:
        raise OptionsError(f"a task config needs a 'task' key ({', '.join(k.value for k in TaskKind)})")
    kind = TaskKind.parse(values.pop("task"))
    base_keys = {f.name for f in dataclasses.fields(BaseOptions)}
    base = BaseOptions(**{k: values.pop(k) for k in list(values) if k in base_keys})
    options_type = BUILDERS[kind][0]
    if kind is TaskKind.FACES:
        det_keys = {f.name for f in dataclasses.fields(FaceDetectorOptions)}
        det = {k: values.pop(k) for k in list(values) if k in det_keys}
        values["detector"] = FaceDetectorOptions(**det)
    known = {f.name for f in dataclasses.fields(options_type)} - {"base"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise OptionsError(f"option(s) {', '.join(unknown)} do not apply to task {kind.value}")
    return create_task(kind, options_type(**values, base=base))


def _looks_segmented(model: Model) -> bool:
    """One image-shaped output (at least 1/32 of the input's height and width) of a
    segmentation form."""
    s = model.outputs[0].shape
    in_shape = model.input.shape
    if len(in_shape) != 4 or len(s) not in (3, 4) or s[0] != 1 or min(s[1:3]) < 8:
        return False
    if s[1] * 32 < in_shape[1] or s[2] * 32 < in_shape[2]:
        return False
    try:
        output_form(model)
    except UnsupportedModelError:
        return False
    return True


def infer_task(model: Model) -> str:
    """Best judgement of a model's task, as a model-task word: ``"classification"``,
    ``"detection"``, ``"face_detection"``, ``"embedding"``, ``"segmentation"``, ``"pose"`` or
    ``"unknown"`` (the words of
    model metadata and ``edge-sdk info``; :data:`~edge_sdk.tasks.base.MODEL_TASKS` maps each
    to the :class:`TaskKind` that runs it).

    In order: the task written in edge_sdk metadata; a ``TFLite_Detection_PostProcess`` op
    (SSD detector); a PoseNet custom op, a MoveNet ``[1, 1, K, 3]`` / ``[1, P, K*3+5]`` output
    or a YOLO head with ``kpt_shape`` metadata (pose); BlazeFace's paired ``[1, A, 16]``/
    ``[1, A, 1]`` outputs (face detector); a YOLO head ``[1, 4+nc, N]``/``[1, N, 4+nc]``/
    ``[1, N, 5+nc]`` (detector); one image-shaped ``[1, H, W]`` or ``[1, H, W, C]`` output at
    least 1/32 of the input size (segmentation); one
    ``[1, N]`` output with labels or a final SOFTMAX (classifier); one ``[1, D]`` output
    without either (embedding).
    """
    meta_task = model.metadata.task
    if meta_task:
        return meta_task if meta_task in MODEL_TASKS else UNKNOWN_MODEL_TASK
    if model.file.has_op(DETECTION_POSTPROCESS_OP):
        return "detection"
    if any(op.lower() in POSENET_OPS for op in model.file.custom_ops):
        return "pose"
    shapes = [t.shape for t in model.outputs]
    if len(shapes) == 1:
        try:
            select_head(model, None, metadata_kpt_shape(model))
            return "pose"
        except UnsupportedModelError:
            pass
    if len(shapes) == 2 and all(len(s) == 3 for s in shapes):
        a, b = sorted(shapes, key=lambda s: s[2])
        if a[2] == 1 and b[2] == 16 and a[1] == b[1]:
            return "face_detection"
    if len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] == 1:
        small, large = sorted(shapes[0][1:])
        if small >= 5 and large > small * 4:
            return "detection"
    if len(shapes) == 1 and _looks_segmented(model):
        return "segmentation"
    if len(shapes) == 1 and len([d for d in shapes[0] if d != 1]) == 1:
        if model.metadata.labels is not None or model.file.has_op("SOFTMAX"):
            return "classification"
        return "embedding"
    return UNKNOWN_MODEL_TASK
