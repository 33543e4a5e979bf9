"""The sd_notify protocol over a real Unix datagram socket: READY once, WATCHDOG only while
frames flow (a hung invoke stops it), STATUS lines, STOPPING at the end."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.frame import Frame
from edge_sdk.pipeline import Pipeline
from edge_sdk.pipeline.service_options import ServiceOptions
from edge_sdk.pipeline.tasks import TaskResult
from edge_sdk.service.monitor import ServiceMonitor, file_sha256
from edge_sdk.service.notify import Notifier
from tests.notify_socket import NotifySocket
from tests.pipeline_helpers import RecordingTask, ScriptedSource


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, NotifySocket]]:
    path = str(tmp_path / "notify.sock")
    s = NotifySocket(path)
    yield path, s
    s.close()


class HangingTask(RecordingTask):
    """Runs normally until frame ``hang_at``, then blocks in the 'invoke' until released."""

    def __init__(self, hang_at: int) -> None:
        super().__init__()
        self.hang_at = hang_at
        self.release = threading.Event()
        self.hanging = threading.Event()

    def __call__(self, frame: Frame) -> TaskResult:
        if frame.index == self.hang_at:
            self.hanging.set()
            self.release.wait(30)
        return super().__call__(frame)


def stalled(m: dict[str, str]) -> bool:
    return m.get("STATUS", "").startswith("stalled")


def test_watchdog_only_while_frames_flow_and_stops_when_invoke_hangs(
    notify_socket: tuple[str, NotifySocket],
) -> None:
    path, sock = notify_socket
    notifier = Notifier(path, environ={"WATCHDOG_USEC": "200000"})  # 0.2 s: ticks every 0.1 s
    assert notifier.watchdog_s == pytest.approx(0.2)
    monitor = ServiceMonitor(ServiceOptions(host="t"), notifier)
    task = HangingTask(hang_at=30)
    source = ScriptedSource(60, live=False)
    pipe = Pipeline(source, task, [monitor], queue_size=1)
    monitor.attach(pipe)
    pipe.start()
    try:
        msgs = sock.wait(lambda ms: len(ms) >= 1)
        assert msgs[0]["READY"] == "1"
        assert task.hanging.wait(20)
        # the invoke hangs: after two stalled ticks, no more WATCHDOG=1 until it is released
        msgs = sock.wait(lambda ms: sum(stalled(m) for m in ms) >= 2)
        n = len(msgs)
        msgs = sock.wait(lambda ms: sum(stalled(m) for m in ms[n:]) >= 5)
        assert not any("WATCHDOG" in m for m in msgs[n:]), msgs[n:]
        assert "no frame for" in msgs[-1]["STATUS"]
        task.release.set()
        pipe.wait(30)
    finally:
        task.release.set()
        pipe.stop()
        pipe.wait(30)
    msgs = sock.wait(lambda ms: "STOPPING" in ms[-1])
    assert sum(m.get("READY") == "1" for m in msgs) == 1
    assert task.seen == list(range(60))
    pings = [i for i, m in enumerate(msgs) if m.get("WATCHDOG") == "1"]
    assert pings and pings[0] < n, "WATCHDOG=1 was sent while frames flowed"
    flowing = [m["STATUS"] for m in msgs if m.get("WATCHDOG") == "1"]
    assert all(" fps, " in s and "dropped" in s for s in flowing), flowing


def test_abstract_socket_and_no_socket(tmp_path: Path) -> None:
    name = f"@edge-sdk-test-{uuid.uuid4().hex}"
    sock = NotifySocket(name)
    try:
        n = Notifier(environ={"NOTIFY_SOCKET": name})
        assert n.notify(READY=1, STATUS="two\nlines")
        assert sock.wait(lambda ms: len(ms) == 1) == [{"READY": "1", "STATUS": "two lines"}]
        n.close()
    finally:
        sock.close()
    off = Notifier(environ={})
    assert not off.enabled and not off.notify(READY=1) and off.watchdog_s is None


@pytest.mark.parametrize(
    ("env", "watchdog"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # another process's watchdog
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
    ],
)
def test_watchdog_period(env: dict[str, str], watchdog: float | None) -> None:
    assert Notifier("x", environ=env).watchdog_s == watchdog


@pytest.mark.parametrize("usec", ["0", "-5", "ten"])
def test_bad_watchdog_usec(usec: str) -> None:
    with pytest.raises(OptionsError, match="WATCHDOG_USEC must be a positive integer"):
        Notifier("x", environ={"WATCHDOG_USEC": usec})


def test_an_unreachable_socket_never_raises(tmp_path: Path) -> None:
    n = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert n.notify(READY=1) is False


def test_heartbeat_payload_fields(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"abc")
    monitor = ServiceMonitor(ServiceOptions(host="t"), Notifier(environ={}), model=str(model), tick_s=0.05)
    assert monitor.model_sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_sha256(tmp_path / "missing") is None
    source = ScriptedSource(5, live=False)
    pipe = Pipeline(source, RecordingTask(), [monitor])
    monitor.attach(pipe)
    pipe.run()
    for i in range(3):
        monitor._latency.append(float(i + 1))
    hb = monitor.heartbeat_payload(12.5)
    assert hb["fps"] == 12.5 and hb["latency_ms"] == {"p50": 2.0, "p95": 2.9}
    assert hb["frames"]["processed"] == 5 and hb["frames"]["dropped"] == 0
    assert hb["model"] == {"path": str(model), "sha256": monitor.model_sha256, "task": "classify"}
    assert hb["source"]["uri"] == "scripted:0" and hb["host"] == "t"
    assert set(hb) >= {"ts", "uptime_s", "cpu_temp_c", "load"}
    assert hb["load"] is None or len(hb["load"]) == 3
    assert time.time() - hb["ts"] < 600
