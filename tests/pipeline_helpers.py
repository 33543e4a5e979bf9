"""Helpers for the pipeline and sink tests: a real video file, a scripted live source, and
small task adapters that stand in for a model (for ordering and back-pressure tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from devices.sources import Source, SourceState
from edge_sdk.frame import Frame
from edge_sdk.pipeline.tasks import TaskKind, TaskResult
from edge_sdk.results import Category, Classification
from edge_sdk.sinks import Sink


def frame_image(i: int, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """An RGB frame whose mean brightness encodes ``i`` (survives lossy video coding)."""
    w, h = size
    img = np.full((h, w, 3), (i * 7) % 200 + 20, np.uint8)
    cv2.putText(img, str(i), (2, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return img


def write_video(path: Path, frames: int, size: tuple[int, int] = (96, 64), fps: float = 25.0) -> Path:
    """Write an MPEG-4 file of ``frames`` frames with cv2.VideoWriter; checks it was written."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(frames):
        writer.write(cv2.cvtColor(frame_image(i, size), cv2.COLOR_RGB2BGR))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    cap.release()
    return path


class ScriptedSource(Source):
    """A source delivering ``count`` frames as fast as it is read (None: forever), then
    ending; ``live`` as given; ``produced`` counts frames handed out; ``all_read`` is set once
    the last frame was taken."""

    def __init__(self, count: int | None, *, live: bool = True, uri: str = "scripted:0") -> None:
        super().__init__(uri)
        self.live = live
        self.count = count
        self.produced = 0
        self.all_read = threading.Event()
        self.closed = threading.Event()
        self.state = SourceState.CONNECTED

    def frames(self) -> Iterator[Frame]:
        try:
            i = 0
            while (self.count is None or i < self.count) and not self.closed.is_set():
                self.produced = i + 1
                yield Frame(frame_image(i), i, float(i), self.uri)
                i += 1
            self.all_read.set()
        finally:
            self.close()

    def close(self) -> None:
        self.closed.set()
        super().close()


class RecordingTask:
    """A task adapter that records the frame indexes it ran on; ``gate`` (optional) blocks
    the first call until set (or ``gate_timeout`` s), to hold inference while capture runs."""

    kind = TaskKind.CLASSIFY

    def __init__(
        self, gate: threading.Event | None = None, gate_timeout: float = 10.0, source: Source | None = None
    ) -> None:
        self.gate = gate
        self.gate_timeout = gate_timeout
        self.seen: list[int] = []
        self.produced_at_first_call: int | None = None
        self.source = source

    def __call__(self, frame: Frame) -> TaskResult:
        if not self.seen:
            if self.gate is not None:
                self.gate.wait(self.gate_timeout)
            if self.source is not None:
                self.produced_at_first_call = getattr(self.source, "produced", None)
        self.seen.append(frame.index)
        brightness = float(frame.image.mean())
        return TaskResult(frame, self.kind, Classification((Category(0, brightness / 255.0, "mean"),)), {})

    def close(self) -> None:
        """Nothing to release (the TaskAdapter protocol asks for it)."""


class CollectSink(Sink):
    """Keeps every result (and whether open/close were called)."""

    def __init__(self) -> None:
        self.uri = "collect:"
        self.results: list[TaskResult] = []
        self.context = None
        self.closed = False

    def open(self, context):  # type: ignore[no-untyped-def]
        self.context = context

    def write(self, result: TaskResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        self.closed = True
