"""The ``Source`` protocol every frame source implements."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from edge_sdk.frame import Frame
from edge_sdk.redact import redact


class SourceState(str, enum.Enum):
    """Connection state of a source, for live sources that can drop and reconnect."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


class Source:
    """Base class: iterate for frames; use as a context manager to release the device.

    Subclasses implement :meth:`frames` and :meth:`close`. ``uri`` names the source with any
    password masked (``rtsp://admin:***@cam``): it is what ``Frame.source``, logs and errors
    show. ``raw_uri`` is the address as given, for the capture library only;
    ``skipped`` counts inputs that could not be decoded; ``live`` says whether frames may be
    dropped to keep up (cameras, streams) or never (files). ``fps``, ``info`` and ``dropped``
    are declared here and read by the pipeline; subclasses set what they know.
    """

    live: bool = False
    #: nominal frame rate in frames per second, when the source knows it (files, cameras).
    fps: float | None = None
    #: what the source reports about its stream (codec, size ...; a dict for network
    #: streams), or None.
    info: Any = None
    #: frames the source itself skipped to stay current (live sources; 0 for files).
    dropped: int = 0

    def __init__(self, uri: str) -> None:
        self.raw_uri = uri
        self.uri = redact(uri)
        self.skipped = 0
        self.state = SourceState.CONNECTING

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        self.state = SourceState.ENDED

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
