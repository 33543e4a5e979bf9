"""The capture thread of a live source: one per connection, owning its device handle.

- The thread opens the device, reads frames in a loop and releases the handle when it stops.
  No other thread ever touches the handle, so a read that never returns cannot race with
  ``release()``.
- It keeps only the newest frame (older unread frames are counted in ``overwritten``), so a
  slow consumer sees current frames and no backlog builds up. Frames are converted to RGB by
  the consumer when it takes them (:meth:`Capture.to_rgb`), so dropped frames cost no
  conversion.
- Failures (opening, reading, end of stream) are recorded in ``error`` / ``lost`` and wake
  the consumer; they never raise in the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)


class Capture(Protocol):
    """One open connection to a device. ``read`` and ``release`` are called only by its
    reader thread; ``to_rgb`` by the consumer, only for frames it actually takes (frames
    dropped to stay current are never converted), and it must not touch the device."""

    def read(self) -> np.ndarray | None:
        """Block until the next frame; return it as the device delivers it (e.g. BGR), or
        None when the device or stream has gone (an exception means the same)."""

    def to_rgb(self, raw: np.ndarray) -> np.ndarray:
        """Convert a frame from :meth:`read` to ``(H, W, 3)`` RGB uint8."""

    def release(self) -> None:
        """Release the device. Called once, from the reader thread."""


class CaptureThread(threading.Thread):
    """One connection: opens the device, reads into the newest-frame slot, releases.

    ``opener`` runs in this thread and returns the :class:`Capture`; any exception it raises
    is kept in :attr:`error` (as one line), never raised. :attr:`cond` guards every attribute
    the consumer reads."""

    def __init__(self, opener: Callable[[], Capture], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._opener = opener
        self.stop_event = threading.Event()
        self.cond = threading.Condition()
        self.opened = False
        self.done = False  # the thread has finished (device released)
        self.lost = False  # no more frames will come from this connection
        self.error: str | None = None
        self.open_exception: BaseException | None = None  # what the opener raised, if it failed
        self.info: Any = None
        self.to_rgb: Callable[[np.ndarray], np.ndarray] = _identity
        self.newest: tuple[np.ndarray, float] | None = None
        self.captured = 0
        self.overwritten = 0

    def run(self) -> None:
        try:
            cap = self._opener()
        except Exception as exc:  # any failure to open is reported, never raised in a thread
            with self.cond:
                self.error = describe_error(exc)
                self.open_exception = exc
                self.done = True
                self.cond.notify_all()
            return
        with self.cond:
            self.opened = True
            self.info = getattr(cap, "info", None)
            self.to_rgb = cap.to_rgb
            self.cond.notify_all()
        try:
            while not self.stop_event.is_set():
                image = cap.read()
                if image is None:
                    with self.cond:
                        self.error = "the device stopped delivering frames (read failed or stream ended)"
                        self.lost = True
                        self.cond.notify_all()  # tell the consumer now; releasing can take a while
                    break
                now = time.monotonic()
                with self.cond:
                    if self.newest is not None:
                        self.overwritten += 1
                    self.newest = (image, now)
                    self.captured += 1
                    self.cond.notify_all()
        except Exception as exc:
            with self.cond:
                self.error = describe_error(exc)
                self.lost = True
                self.cond.notify_all()
        finally:
            try:
                cap.release()
            except Exception as exc:
                log.warning("releasing %s failed: %s", self.name, describe_error(exc))
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def wait_open(self, timeout: float, closed: threading.Event | None = None) -> bool:
        """Wait until opened (True) or failed, timed out or closed (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.opened and not self.done:
                if closed is not None and closed.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    self.error = self.error or f"opening took longer than {timeout:g} s"
                    return False
                self.cond.wait(min(left, 0.1))
            return self.opened

    def take(self, timeout: float, closed: threading.Event) -> tuple[np.ndarray, float] | None:
        """The newest unread frame, waiting up to ``timeout``; None when lost or timed out."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.newest is None:
                if self.done or self.lost or closed.is_set():
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    self.error = f"no frame for {timeout:g} s (read timeout)"
                    return None
                self.cond.wait(min(left, 0.25))
            item, self.newest = self.newest, None
            return item


def _identity(raw: np.ndarray) -> np.ndarray:
    return raw


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
