"""The ``Sink`` base class and the context a pipeline opens sinks with."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..tasks.base import TaskResult


@dataclass(frozen=True)
class SinkContext:
    """What a sink learns when the pipeline starts.

    ``source``: the source URI. ``task``: ``"classify"``, ``"detect"`` or ``"faces"``.
    ``fps``: the source's nominal frame rate in frames per second, when known.
    ``live``: whether the source is a camera/stream (frames may be dropped).
    """

    source: str
    task: str
    fps: float | None = None
    live: bool = False


class Sink:
    """Where results go. Subclasses implement :meth:`write` and usually :meth:`open`/:meth:`close`.

    The pipeline calls ``open(context)`` once before the first frame, ``write(result)`` for
    every result, in frame order, from one thread (the sink thread), and ``close()`` once at
    the end, even after an error. ``write`` must not block for long: sinks that talk to the
    network queue work with a bound and count what they drop.

    ``uri`` names the sink in messages. Errors are raised as :class:`~edge_sdk.errors.SinkError`
    (or :class:`~edge_sdk.errors.OptionsError` for bad options, when the sink is built).
    """

    uri: str = ""

    def open(self, context: SinkContext) -> None:
        """Called once, before the first :meth:`write`."""

    def write(self, result: TaskResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release; called once, also after errors. Must not raise for a clean sink."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
