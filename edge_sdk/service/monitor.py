"""``ServiceMonitor``: the sink that makes a run a service (watchdog, status, heartbeat, state).

It is added as the last sink of the pipeline, so it sees every result after the other sinks
took it, on the sink thread, and owns one background thread that, every tick:

* sends ``WATCHDOG=1`` **only when frames were written since the previous tick** (a stalled
  camera, a hung invoke or a blocked sink stops the pings and lets systemd's watchdog fire),
  with ``STATUS=`` one line of fps and drops (``STATUS=stalled: ...`` instead when no frame
  came);
* publishes the MQTT heartbeat every ``heartbeat_s`` seconds.

``READY=1`` is sent when the pipeline opens its sinks: the source is open and the model
loaded by then. The tick is half the watchdog period (``WATCHDOG_USEC``), at most 1 s and at
most ``heartbeat_s``.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..pipeline.service_options import ServiceOptions
from ..sinks.base import Sink, SinkContext
from ..sinks.events import ChangeDetector, EventOptions
from .notify import Notifier
from .status import StatusPublisher, cpu_temperature_c, edge_sdk_version, load_average

if TYPE_CHECKING:
    from ..tasks.base import TaskResult

log = logging.getLogger(__name__)


def file_sha256(path: str | Path | None) -> str | None:
    """SHA-256 of a file in hex, streamed in 1 MiB blocks; None when ``path`` is None or unreadable."""
    if path is None:
        return None
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


class ServiceMonitor(Sink):
    """Watchdog pings, STATUS lines, MQTT heartbeats and state for one pipeline run.

    Args:
        options: status options (``options.broker`` None: no MQTT, notify only).
        notifier: the sd_notify client (default: from ``$NOTIFY_SOCKET``).
        model: the model path, reported (with its SHA-256) in status and heartbeats.
        tick_s: override the tick (seconds > 0); default half the watchdog period, at most 1 s.
        connect_timeout_s: how long opening waits for the broker.

    Call :meth:`attach` with the pipeline before it starts, for its counters and source state.
    """

    uri = "service:"

    def __init__(
        self,
        options: ServiceOptions,
        notifier: Notifier | None = None,
        model: str | None = None,
        tick_s: float | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.options = options
        self.notifier = notifier if notifier is not None else Notifier()
        self.model = model
        self.model_sha256 = file_sha256(model)
        wd = self.notifier.watchdog_s
        self.tick_s = tick_s if tick_s is not None else min(1.0, wd / 2 if wd else 1.0, options.heartbeat_s)
        self.connect_timeout_s = connect_timeout_s
        self.detector = ChangeDetector(EventOptions(debounce=options.debounce))
        self.publisher: StatusPublisher | None = None
        self.pipeline: Any = None
        self.context: SinkContext | None = None
        self.frames = 0  # written so far (sink thread)
        self.last_frame_at: float | None = None
        self.watchdog_pings = 0
        self.heartbeats = 0
        self._latency: collections.deque[float] = collections.deque(maxlen=1024)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    def attach(self, pipeline: Any) -> ServiceMonitor:
        """Read counters (``pipeline.stats``) and the source state from ``pipeline``."""
        self.pipeline = pipeline
        return self

    # -- sink interface --------------------------------------------------------------------------

    def open(self, context: SinkContext) -> None:
        self.context = context
        self._t0 = time.monotonic()
        if self.options.broker is not None:
            from .homeassistant import discovery_configs  # lazy: only when Home Assistant discovery is on

            version = edge_sdk_version()
            model_name = Path(self.model).name if self.model else None
            discovery = (
                discovery_configs(self.options, context.task, model_name, version)
                if self.options.home_assistant
                else {}
            )
            self.publisher = StatusPublisher(
                self.options,
                {
                    "host": self.options.host,
                    "task": context.task,
                    "source": context.source,
                    "model": self.model,
                    "model_sha256": self.model_sha256,
                    "version": version,
                    "heartbeat_s": self.options.heartbeat_s,
                },
                discovery,
                self.connect_timeout_s,
            )
            self.publisher.start()
            self.publisher.state(self.detector.state(self.options.labels))
        self.notifier.notify(READY=1, STATUS=f"running {context.task} on {context.source}")
        self._thread = threading.Thread(target=self._loop, name="edge-sdk-service", daemon=True)
        self._thread.start()

    def write(self, result: TaskResult) -> None:
        total = result.timing_ms.get("total") if result.timing_ms else None
        with self._lock:
            self.frames += 1
            self.last_frame_at = time.monotonic()
            if total is not None:
                self._latency.append(float(total))
        if self.detector.update(result) and self.publisher is not None:
            self.publisher.state(self.detector.state(self.options.labels))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.notifier.notify(STOPPING=1, STATUS="stopping")
        self.notifier.close()
        if self.publisher is not None:
            self.publisher.stop()

    # -- the tick thread -------------------------------------------------------------------------

    def _counters(self) -> dict[str, int]:
        stats = getattr(self.pipeline, "stats", None)
        if stats is None:
            return {"processed": self.frames, "dropped": 0, "source_dropped": 0}
        src = getattr(self.pipeline, "source", None)
        return {
            "captured": int(stats.captured),
            "processed": int(stats.processed),
            "dropped": int(stats.dropped),
            "source_dropped": int(getattr(src, "dropped", 0) or 0),
        }

    def _source_state(self) -> str | None:
        state = getattr(getattr(self.pipeline, "source", None), "state", None)
        return None if state is None else str(getattr(state, "value", state))

    def heartbeat_payload(self, fps: float) -> dict[str, Any]:
        """The heartbeat JSON (see the README's "Run it as a service")."""
        with self._lock:
            lat = np.asarray(self._latency, dtype=np.float64)
            self._latency.clear()
        ctx = self.context
        return {
            "ts": round(time.time(), 3),
            "host": self.options.host,
            "uptime_s": round(time.monotonic() - self._t0, 1),
            "fps": round(fps, 2),
            "latency_ms": {
                "p50": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
                "p95": round(float(np.percentile(lat, 95)), 2) if lat.size else None,
            },
            "frames": self._counters(),
            "source": {"uri": ctx.source if ctx else None, "state": self._source_state()},
            "model": {"path": self.model, "sha256": self.model_sha256, "task": ctx.task if ctx else None},
            "cpu_temp_c": cpu_temperature_c(),
            "load": load_average(),
        }

    def _loop(self) -> None:
        last_frames, last_t = 0, time.monotonic()
        hb_frames, hb_t = 0, last_t
        next_hb = last_t + self.options.heartbeat_s
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            with self._lock:
                frames, last_at = self.frames, self.last_frame_at
            c = self._counters()
            drops = f"{c['dropped']} dropped, {c['source_dropped']} by the source"
            if frames > last_frames:
                fps = (frames - last_frames) / max(now - last_t, 1e-6)
                self.notifier.notify(WATCHDOG=1, STATUS=f"{fps:.1f} fps, {frames} frames, {drops}")
                self.watchdog_pings += 1
            else:
                idle = now - (last_at if last_at is not None else self._t0)
                self.notifier.notify(STATUS=f"stalled: no frame for {idle:.1f} s, {frames} frames, {drops}")
            last_frames, last_t = frames, now
            if now >= next_hb:
                fps = (frames - hb_frames) / max(now - hb_t, 1e-6)
                hb_frames, hb_t = frames, now
                next_hb = now + self.options.heartbeat_s
                if self.publisher is not None:
                    try:
                        self.publisher.heartbeat(self.heartbeat_payload(fps))
                        self.heartbeats += 1
                    except Exception as exc:  # a heartbeat must never stop the service
                        log.warning("heartbeat failed: %s", exc)
