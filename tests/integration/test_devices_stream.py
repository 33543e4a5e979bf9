"""The stream source against a real MJPEG-over-HTTP server on 127.0.0.1."""

from __future__ import annotations

import itertools
import socket
import time

import numpy as np
import pytest

from devices.sources import ReconnectPolicy, SourceState, StateChange, open_source
from devices.sources.stream import StreamSource
from edge_sdk.errors import SourceError
from tests.mjpeg_server import MjpegServer, make_frames

FAST = ReconnectPolicy(
    initial_delay_s=0.05, factor=2.0, max_delay_s=0.2, read_timeout_s=1.0, open_timeout_s=3.0
)


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    return make_frames(8, (160, 120))


@pytest.fixture
def server(jpegs: list[bytes]):
    srv = MjpegServer(jpegs, fps=50).start()
    yield srv
    srv.stop()


def test_http_stream_frames(server: MjpegServer) -> None:
    with open_source(server.url, reconnect=FAST) as src:
        assert isinstance(src, StreamSource) and src.live
        assert src.info["size"] == (160, 120)
        got = []
        for f in src:
            got.append(f)
            if len(got) == 5:
                break
    assert src.state is SourceState.ENDED
    f = got[0]
    assert f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8
    # the server's frames are red (BGR channel 2 = 40 + 7k) with a green bar: RGB puts red first
    assert f.image[60, 150, 0] > 30 and f.image[60, 150, 2] < 15
    assert all(a.index < b.index for a, b in itertools.pairwise(got))
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(got))
    assert all(g.source == server.url for g in got)


def test_resize_option(server: MjpegServer) -> None:
    with open_source(server.url, size=(64, 48), reconnect=FAST) as src:
        assert next(iter(src)).image.shape == (48, 64, 3)


def test_slow_consumer_gets_the_newest_frame(server: MjpegServer) -> None:
    with open_source(server.url, reconnect=FAST) as src:
        it = iter(src)
        first = next(it)
        time.sleep(0.5)  # ~25 frames arrive meanwhile; only the newest is kept
        second = next(it)
    assert second.index - first.index > 5
    assert src.dropped >= second.index - first.index - 1
    assert second.timestamp - first.timestamp < 0.5 + FAST.read_timeout_s


def test_unreachable_stream_is_a_source_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match=rf"cannot open stream http://127.0.0.1:{port}/x"):
        open_source(f"http://127.0.0.1:{port}/x", reconnect=FAST)


def test_server_killed_and_restarted(server: MjpegServer) -> None:
    events: list[StateChange] = []

    def on_state(ev: StateChange) -> None:
        events.append(ev)
        if ev.state is SourceState.RECONNECTING and ev.attempt == 2:
            server.start()  # same port

    got = []
    with open_source(server.url, reconnect=FAST, on_state=on_state) as src:
        for f in src:
            got.append(f)
            if len(got) == 5:
                server.stop()  # mid-stream: every connection is cut
            if len(got) == 12:
                break
    states = [e.state for e in events]
    assert states[:3] == [SourceState.CONNECTED, SourceState.RECONNECTING, SourceState.RECONNECTING]
    back = events[states.index(SourceState.CONNECTED, 1)]
    assert back.gap_s is not None and back.gap_s > 0
    assert src.reconnects == 1 and src.last_gap_s == back.gap_s
    assert states[-1] is SourceState.ENDED
    assert len(got) == 12
    # the frames after the gap came after it, in order
    assert got[5].timestamp - got[4].timestamp >= back.gap_s - 1e-6


def test_stalled_stream_hits_the_read_timeout(server: MjpegServer) -> None:
    events: list[StateChange] = []

    def on_state(ev: StateChange) -> None:
        events.append(ev)
        if ev.state is SourceState.RECONNECTING:
            server.stall_after = None

    policy = ReconnectPolicy(initial_delay_s=0.05, max_delay_s=0.1, read_timeout_s=0.5, open_timeout_s=3.0)
    server.stall_after = 30  # then the socket stays open and silent
    got = 0
    with open_source(server.url, reconnect=policy, on_state=on_state) as src:
        for _ in src:
            got += 1
            if got == 40:
                break
    lost = next(e for e in events if e.state is SourceState.RECONNECTING)
    assert lost.error is not None
    assert src.reconnects == 1


def test_fails_cleanly_when_the_server_never_returns(server: MjpegServer) -> None:
    policy = ReconnectPolicy(
        initial_delay_s=0.02, max_delay_s=0.05, max_attempts=2, read_timeout_s=1.0, open_timeout_s=2
    )
    events: list[StateChange] = []
    with open_source(server.url, reconnect=policy, on_state=events.append) as src:
        for n, _ in enumerate(src, 1):
            if n == 3:
                server.stop()
    assert src.state is SourceState.FAILED
    assert [e.state for e in events][-1] is SourceState.FAILED


def test_close_from_another_thread_during_an_outage(server: MjpegServer) -> None:
    import threading

    # bounded: without close() it would end FAILED after ~3 s instead of ENDED
    policy = ReconnectPolicy(
        initial_delay_s=0.1, max_delay_s=0.1, max_attempts=30, read_timeout_s=1.0, open_timeout_s=3.0
    )
    src = open_source(server.url, reconnect=policy)
    it = iter(src)
    next(it)
    server.stop()  # the source now retries
    closer = threading.Timer(0.5, src.close)
    closer.start()
    rest = list(it)  # returns once closed, without raising
    closer.join()
    assert src.state is SourceState.ENDED
    assert len(rest) < 40
