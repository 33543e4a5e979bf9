"""The pieces of a live source on their own: the backoff policy and the capture thread
(driven by a scripted Capture; the camera and stream tests drive them through real backends)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from devices.sources.capture_thread import CaptureThread, describe_error
from devices.sources.reconnect import ReconnectPolicy
from edge_sdk.errors import OptionsError


def test_backoff_doubles_up_to_the_cap() -> None:
    p = ReconnectPolicy(initial_delay_s=0.5, factor=2.0, max_delay_s=3.0)
    assert [p.delay(a) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert ReconnectPolicy(initial_delay_s=1.0, factor=1.0).delay(10) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"initial_delay_s": -1.0}, "initial_delay_s"),
        ({"read_timeout_s": 0.0}, "read_timeout_s"),
        ({"factor": 0.5}, "factor"),
        ({"initial_delay_s": 5.0, "max_delay_s": 1.0}, "max_delay_s"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_policy_is_rejected(kwargs: dict, match: str) -> None:
    with pytest.raises(OptionsError, match=match):
        ReconnectPolicy(**kwargs)


class ScriptedCapture:
    """Delivers ``frames`` then reports the end (None), or raises ``fail`` instead of the end."""

    def __init__(self, frames: list[np.ndarray], fail: Exception | None = None) -> None:
        self.frames = list(frames)
        self.fail = fail
        self.released_by: list[str] = []

    def read(self) -> np.ndarray | None:
        if self.frames:
            return self.frames.pop(0)
        if self.fail is not None:
            raise self.fail
        return None

    def to_rgb(self, raw: np.ndarray) -> np.ndarray:
        return raw[..., ::-1]

    def release(self) -> None:
        self.released_by.append(threading.current_thread().name)


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((2, 3, 3), i, np.uint8) for i in range(n)]


def test_keeps_the_newest_frame_and_counts_the_overwritten_ones() -> None:
    cap = ScriptedCapture(_frames(5))
    t = CaptureThread(lambda: cap, "cap-1")
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert t.opened and t.done and t.lost and "stopped delivering" in (t.error or "")
    assert t.captured == 5 and t.overwritten == 4
    assert cap.released_by == ["cap-1"]  # released once, by the thread that owned the device
    closed = threading.Event()
    item = t.take(1.0, closed)
    assert item is not None and int(item[0][0, 0, 0]) == 4  # the newest, not the oldest
    assert t.take(1.0, closed) is None  # lost: no waiting for frames that will not come
    assert t.to_rgb(item[0]).shape == (2, 3, 3)


def test_a_failing_open_is_reported_not_raised() -> None:
    def opener() -> ScriptedCapture:
        raise ValueError("no such device\nsecond line")

    t = CaptureThread(opener, "cap-2")
    t.start()
    assert t.wait_open(10.0) is False
    t.join(10)
    assert t.error == "ValueError: no such device" and t.done and not t.opened


def test_a_failing_read_marks_the_connection_lost_and_still_releases() -> None:
    cap = ScriptedCapture(_frames(1), fail=OSError("unplugged"))
    t = CaptureThread(lambda: cap, "cap-3")
    t.start()
    t.join(10)
    assert t.lost and t.error == "OSError: unplugged" and cap.released_by == ["cap-3"]


def test_describe_error() -> None:
    assert describe_error(RuntimeError("")) == "RuntimeError"
    assert describe_error(KeyError("k")) == "KeyError: 'k'"
