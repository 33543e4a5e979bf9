"""RunConfig: the keys of ``edge-sdk run`` config files, checked when built."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.pipeline.config import RunConfig
from edge_sdk.pipeline.tasks import TaskKind
from edge_sdk.sinks.jsonl import JsonlSink
from edge_sdk.sinks.preview import PreviewSink

BASE: dict[str, Any] = {"task": "classify", "model": "m.tflite", "source": "clip.mp4", "sink": "jsonl:-"}


def test_minimal_config_and_defaults() -> None:
    c = RunConfig.from_dict(BASE)
    assert c.task is TaskKind.CLASSIFY and c.sink == ("jsonl:-",)
    opts = c.pipeline_options()
    assert (opts.queue_size, opts.max_frames, opts.duration_s, opts.drop_oldest) == (2, None, None, None)


def test_file_with_overrides_and_sink_objects(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(
        json.dumps({**BASE, "sink": ["jsonl:-", {"uri": "preview:0", "jpeg_quality": 50}], "max_frames": 9})
    )
    c = RunConfig.from_file(path, {"max_frames": 3, "duration": None})
    assert c.max_frames == 3 and c.duration is None
    sinks = c.build_sinks()
    try:
        assert isinstance(sinks[0], JsonlSink) and isinstance(sinks[1], PreviewSink)
        assert sinks[1].jpeg_quality == 50
    finally:
        for s in sinks:
            s.close()


def test_a_failing_sink_closes_the_ones_already_built() -> None:
    c = RunConfig.from_dict({**BASE, "sink": ["preview:0", "video:out.gif"]})
    before = {t for t in threading.enumerate() if t.name == "edge-sdk-preview"}
    with pytest.raises(OptionsError, match=r"got '\.gif'"):
        c.build_sinks()
    after = {t for t in threading.enumerate() if t.name == "edge-sdk-preview" and t.is_alive()}
    assert after <= before, "the preview server built first was shut down"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "depth"}, "task must be one of classify, detect, faces, segment, pose, got 'depth'"),
        ({"source": ""}, "missing config key"),
        ({"sink": []}, "missing config key"),
        ({"sink": [{"qos": 1}]}, 'a sink object needs a "uri" string'),
        ({"sink": [3]}, "a sink must be a URI or an object with a uri"),
        ({"model": None}, "task classify needs a model"),
        ({"iou": 0.5}, r"option\(s\) iou do not apply to task classify"),
        ({"gallery": "g.db", "embedder": "e.tflite"}, r"option\(s\) embedder, gallery do not apply"),
        ({"top_k": 0}, r"top_k must be an integer in \[1, "),
        ({"threshold": 1.5}, r"threshold must be a number in \[0, 1\]"),
        ({"threads": 2.5}, "threads must be an integer"),
        ({"resize": "fit"}, "resize must be stretch, letterbox or center_crop"),
        ({"duration": 0}, "duration_s must be a number of seconds > 0"),
        ({"queue_size": 0}, "queue_size must be an integer >= 1"),
        ({"strict": "yes"}, "strict must be true or false"),
        ({"colour": "red"}, r"unknown config key\(s\) colour"),
    ],
)
def test_bad_configs(change: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        RunConfig.from_dict({**BASE, **change})


def test_faces_takes_a_cosine_threshold_and_no_model() -> None:
    c = RunConfig.from_dict({"task": "faces", "source": "usb:0", "sink": "jsonl:-", "threshold": -0.2})
    assert c.model is None and c.threshold == -0.2
    with pytest.raises(OptionsError, match="do not apply to task faces"):
        RunConfig.from_dict({"task": "faces", "source": "usb:0", "sink": "jsonl:-", "top_k": 1})


@pytest.mark.parametrize("text", ["[1, 2]", "{task"])
def test_bad_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(OptionsError, match=f"config {path}"):
        RunConfig.from_file(path)


@pytest.mark.parametrize("sink", [-1569326, 4.8e15, True])
def test_a_sink_that_is_not_a_uri_or_a_list_is_an_options_error(sink: Any, tmp_path: Path) -> None:
    """Found by ci/fuzz_long.py: a number as the sink was an untyped TypeError."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"task": "classify", "model": "m.tflite", "source": "images/", "sink": sink}))
    with pytest.raises(
        OptionsError, match=r"sink must be a URI, an object with a uri, or a list of them, got"
    ):
        RunConfig.from_file(path)
