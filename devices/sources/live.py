"""Live sources (cameras, streams) that survive faults: a reader thread per connection,
newest-frame delivery, read timeouts, and reconnection with capped exponential backoff.

The pieces: :mod:`devices.sources.capture_thread` (one thread per connection, newest-frame
slot), :mod:`devices.sources.reconnect` (the backoff policy and state changes) and
:class:`LiveSource` here, which hands out frames and runs the reconnection loop.

How it works:

- Each connection is one daemon thread that owns its device handle exclusively: it opens the
  device, reads frames in a loop and releases the handle when it stops. No other thread ever
  touches the handle, so a read that never returns cannot race with ``release()``.
- The reader keeps only the newest frame (older unread frames are counted in ``dropped``), so
  a slow consumer sees current frames and no backlog builds up. Frames are converted to RGB
  (and resized, where asked) by the consumer when it takes them, so dropped frames cost no
  conversion.
- The consumer waits at most ``ReconnectPolicy.read_timeout_s`` for a frame. A read error, the
  end of the stream, or a timeout marks the connection lost: the old reader is told to stop
  (it releases its device as soon as its blocked call returns) and a new connection is tried
  after ``initial_delay_s``, then ``initial_delay_s * factor``, ... capped at ``max_delay_s``,
  for at most ``max_attempts`` attempts (``None``: forever).
- State changes (connected, reconnecting, failed, ended) are reported through ``on_state`` and
  :attr:`LiveSource.state`. Reconnection never raises into the pipeline: when the policy gives
  up the source reports ``FAILED`` and its iteration ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from edge_sdk.errors import OptionsError, SourceError
from edge_sdk.frame import Frame
from edge_sdk.redact import redact

from .base import Source, SourceState
from .capture_thread import Capture, CaptureThread, describe_error
from .reconnect import ReconnectPolicy, StateCallback, StateChange

__all__ = ["Capture", "LiveSource", "ReconnectPolicy", "StateCallback", "StateChange"]

log = logging.getLogger(__name__)


class LiveSource(Source):
    """Base class of camera and stream sources. Subclasses implement :meth:`_open`.

    Args:
        uri: the source URI (``Frame.source``).
        reconnect: a :class:`ReconnectPolicy` (default: 0.5 s doubling to 10 s, forever;
            5 s read timeout).
        on_state: called with a :class:`StateChange` on every state change, from the thread
            that iterates the source (``ENDED`` from the thread that calls :meth:`close`).

    Frames: ``index`` is the capture sequence number (it counts every frame the device
    delivered, so a jump means frames were dropped to stay current); ``timestamp`` is
    ``time.monotonic()`` just after the read returned.

    Raises (at construction):
        SourceError: the first connection cannot be opened (wrong URI, no device). Faults after
            that are handled by reconnecting, never raised.
    """

    live = True

    def __init__(
        self,
        uri: str,
        *,
        reconnect: ReconnectPolicy | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        super().__init__(uri)
        if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
            raise OptionsError(f"reconnect must be a ReconnectPolicy, got {type(reconnect).__name__}")
        self.policy = reconnect or ReconnectPolicy()
        self.on_state = on_state
        self.reconnects = 0
        self.dropped = 0
        self.last_gap_s: float | None = None
        self.error: str | None = None
        self.info: Any = None
        self._closed = threading.Event()
        self._seq = 0
        self._last_frame_t: float | None = None
        self._reader: CaptureThread | None = None
        self._connections = 0
        reader = self._start_reader()
        if not reader.wait_open(self.policy.open_timeout_s):
            reason = reader.error or "unknown error"
            exc = reader.open_exception
            self._stop_reader(reader)
            self.state = SourceState.FAILED
            if isinstance(exc, SourceError):  # a diagnosed cause keeps its type (refused, not found...)
                raise type(exc)(f"cannot open {self.describe()} {self.uri}: {redact(str(exc))}")
            raise SourceError(f"cannot open {self.describe()} {self.uri}: {redact(reason)}")
        self._reader = reader
        self.info = reader.info
        self._set_state(SourceState.CONNECTED)

    # -- subclass hooks --------------------------------------------------------------------------

    def _open(self) -> Capture:
        """Open the device and return a :class:`Capture`. Runs in the reader thread.

        Raises:
            Exception: any exception means this attempt failed (its message is reported).
        """
        raise NotImplementedError

    def describe(self) -> str:
        """A short noun for messages, e.g. ``"stream"`` or ``"camera"``."""
        return "source"

    # -- machinery -------------------------------------------------------------------------------

    def _start_reader(self) -> CaptureThread:
        self._connections += 1
        reader = CaptureThread(self._open, f"{type(self).__name__}-{self._connections}")
        reader.start()
        return reader

    def _stop_reader(self, reader: CaptureThread, join_s: float = 0.0) -> None:
        reader.stop_event.set()
        with reader.cond:
            self.dropped += reader.overwritten
            reader.overwritten = 0
        if join_s > 0:
            reader.join(join_s)
            if reader.is_alive():
                log.warning(
                    "%s %s: the reader is still blocked in the device; it will release the device "
                    "when that call returns",
                    self.describe(),
                    self.uri,
                )

    def _set_state(self, state: SourceState, attempt: int = 0, gap_s: float | None = None) -> None:
        self.state = state
        change = StateChange(state, self.uri, time.monotonic(), attempt, self.error, gap_s)
        if state is SourceState.CONNECTED and gap_s is None:
            log.info("%s %s connected", self.describe(), self.uri)
        elif state is SourceState.CONNECTED:
            log.warning("%s %s reconnected after a gap of %.2f s", self.describe(), self.uri, gap_s)
        elif state is SourceState.RECONNECTING and attempt <= 1:
            log.warning("%s %s lost (%s); reconnecting", self.describe(), self.uri, self.error)
        elif state is SourceState.RECONNECTING:
            log.info(
                "%s %s: attempt %d failed (%s); retrying in %.2f s",
                self.describe(),
                self.uri,
                attempt - 1,
                self.error,
                self.policy.delay(attempt),
            )
        elif state is SourceState.FAILED:
            log.error("%s %s failed: %s", self.describe(), self.uri, self.error)
        if self.on_state is not None:
            try:
                self.on_state(change)
            except Exception as exc:  # a faulty callback must not take the pipeline down
                log.error("on_state callback raised %s", describe_error(exc))

    def _reconnect(self) -> bool:
        """Replace the lost connection; True once frames flow again, False when giving up/closed."""
        old = self._reader
        if old is not None:
            self.error = old.error or "connection lost"
            self._stop_reader(old)
        self._reader = None
        attempt = 0
        while not self._closed.is_set():
            attempt += 1
            if self.policy.max_attempts is not None and attempt > self.policy.max_attempts:
                self._set_state(SourceState.FAILED, attempt - 1)
                return False
            self._set_state(SourceState.RECONNECTING, attempt)
            if self._closed.wait(self.policy.delay(attempt)):
                return False
            reader = self._start_reader()
            if reader.wait_open(self.policy.open_timeout_s, self._closed):
                item = reader.take(self.policy.read_timeout_s, self._closed)
                if item is not None:
                    with reader.cond:  # put it back: frames() hands it out
                        if reader.newest is None:
                            reader.newest = item
                    self._reader = reader
                    self.info = reader.info
                    self.reconnects += 1
                    gap = item[1] - self._last_frame_t if self._last_frame_t is not None else None
                    self.last_gap_s = gap
                    self.error = None
                    self._set_state(SourceState.CONNECTED, attempt, gap)
                    return True
            self.error = reader.error or "no frames after reconnecting"
            self._stop_reader(reader)
        return False

    def frames(self) -> Iterator[Frame]:
        try:
            while not self._closed.is_set():
                reader = self._reader
                if reader is None:
                    return
                item = reader.take(self.policy.read_timeout_s, self._closed)
                if item is None:
                    if self._closed.is_set():
                        return
                    if not self._reconnect():
                        return
                    continue
                image, t = item
                with reader.cond:
                    # frames captured while this one waited were overwritten in the slot
                    seq_jump = reader.overwritten
                    self.dropped += reader.overwritten
                    reader.overwritten = 0
                self._seq += seq_jump
                self._last_frame_t = t
                yield Frame(reader.to_rgb(image), self._seq, t, self.uri)
                self._seq += 1
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading and release the device (waits up to 2 s for a blocked read). Safe to
        call from any thread: a consumer waiting for a frame or a reconnection returns at once."""
        already = self._closed.is_set()
        self._closed.set()
        reader, self._reader = self._reader, None
        if reader is not None:
            with reader.cond:
                reader.cond.notify_all()  # wake a consumer waiting for a frame
            self._stop_reader(reader, join_s=2.0)
        if not already and self.state is not SourceState.FAILED:
            self._set_state(SourceState.ENDED)
