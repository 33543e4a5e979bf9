"""``RunConfig``: what ``edge-sdk run`` runs, from command-line options or a JSON file.

A config file is one JSON object with the same keys as the command-line options
(``--max-frames`` is ``max_frames``)::

    {
      "task": "detect",
      "model": "ssd_mobilenet_v1.tflite",
      "source": "usb:0",
      "sink": ["jsonl:detections.jsonl",
               {"uri": "mqtt://broker.local/edge/{host}/{task}", "qos": 1},
               "preview:8080"],
      "threshold": 0.5,
      "duration": 3600
    }

``sink`` is a URI, or a list of URIs and ``{"uri": ..., option: value}`` objects (options of
the sink class, see :mod:`edge_sdk.sinks`). Unknown keys are rejected. Relative paths are
taken from the current directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from devices.pairing import resolve_model

from ..errors import OptionsError
from ..metadata import Normalization
from ..preprocess import ResizeMode
from ..safe_io import CONFIG_MAX_BYTES, loads_json, read_regular_file
from ..sinks import Sink, open_sink
from ..tasks.base import BaseOptions
from ..tasks.classify import ClassifierOptions
from ..tasks.detect import DetectorOptions
from ..tasks.faces.options import FaceDetectorOptions
from ..tasks.faces.recognizer import DEFAULT_THRESHOLD, RecognizerOptions
from ..tasks.pose import PoseEstimatorOptions
from ..tasks.registry import TaskOptions, create_task
from ..tasks.segment import SegmenterOptions
from ..validate import int_in, is_bool, number_in
from .engine import Pipeline, PipelineOptions, close_task
from .service_options import ServiceOptions
from .tasks import TaskAdapter, TaskKind, adapt

SinkSpec = str | Mapping[str, Any]

# options that only some tasks take (threshold applies to all, with a per-task meaning)
_APPLIES: dict[TaskKind, frozenset[str]] = {
    TaskKind.CLASSIFY: frozenset({"labels", "top_k", "resize", "mean", "std"}),
    TaskKind.DETECT: frozenset({"labels", "iou", "max_detections", "resize", "mean", "std"}),
    TaskKind.FACES: frozenset({"embedder", "gallery", "score"}),
    TaskKind.SEGMENT: frozenset({"labels", "resize", "mean", "std"}),
    TaskKind.POSE: frozenset({"iou", "max_detections", "resize", "mean", "std"}),
}
_TASK_OPTIONS = frozenset().union(*_APPLIES.values())


@dataclass(frozen=True)
class RunConfig:
    """Everything ``edge-sdk run`` needs, checked when built.

    Attributes:
        task: ``classify``, ``detect``, ``faces``, ``segment`` or ``pose``.
        model: the .tflite model (for ``faces``: the face detector, .tflite or YuNet .onnx;
            default ``$EDGE_SDK_FACE_DETECTOR`` or the installed BlazeFace).
        source: a source URI (file, folder, glob, camera, stream).
        sink: sink URIs or ``{"uri": ..., options}`` objects (at least one).
        labels: label file (classify/detect/segment). top_k: classes per frame (classify).
        threshold: minimum score (classify/detect/pose), foreground probability (segment)
            or match cosine (faces).
        iou, max_detections: NMS IoU and cap of the detector (pose: YOLO pose NMS, poses
            per frame).
        resize: ``stretch``, ``letterbox`` or ``center_crop`` (every task but faces).
        mean, std: input normalization ``(pixel - mean) / std``, one value or one per channel,
            std > 0 (every task but faces; default: the model's metadata).
        embedder, gallery, score: faces only: embedder .tflite, gallery file, detection score.
        accelerator, threads, strict: as for ``edge-sdk classify``.
        max_frames, duration: stop after this many frames / seconds.
        queue_size: frames queued between capture and inference.
        drop_oldest: override the drop policy (default: drop for live sources only).
        status, home_assistant: MQTT status, heartbeat and Home Assistant discovery (see
            :mod:`edge_sdk.pipeline.service_options`); checked here, used by ``edge-sdk run``.
    """

    task: TaskKind
    source: str
    sink: tuple[SinkSpec, ...]
    model: str | None = None
    labels: str | None = None
    top_k: int | None = None
    threshold: float | None = None
    iou: float | None = None
    max_detections: int | None = None
    resize: str | None = None
    mean: float | tuple[float, ...] | None = None
    std: float | tuple[float, ...] | None = None
    embedder: str | None = None
    gallery: str | None = None
    score: float | None = None
    accelerator: str | None = None
    threads: int | None = None
    strict: bool = False
    max_frames: int | None = None
    duration: float | None = None
    queue_size: int = 2
    drop_oldest: bool | None = None
    status: Mapping[str, Any] | None = None
    home_assistant: bool | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", TaskKind.parse(self.task))
        if not isinstance(self.source, str) or not self.source:
            raise OptionsError(f"source must be a non-empty URI, got {self.source!r}")
        if isinstance(self.sink, (str, Mapping)):
            sinks: tuple[Any, ...] = (self.sink,)
        elif isinstance(self.sink, (list, tuple)) or self.sink is None:
            sinks = tuple(self.sink or ())
        else:  # found by fuzzing: a number here was a TypeError
            raise OptionsError(
                f"sink must be a URI, an object with a uri, or a list of them, got {self.sink!r}"
            )
        if not sinks:
            raise OptionsError("at least one sink is needed, e.g. jsonl:- (JSON lines on stdout)")
        for s in sinks:
            if isinstance(s, Mapping):
                if not isinstance(s.get("uri"), str):
                    raise OptionsError(f'a sink object needs a "uri" string, got {dict(s)!r}')
            elif not isinstance(s, str):
                raise OptionsError(f"a sink must be a URI or an object with a uri, got {s!r}")
        object.__setattr__(self, "sink", sinks)
        for name in ("model", "labels", "resize", "embedder", "gallery", "accelerator"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise OptionsError(f"{name} must be a string, got {value!r}")
        if self.task is not TaskKind.FACES and not self.model:
            raise OptionsError(f'task {self.task.value} needs a model (--model / "model")')
        wrong = [
            n for n in sorted(_TASK_OPTIONS) if getattr(self, n) is not None and n not in _APPLIES[self.task]
        ]
        if wrong:
            raise OptionsError(f"option(s) {', '.join(wrong)} do not apply to task {self.task.value}")
        int_in("top_k", self.top_k, 1, 1e9, optional=True)
        number_in(
            "threshold", self.threshold, -1.0 if self.task is TaskKind.FACES else 0.0, 1.0, optional=True
        )
        number_in("iou", self.iou, 0.0, 1.0, optional=True)
        number_in("score", self.score, 0.0, 1.0, optional=True)
        int_in("max_detections", self.max_detections, 1, 1e12, optional=True)
        int_in("threads", self.threads, 1, 1e12, optional=True)
        int_in("max_frames", self.max_frames, 1, 1e12, optional=True)
        if self.resize is not None and self.resize not in ("stretch", "letterbox", "center_crop"):
            raise OptionsError(f"resize must be stretch, letterbox or center_crop, got {self.resize!r}")
        if isinstance(self.mean, list):
            object.__setattr__(self, "mean", tuple(self.mean))
        if isinstance(self.std, list):
            object.__setattr__(self, "std", tuple(self.std))
        Normalization.from_options(self.mean, self.std)
        is_bool("strict", self.strict)
        # the pipeline options check the rest (duration, queue_size, drop_oldest)
        self.pipeline_options()
        self.service_options()

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """Build from a mapping with the documented keys.

        Raises:
            OptionsError: unknown or missing keys, or a bad value.
        """
        if not isinstance(data, Mapping):
            raise OptionsError(f"a run config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OptionsError(
                f"unknown config key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}"
            )
        missing = [k for k in ("task", "source", "sink") if data.get(k) in (None, [], "")]
        if missing:
            raise OptionsError(f"missing config key(s) {', '.join(missing)}")
        return cls(**dict(data))

    @classmethod
    def from_file(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> RunConfig:
        """Read a JSON config file; ``overrides`` (non-None values) replace its keys.

        Raises:
            OptionsError: unreadable file, invalid JSON, or a bad config.
        """
        p = Path(path)
        raw = read_regular_file(p, "config", CONFIG_MAX_BYTES, OptionsError)
        data = loads_json(raw, f"config {p}", OptionsError)
        if not isinstance(data, dict):
            raise OptionsError(f"config {p} must hold one JSON object, found {type(data).__name__}")
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_dict(data)

    def service_options(self) -> ServiceOptions:
        """Status/heartbeat/Home Assistant options (``broker`` None when nothing names one)."""
        return ServiceOptions.from_config(self.status, self.home_assistant, self.sink)

    def pipeline_options(self) -> PipelineOptions:
        return PipelineOptions(
            queue_size=self.queue_size,
            max_frames=self.max_frames,
            duration_s=self.duration,
            drop_oldest=self.drop_oldest,
        )

    def build_task(self) -> TaskAdapter:
        """Load the model(s) and return the task adapter.

        Raises:
            ModelError, LabelsError, AcceleratorError, GalleryError: see the task classes.
        """
        resize = ResizeMode(self.resize) if self.resize else None
        options: TaskOptions
        if self.task is TaskKind.FACES:
            options = RecognizerOptions(
                threshold=DEFAULT_THRESHOLD if self.threshold is None else self.threshold,
                detector=FaceDetectorOptions(score_threshold=self.score),
                embedder=self.embedder,
                gallery=self.gallery,
                base=BaseOptions(model=self.model, accelerator=self.accelerator, num_threads=self.threads),
            )
            return adapt(create_task(self.task, options))
        assert self.model is not None
        model_path, accelerator = resolve_model(self.model, self.accelerator, strict=self.strict)
        base = BaseOptions(
            model=model_path,
            labels=self.labels,
            accelerator=accelerator,
            num_threads=self.threads,
            normalization=Normalization.from_options(self.mean, self.std),
        )
        if self.task is TaskKind.CLASSIFY:
            options = ClassifierOptions(
                top_k=5 if self.top_k is None else self.top_k,
                threshold=0.0 if self.threshold is None else self.threshold,
                resize=resize,
                base=base,
            )
        elif self.task is TaskKind.SEGMENT:
            seg: dict[str, Any] = {"resize": resize}
            if self.threshold is not None:
                seg["threshold"] = self.threshold
            options = SegmenterOptions(**seg, base=base)
        elif self.task is TaskKind.POSE:
            pose: dict[str, Any] = {"resize": resize}
            if self.threshold is not None:
                pose["threshold"] = self.threshold
            if self.iou is not None:
                pose["iou"] = self.iou
            if self.max_detections is not None:
                pose["max_poses"] = self.max_detections
            options = PoseEstimatorOptions(**pose, base=base)
        else:
            kw: dict[str, Any] = {"resize": resize}
            if self.threshold is not None:
                kw["threshold"] = self.threshold
            if self.iou is not None:
                kw["iou"] = self.iou
            if self.max_detections is not None:
                kw["max_detections"] = self.max_detections
            options = DetectorOptions(**kw, base=base)
        return adapt(create_task(self.task, options))

    def build_sinks(self) -> list[Sink]:
        """Build every sink; the ones built are closed again when one fails.

        Raises:
            OptionsError, MissingDependencyError, SinkError: see :func:`edge_sdk.sinks.open_sink`.
        """
        built: list[Sink] = []
        try:
            for spec in self.sink:
                if isinstance(spec, str):
                    built.append(open_sink(spec))
                else:
                    opts = {k: v for k, v in spec.items() if k != "uri"}
                    built.append(open_sink(spec["uri"], **opts))
        except BaseException:
            for s in built:
                s.close()
            raise
        return built

    def build(self, extra_sinks: Sequence[Sink] = ()) -> Pipeline:
        """Build the whole pipeline: sinks first (cheap checks, ports), then the model, then
        the source. What was built is closed again when a later step fails (sinks, and the
        task: a gallery file stays open otherwise). ``extra_sinks`` (already built, e.g. the
        service monitor) go after the config's sinks."""
        sinks = self.build_sinks()
        try:
            task = self.build_task()
            try:
                return Pipeline(self.source, task, [*sinks, *extra_sinks], self.pipeline_options())
            except BaseException:
                close_task(task)
                raise
        except BaseException:
            for s in sinks:
                s.close()
            raise
