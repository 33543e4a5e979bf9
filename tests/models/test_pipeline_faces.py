"""Pipeline and RunConfig with a real FaceRecognizer: the gallery file is closed at the end
of a run, and when the pipeline cannot be built."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest

from edge_sdk.errors import SourceError
from edge_sdk.pipeline.config import RunConfig
from edge_sdk.pipeline.engine import Pipeline
from edge_sdk.pipeline.tasks import FacesTask, TaskAdapter
from edge_sdk.tasks.faces import FaceRecognizer, Gallery
from tests.pipeline_helpers import CollectSink, ScriptedSource


@pytest.fixture(scope="module")
def face(assets: Path) -> Path:
    if not (assets / "face").is_dir():
        pytest.skip("assets/face missing")
    return assets / "face"


def assert_closed(gallery: Gallery) -> None:
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        gallery._store.conn.execute("SELECT 1")


def test_the_pipeline_closes_the_recognizers_gallery(face: Path, tmp_path: Path) -> None:
    rec = FaceRecognizer(
        face / "detectors" / "face_detection_short_range.tflite",
        face / "embedders" / "mobilefacenet_uint8.tflite",
        tmp_path / "g.db",
    )
    assert rec.gallery is not None
    sink = CollectSink()
    Pipeline(ScriptedSource(2, live=False), rec, [sink]).run()
    assert len(sink.results) == 2
    assert_closed(rec.gallery)


class RecordingConfig(RunConfig):
    built: ClassVar[list[TaskAdapter]] = []

    def build_task(self) -> TaskAdapter:
        task = super().build_task()
        self.built.append(task)
        return task


def test_run_config_closes_the_task_when_the_source_cannot_be_opened(face: Path, tmp_path: Path) -> None:
    gallery = tmp_path / "g.db"
    Gallery(gallery).close()
    cfg = RecordingConfig(
        task="faces",  # type: ignore[arg-type]
        source=str(tmp_path / "missing.mp4"),
        sink=("jsonl:" + str(tmp_path / "out.jsonl"),),
        model=str(face / "detectors" / "face_detection_short_range.tflite"),
        embedder=str(face / "embedders" / "mobilefacenet_uint8.tflite"),
        gallery=str(gallery),
    )
    RecordingConfig.built.clear()
    with pytest.raises(SourceError, match="no such video file"):
        cfg.build()
    (task,) = RecordingConfig.built
    assert isinstance(task, FacesTask) and task.recognizer.gallery is not None
    assert_closed(task.recognizer.gallery)
