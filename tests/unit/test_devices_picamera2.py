"""The picamera2 source against a stand-in ``picamera2`` package (tests/fakes/picamera2)
that mirrors the real library's API, return shapes and byte order."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from devices.sources import ReconnectPolicy, SourceState, StateChange, open_source
from edge_sdk.errors import MissingDependencyError, OptionsError, SourceError

FAKES = Path(__file__).resolve().parents[1] / "fakes"
FAST = ReconnectPolicy(
    initial_delay_s=0.01, factor=2.0, max_delay_s=0.05, read_timeout_s=0.5, open_timeout_s=2.0
)


@pytest.fixture
def picam(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    import picamera2

    assert picamera2.__version__.endswith("+fake")
    picamera2.set_cameras(1)
    yield picamera2
    picamera2.set_cameras(1)
    sys.modules.pop("picamera2", None)


def test_fake_matches_documented_rgb888_layout(picam) -> None:
    cam = picam.Picamera2(0)
    cam.configure(cam.create_preview_configuration(main={"size": (96, 64), "format": "RGB888"}))
    cam.start()
    arr = cam.capture_array("main")
    cam.close()
    assert arr.shape == (64, 96, 3) and arr.dtype == np.uint8
    # RGB888 stores each pixel as [B, G, R]: the red third of the scene has its 230 in byte 2.
    assert tuple(arr[40, 5]) == (10, 20, 230)


@pytest.mark.parametrize("uri", ["picamera2:0", "csi://0"])
def test_frames_are_rgb_at_requested_size(picam, uri: str) -> None:
    with open_source(uri, size=(96, 64)) as src:
        assert src.live and src.state is SourceState.CONNECTED
        frames = []
        for f in src:
            frames.append(f)
            if len(frames) == 3:
                break
    f = frames[0]
    assert f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8
    assert tuple(f.image[40, 5]) == (230, 20, 10)  # red third reads red
    assert tuple(f.image[40, 40]) == (15, 220, 25)
    assert tuple(f.image[40, 90]) == (5, 30, 240)
    assert f.source == uri
    assert [g.index for g in frames] == sorted({g.index for g in frames})
    assert all(a.timestamp <= b.timestamp for a, b in itertools.pairwise(frames))
    cam = picam.Picamera2.instances[0]
    assert cam.camera_config["main"]["format"] == "RGB888"
    assert cam.camera_config["main"]["size"] == (96, 64)
    assert cam.closed_calls == 1 and not cam.started


def test_granted_size_is_reported(picam) -> None:
    with open_source("picamera2:0", size=(97, 65), fps=15) as src:
        assert src.info["size"] == (96, 64)
        assert src.info["model"] == "imx708"
        f = next(iter(src))
        assert f.image.shape == (64, 96, 3)
    cfg = picam.Picamera2.instances[0].camera_config
    assert cfg["controls"]["FrameDurationLimits"] == (66667, 66667)


def test_missing_camera_is_a_source_error(picam) -> None:
    with pytest.raises(SourceError, match=r"picamera2:3.*Camera __init__ sequence did not complete"):
        open_source("picamera2:3")


@pytest.mark.parametrize(
    ("uri", "options", "error"),
    [
        ("picamera2:x", {}, OptionsError),
        ("picamera2:0", {"size": (0, 10)}, OptionsError),
        ("picamera2:0", {"fps": -1}, OptionsError),
        ("picamera2:0", {"exposure": 3}, OptionsError),
    ],
)
def test_bad_options(picam, uri: str, options: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_source(uri, **options)


def test_missing_library_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 -> ImportError
    with pytest.raises(MissingDependencyError, match="picamera2"):
        open_source("picamera2:0")


def test_released_when_the_consumer_raises(picam) -> None:
    with pytest.raises(ZeroDivisionError), open_source("picamera2:0", size=(32, 32)) as src:
        for _ in src:
            1 / 0  # noqa: B018
    assert [c.closed_calls for c in picam.Picamera2.instances] == [1]
    assert src.state is SourceState.ENDED


def test_unplug_then_replug_reconnects(picam) -> None:
    events: list[StateChange] = []

    def on_state(ev: StateChange) -> None:
        events.append(ev)
        if ev.state is SourceState.RECONNECTING and ev.attempt == 3:
            picam.replug(0)

    got = []
    with open_source("picamera2:0", size=(32, 32), reconnect=FAST, on_state=on_state) as src:
        for f in src:
            got.append(f)
            if len(got) == 5:
                picam.unplug(0)
            if len(got) == 10:
                break
    states = [e.state for e in events]
    assert states[0] is SourceState.CONNECTED
    assert states[1:4] == [SourceState.RECONNECTING] * 3
    assert states[4] is SourceState.CONNECTED and events[4].gap_s is not None and events[4].gap_s > 0
    assert states[-1] is SourceState.ENDED
    assert "timed out" in (events[1].error or "")
    assert src.reconnects == 1 and src.last_gap_s == events[4].gap_s
    assert len(got) == 10 and all(g.image.shape == (32, 32, 3) for g in got)
    assert all(a.index < b.index for a, b in itertools.pairwise(got))
    # every Picamera2 opened was closed: the unplugged one and the one after the replug
    assert all(c.closed_calls == 1 for c in picam.Picamera2.instances)
    assert len(picam.Picamera2.instances) == 2


def test_gives_up_after_max_attempts_without_raising(picam) -> None:
    events: list[StateChange] = []
    policy = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.02, max_attempts=3, read_timeout_s=0.5)
    with open_source("picamera2:0", size=(32, 32), reconnect=policy, on_state=events.append) as src:
        for n, _ in enumerate(src, 1):
            if n == 2:
                picam.unplug(0)
    assert src.state is SourceState.FAILED
    assert [e.state for e in events][-1] is SourceState.FAILED
    assert [e.attempt for e in events if e.state is SourceState.RECONNECTING] == [1, 2, 3]
    assert all(c.closed_calls == 1 for c in picam.Picamera2.instances)


def test_a_read_that_never_returns_times_out(picam) -> None:
    events: list[StateChange] = []

    def on_state(ev: StateChange) -> None:
        events.append(ev)
        if ev.state is SourceState.RECONNECTING and ev.attempt == 2:
            picam.replug(0)  # the stuck read returns; its camera is released, the next open works

    policy = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05, read_timeout_s=0.3, open_timeout_s=2)
    got = 0
    with open_source("picamera2:0", size=(32, 32), reconnect=policy, on_state=on_state) as src:
        for _ in src:
            got += 1
            if got == 3:
                picam.hang(0)
            if got == 6:
                break
    assert "read timeout" in (events[1].error or "")
    assert SourceState.CONNECTED in [e.state for e in events[2:]]
    assert src.reconnects == 1
