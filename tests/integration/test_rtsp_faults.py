"""RTSP, the protocol of IP cameras, against a real server (issue 17, "Proof" 2).

GStreamer's RTSP server (:mod:`tests.rtsp_server`, run by the system Python) serves an
MPEG-4 file on loopback. ``edge-sdk run`` reads it; the server is SIGKILLed mid-stream and
started again on the same port, and the run must carry on by itself. A wrong path and a
refused connection must each give their own typed error (library) and one clear error line
(CLI). Skipped with the reason when the Debian packages are missing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.sources import ReconnectPolicy, open_source
from edge_sdk.errors import StreamNotFoundError, StreamRefusedError
from tests.mosquitto_broker import free_port
from tests.pipeline_helpers import write_video
from tests.rtsp_server import RtspServer, rtsp_server_available

MODEL = "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = rtsp_server_available()
    if why:
        pytest.skip(why)
    # 60 s at 15 fps: longer than any test, so the file never ends mid-test
    return write_video(tmp_path_factory.mktemp("rtsp") / "clip.mp4", 900, (160, 120), fps=15)


@pytest.fixture
def server(video: Path) -> Iterator[RtspServer]:
    srv = RtspServer(video, free_port()).start()
    yield srv
    srv.stop()


class _Lines(threading.Thread):
    """Collects a pipe's lines with their arrival times."""

    def __init__(self, pipe: object) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines: list[tuple[float, str]] = []

    def run(self) -> None:
        for line in self.pipe:  # type: ignore[attr-defined]
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, predicate: object, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in list(self.lines):
                if predicate(line):  # type: ignore[operator]
                    return t
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout} s; lines: {[x for _, x in self.lines][-20:]}")


def _run_cli(assets: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_sdk", "run", "-t", "classify", "-m", str(assets / MODEL), "-s", url,
         "--sink", "jsonl:-", "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_rtsp_server_killed_and_restarted_run_recovers(server: RtspServer, assets: Path) -> None:
    proc = _run_cli(assets, server.url)
    out, err = _Lines(proc.stdout), _Lines(proc.stderr)
    out.start()
    err.start()
    try:
        out.wait_for(lambda _: len(out.lines) >= 10, 60)
        server.kill()  # the camera loses power
        killed_at = time.monotonic()
        err.wait_for(lambda line: "lost" in line and "reconnecting" in line, 30)
        before = len(out.lines)
        server.start()  # ... and comes back on the same address
        err.wait_for(lambda line: "reconnected after a gap" in line, 60)
        out.wait_for(lambda _: len(out.lines) >= before + 10, 60)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.join(5)
    err.join(5)
    stderr = "\n".join(x for _, x in err.lines)
    assert proc.returncode == 0, stderr
    records = [json.loads(x) for _, x in out.lines]
    assert all(r["source"] == server.url and r["classes"] for r in records), records[:2]
    frames = [r["frame"] for r in records]
    assert frames == sorted(set(frames))  # in order, none twice, across the outage
    after = [t for t, _ in out.lines if t > killed_at]
    assert len(after) >= 10 and len(records) - len(after) >= 10
    assert "frame(s) processed" in stderr


def test_wrong_rtsp_path_is_stream_not_found(server: RtspServer, assets: Path) -> None:
    url = server.url.replace("/stream", "/no-such-stream")
    with pytest.raises(StreamNotFoundError, match=r"no stream at path '/no-such-stream' \(404 Not Found\)"):
        open_source(url, reconnect=ReconnectPolicy(open_timeout_s=10))
    proc = _run_cli(assets, url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("edge-sdk: error: cannot open stream") and "404 Not Found" in lines[-1], err


def test_refused_rtsp_connection_is_stream_refused(assets: Path) -> None:
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/stream"
    with pytest.raises(StreamRefusedError, match=r"connection refused by 127\.0\.0\.1:\d+") as info:
        open_source(url, reconnect=ReconnectPolicy(open_timeout_s=10))
    assert "s3cret" not in str(info.value)
    proc = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "run", "-t", "classify", "-m", str(assets / MODEL), "-s", url,
         "--sink", "jsonl:-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "connection refused by 127.0.0.1" in proc.stderr.strip().splitlines()[-1]
    assert "s3cret" not in proc.stderr + proc.stdout
