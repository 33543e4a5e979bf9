"""The pipeline on a real live source: an MJPEG stream over HTTP on 127.0.0.1 read by the
stream backend (``Source.live`` is true), with a task slower than the stream."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_sdk.frame import Frame
from edge_sdk.pipeline.engine import Pipeline
from edge_sdk.pipeline.tasks import TaskResult
from tests.mjpeg_server import MjpegServer, make_frames
from tests.pipeline_helpers import CollectSink, RecordingTask


@pytest.fixture
def stream() -> Iterator[MjpegServer]:
    srv = MjpegServer(make_frames(20, (160, 120)), fps=100).start()
    yield srv
    srv.stop()


def test_a_slow_task_on_a_live_stream_drops_the_oldest(stream: MjpegServer) -> None:
    from devices.sources import open_source

    src = open_source(stream.url)
    assert src.live
    captured_enough = threading.Event()

    class Slow(RecordingTask):
        def __call__(self, frame: Frame) -> TaskResult:
            if not self.seen:  # hold the first frame until capture ran 12 frames ahead
                assert captured_enough.wait(30)
            return super().__call__(frame)

    sink = CollectSink()

    task = Slow()
    pipeline = Pipeline(src, task, [sink], queue_size=2, max_frames=30)
    pipeline.start()
    while not pipeline.wait(timeout=0.05):
        if pipeline.stats.captured >= 12:
            captured_enough.set()
    s = pipeline.stats
    assert s.captured == 30
    assert s.dropped >= 12 - 1 - 2 - 1, s.as_dict()  # all but the held frame and a full queue
    assert s.processed + s.dropped == s.captured
    seen = [r.frame.index for r in sink.results]
    assert seen == sorted(set(seen)) and seen == task.seen
    assert src.state.value == "ended"


def test_sigterm_stops_a_live_run(stream: MjpegServer, assets: Path) -> None:
    model = assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_sdk", "run", "-t", "classify", "-m", str(model), "-s", stream.url, "--sink", "jsonl:-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline must not pull lines that communicate() then never sees
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["source"] == stream.url
        proc.send_signal(signal.SIGTERM)
        out_b, err_b = proc.communicate(timeout=60)
        rest, err = out_b.decode(), err_b.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    frames = [first["frame"]] + [json.loads(x)["frame"] for x in rest.splitlines()]
    assert frames == sorted(set(frames))
    assert "SIGTERM: stopping" in err and "frame(s) processed" in err
