"""The V4L2 source. No camera here: a missing device goes through real OpenCV, and the
capture loop runs against a stand-in for ``cv2.VideoCapture`` (the library boundary) that
behaves like OpenCV's V4L2 backend: it grants the nearest mode it has, not the one asked for,
and read() returns (False, None) once the camera is unplugged."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest

from devices.sources import ReconnectPolicy, SourceState, StateChange, open_source
from devices.sources.v4l2 import V4l2Source, device_path, fourcc_text
from edge_sdk.errors import OptionsError, SourceError

FAST = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05, read_timeout_s=0.5, open_timeout_s=2)


class FakeV4l2Capture:
    """cv2.VideoCapture as the V4L2 backend of a 320x240/640x480 MJPG/YUYV webcam."""

    plugged = threading.Event()
    opened: ClassVar[list[FakeV4l2Capture]] = []
    MODES = ((320, 240), (640, 480))

    def __init__(self, path: str, api: int = cv2.CAP_ANY) -> None:
        self.path, self.api = path, api
        self.props: dict[int, float] = {
            cv2.CAP_PROP_FRAME_WIDTH: 640,
            cv2.CAP_PROP_FRAME_HEIGHT: 480,
            cv2.CAP_PROP_FPS: 30.0,
            cv2.CAP_PROP_FOURCC: cv2.VideoWriter.fourcc(*"YUYV"),
        }
        self.sets: list[tuple[int, float]] = []
        self.open = self.plugged.is_set() and path == "/dev/video0" and api == cv2.CAP_V4L2
        self.released = False
        FakeV4l2Capture.opened.append(self)

    def isOpened(self) -> bool:
        return self.open

    def set(self, prop: int, value: float) -> bool:
        self.sets.append((prop, value))
        if prop == cv2.CAP_PROP_FRAME_WIDTH:  # nearest supported mode
            w = min(self.MODES, key=lambda m: abs(m[0] - value))
            self.props[cv2.CAP_PROP_FRAME_WIDTH], self.props[cv2.CAP_PROP_FRAME_HEIGHT] = w
        elif prop == cv2.CAP_PROP_FPS:
            self.props[prop] = min(float(value), 30.0)
        elif prop == cv2.CAP_PROP_FOURCC and value in (
            cv2.VideoWriter.fourcc(*"MJPG"),
            cv2.VideoWriter.fourcc(*"YUYV"),
        ):
            self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return float(self.props.get(prop, 0.0))

    def read(self) -> tuple[bool, Any]:
        if not self.open or not self.plugged.is_set():
            return False, None
        w, h = int(self.props[cv2.CAP_PROP_FRAME_WIDTH]), int(self.props[cv2.CAP_PROP_FRAME_HEIGHT])
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[..., 0] = 255  # blue
        return True, bgr

    def release(self) -> None:
        self.released = True
        self.open = False


@pytest.fixture
def webcam(monkeypatch: pytest.MonkeyPatch):
    FakeV4l2Capture.opened.clear()
    FakeV4l2Capture.plugged.set()
    monkeypatch.setattr(cv2, "VideoCapture", FakeV4l2Capture)
    return FakeV4l2Capture


def test_missing_device_through_real_opencv() -> None:
    with pytest.raises(SourceError, match=r"cannot open camera /dev/video99"):
        open_source("/dev/video99", reconnect=FAST)


@pytest.mark.parametrize(
    ("uri", "path"), [("/dev/video0", "/dev/video0"), ("usb:2", "/dev/video2"), ("USB:10", "/dev/video10")]
)
def test_device_path(uri: str, path: str) -> None:
    assert device_path(uri) == path


def test_fourcc_text() -> None:
    assert fourcc_text(cv2.VideoWriter.fourcc(*"MJPG")) == "MJPG"


@pytest.mark.parametrize("uri", ["/dev/video0", "usb:0"])
def test_requests_mjpg_size_fps_and_reports_what_was_granted(webcam, uri: str) -> None:
    with open_source(uri, size=(352, 288), fps=60, reconnect=FAST) as src:
        assert isinstance(src, V4l2Source)
        f = next(iter(src))
    cap = webcam.opened[0]
    props = [p for p, _ in cap.sets]
    assert (
        props.index(cv2.CAP_PROP_FOURCC)
        < props.index(cv2.CAP_PROP_FRAME_WIDTH)
        < props.index(cv2.CAP_PROP_FPS)
    )
    assert (cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG")) in cap.sets
    assert src.info["size"] == (320, 240) and src.info["fps"] == 30.0 and src.info["fourcc"] == "MJPG"
    assert src.info["requested"] == {"size": (352, 288), "fps": 60.0, "fourcc": "MJPG"}
    assert f.image.shape == (240, 320, 3)
    assert tuple(f.image[0, 0]) == (0, 0, 255)  # BGR blue -> RGB blue
    assert cap.released


def test_unplugged_camera_comes_back(webcam) -> None:
    events: list[StateChange] = []

    def on_state(ev: StateChange) -> None:
        events.append(ev)
        if ev.state is SourceState.RECONNECTING and ev.attempt == 2:
            webcam.plugged.set()

    n = 0
    with open_source("usb:0", reconnect=FAST, on_state=on_state) as src:
        for _ in src:
            n += 1
            if n == 3:
                webcam.plugged.clear()
            if n == 6:
                break
    assert [e.state for e in events][:3] == [
        SourceState.CONNECTED,
        SourceState.RECONNECTING,
        SourceState.RECONNECTING,
    ]
    assert src.reconnects == 1 and src.last_gap_s is not None
    assert all(c.released for c in webcam.opened)


def test_bad_fourcc() -> None:
    with pytest.raises(OptionsError, match="fourcc"):
        open_source("/dev/video0", fourcc="MJPEG")
