"""What a :class:`~edge_sdk.pipeline.engine.Pipeline` is told (``PipelineOptions``, checked
when built) and what it counts (``PipelineStats``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..validate import int_at_least, is_bool, positive_number


@dataclass(frozen=True)
class PipelineOptions:
    """Options of a :class:`Pipeline`, checked when built.

    Attributes:
        queue_size: frames waiting between capture and inference (>= 1). Small keeps latency
            low on live sources; 2 lets capture decode the next frame during an invoke.
        result_queue_size: results waiting for the sinks (>= 1).
        max_frames: read at most this many frames from the source (None: no limit). For live
            sources this counts frames read, including those dropped later.
        duration_s: stop after this many seconds (> 0; None: no limit).
        drop_oldest: drop the oldest queued frame when inference falls behind; None (default)
            decides from the source: True for live sources, False for files.
        copy_frames: copy each frame's image once on the capture thread, for sources that
            lend buffers they reuse (the built-in sources do not).
        stop_timeout_s: how long stopping may take before :class:`PipelineError` (> 0).
    """

    queue_size: int = 2
    result_queue_size: int = 4
    max_frames: int | None = None
    duration_s: float | None = None
    drop_oldest: bool | None = None
    copy_frames: bool = False
    stop_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        int_at_least("queue_size", self.queue_size, 1)
        int_at_least("result_queue_size", self.result_queue_size, 1)
        int_at_least("max_frames", self.max_frames, 1, optional=True)
        positive_number("duration_s", self.duration_s, optional=True, unit="seconds")
        is_bool("drop_oldest", self.drop_oldest, optional=True)
        is_bool("copy_frames", self.copy_frames)
        positive_number("stop_timeout_s", self.stop_timeout_s, unit="seconds")


@dataclass
class PipelineStats:
    """Counters of a run (each is written by one thread only).

    ``captured``: frames read from the source. ``processed``: frames the task ran on.
    ``written``: results every sink accepted. ``dropped``: frames the pipeline dropped
    (oldest first, live sources only). ``discarded``: frames still queued when :meth:`stop`
    was called. ``source_dropped``: frames a live source skipped itself before the pipeline
    saw them. ``elapsed_s``: seconds from start to the end of the run (or now).
    """

    captured: int = 0
    processed: int = 0
    written: int = 0
    dropped: int = 0
    discarded: int = 0
    source_dropped: int = 0
    elapsed_s: float = 0.0

    @property
    def fps(self) -> float:
        """Processed frames per second."""
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "captured": self.captured,
            "processed": self.processed,
            "written": self.written,
            "dropped": self.dropped,
            "discarded": self.discarded,
            "source_dropped": self.source_dropped,
            "elapsed_s": round(self.elapsed_s, 3),
            "fps": round(self.fps, 2),
        }
