"""Sinks without a network: JSON lines, video files, URI parsing, annotation."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.errors import OptionsError, SinkError
from edge_sdk.frame import Frame
from edge_sdk.pipeline.engine import Pipeline
from edge_sdk.pipeline.tasks import TaskKind, TaskResult
from edge_sdk.results import Category, Classification, Detections, Face
from edge_sdk.sinks import SinkContext, open_sink
from edge_sdk.sinks.annotate import annotate
from edge_sdk.sinks.jsonl import JsonlSink
from edge_sdk.sinks.mqtt import MqttSink, topic_part
from edge_sdk.sinks.preview import PreviewSink, parse_address
from edge_sdk.sinks.video import VideoSink
from tests.pipeline_helpers import RecordingTask, ScriptedSource, frame_image

CTX = SinkContext("cam/0", "classify", 10.0, True)


def results(n: int, size: tuple[int, int] = (96, 64)) -> list[TaskResult]:
    task = RecordingTask()
    return [task(Frame(frame_image(i, size), i, float(i), "clip.mp4")) for i in range(n)]


def test_jsonl_file_appends_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"earlier": true}\n')
    rs = results(3)
    with open_sink(f"jsonl:{path}", fsync=True) as sink:
        sink.open(CTX)
        for r in rs:
            sink.write(r)
        # flushed per line: readable before close
        assert len(path.read_text().splitlines()) == 4
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0] == {"earlier": True}
    assert lines[1:] == [r.record for r in rs]
    assert lines[1]["source"] == "clip.mp4" and lines[1]["frame"] == 0
    assert set(lines[1]) == {"source", "frame", "classes", "timing_ms"}


def test_jsonl_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    sink = open_sink("jsonl:-")
    for r in results(2):
        sink.write(r)
    sink.close()
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["frame"] for x in out] == [0, 1]


def test_jsonl_write_error_is_typed(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is needed to simulate a full disk")
    sink = JsonlSink("jsonl:/dev/full")
    with pytest.raises(SinkError, match="cannot write to /dev/full"):
        sink.write(results(1)[0])
    sink.close()  # lines are written unbuffered: nothing is left to fail at close
    sink.close()  # closing twice is a no-op


@pytest.mark.parametrize(
    ("uri", "options", "error", "message"),
    [
        ("stdout", {}, OptionsError, "a sink must be a URI"),
        ("kafka://broker/t", {}, OptionsError, "unknown sink 'kafka://broker/t'"),
        ("jsonl:", {}, OptionsError, "jsonl sink needs a path"),
        ("jsonl:/no/such/dir/x.jsonl", {}, OptionsError, "folder /no/such/dir does not exist"),
        ("jsonl:x.jsonl", {"fsync": "yes"}, OptionsError, "fsync must be true or false"),
        ("video:out.gif", {}, OptionsError, "expected a .avi, .m4v, .mkv, .mov, .mp4 file, got '.gif'"),
        ("video:", {}, OptionsError, "video sink needs a path"),
        ("video:out.mp4", {"fps": 0}, OptionsError, r"fps must be a number in \(0, 1000\]"),
        ("video:out.mp4", {"fourcc": "h264x"}, OptionsError, "fourcc must be 4 characters"),
        ("mqtt:///topic", {}, OptionsError, "expected mqtt://"),
        ("mqtt://broker", {}, OptionsError, "needs a topic"),
        ("mqtt://broker:99999/t", {}, OptionsError, "bad port"),
        ("mqtt://broker/t/{camera}", {}, OptionsError, r"unknown topic field\(s\) \{camera\}"),
        ("mqtt://broker/t?qos=3", {}, OptionsError, "qos must be 0, 1 or 2"),
        ("mqtt://broker/t?qos=high", {}, OptionsError, "qos must be a int"),
        ("mqtt://broker/t?colour=red", {}, OptionsError, "unknown mqtt option 'colour'"),
        ("mqtt://broker/t?qos=1", {"qos": 2}, OptionsError, "qos is given both in the URI"),
        ("mqtt://broker/t", {"queue": 0}, OptionsError, "queue and keepalive must be >= 1"),
        ("preview:http", {}, OptionsError, r"expected preview:\[host:\]port"),
        ("preview:70000", {}, OptionsError, "port in 0..65535"),
        ("preview:0", {"jpeg_quality": 0}, OptionsError, "jpeg_quality must be an integer in 1..100"),
    ],
)
def test_bad_sink_uris(uri: str, options: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        open_sink(uri, **options)


def test_mqtt_uri_parts() -> None:
    s = MqttSink("mqtts://ann:p%40ss@broker.local/edge/{host}/{task}/{source}?qos=1&retain=true")
    assert (s.host, s.port, s.tls, s.username, s.password) == ("broker.local", 8883, True, "ann", "p@ss")
    assert (s.qos, s.retain) == (1, True)
    assert s.topic_template == "edge/{host}/{task}/{source}"
    assert "p%40ss" not in s.uri and "p@ss" not in s.uri and "ann:***@broker.local" in s.uri
    plain = MqttSink("mqtt://10.0.0.2:1884/cams", qos=2)
    assert (plain.port, plain.tls, plain.username, plain.qos) == (1884, False, None, 2)
    assert topic_part("rtsp://cam.local:554/live stream") == "rtsp___cam.local_554_live_stream"
    assert topic_part("/dev/video0") == "dev_video0"


def test_preview_addresses() -> None:
    assert parse_address("preview:8080") == ("127.0.0.1", 8080)
    assert parse_address("preview:0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("preview:[::1]:9000") == ("::1", 9000)


def test_preview_port_in_use_fails_when_built() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SinkError, match=f"preview cannot listen on 127.0.0.1:{port}"):
            PreviewSink(f"preview:{port}")


def test_video_sink_writes_every_frame(tmp_path: Path) -> None:
    out = tmp_path / "annotated.mp4"
    src = ScriptedSource(12, live=False)
    stats = Pipeline(src, RecordingTask(), [f"video:{out}"]).run()
    assert stats.written == 12
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (96, 64)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)  # no source fps: the default
    decoded = 0
    while cap.read()[0]:
        decoded += 1
    assert decoded == 12


def test_video_sink_resizes_later_frames_and_uses_the_source_fps(tmp_path: Path) -> None:
    out = tmp_path / "mixed.avi"
    sink = VideoSink(f"video:{out}")
    sink.open(SinkContext("x", "classify", fps=30.0))
    for r in results(2, (96, 64)) + results(2, (48, 32)):
        sink.write(r)
    sink.close()
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 96


def test_annotate_draws_on_a_copy() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    frame = Frame(image, 0, 0.0, "x")
    dets = Detections(np.array([[20, 30, 100, 90]], np.float32), np.array([0.9]), np.array([3]), ("cat",))
    out = annotate(TaskResult(frame, TaskKind.DETECT, dets))
    assert out is not image and not image.any(), "the frame is untouched"
    assert out[60, 20].any() and out[60, 100].any(), "box edges drawn"
    assert not out[60, 60].any(), "inside the box untouched"
    face = Face(
        np.array([10, 10, 60, 70]), 0.8, np.array([[30, 40], [45, 40]]), identity="ann", similarity=0.7
    )
    out = annotate(TaskResult(frame, TaskKind.FACES, (face,)))
    assert out[40, 30].any() and out[70, 35].any()
    cls = Classification((Category(1, 0.9, "macaw"),))
    out = annotate(TaskResult(frame, TaskKind.CLASSIFY, cls))
    assert out[:20, :40].any() and not out[100:, 100:].any()
    assert annotate(TaskResult(frame, TaskKind.FACES, ())).shape == image.shape


def test_mqtt_without_paho_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sdk.errors import MissingDependencyError

    for name in ("paho", "paho.mqtt", "paho.mqtt.client"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    sink = MqttSink("mqtt://127.0.0.1/t")
    with pytest.raises(MissingDependencyError, match=r"pip install 'edge-sdk\[mqtt\]'"):
        sink.open(CTX)
