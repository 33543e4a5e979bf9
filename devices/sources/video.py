"""Video files through OpenCV: every frame, in order, with its real timestamp."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2

from edge_sdk.errors import SourceError
from edge_sdk.frame import Frame

from .base import Source, SourceState
from .opencv_log import quiet_native_logs
from .options import check_options, parse_fps, parse_size

log = logging.getLogger(__name__)


class VideoFileSource(Source):
    """Frames of a video file, decoded in order; none is ever dropped.

    ``Frame.timestamp`` is the frame's presentation time in seconds from the start of the file
    (``CAP_PROP_POS_MSEC`` / 1000), ``Frame.index`` counts frames from 0 and ``Frame.source``
    is the path. The iteration ends cleanly at the end of the file; a file that ends before
    the frame count in its header is reported with a warning. A file is never reopened.

    Options ``size`` and ``fps`` are accepted and ignored: files are delivered at their own
    size and every frame is delivered (the model's preprocessing resizes).

    Raises:
        SourceError: no such file, or OpenCV cannot decode it.
    """

    live = False

    def __init__(self, uri: str, **options: object) -> None:
        super().__init__(uri)
        check_options(uri, options, {"size", "fps"})
        parse_size(uri, options.get("size"))
        parse_fps(uri, options.get("fps"))
        path = Path(uri)
        if not path.is_file():
            raise SourceError(f"no such video file: {uri}")
        quiet_native_logs()
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"cannot decode video {uri}: OpenCV/FFmpeg could not open it")
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS))
        self.size = (
            int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self.state = SourceState.CONNECTED

    def frames(self) -> Iterator[Frame]:
        index = 0
        try:
            while self.state is SourceState.CONNECTED:
                ok, bgr = self.cap.read()
                if not ok or bgr is None:
                    break
                timestamp = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, timestamp, self.uri)
                index += 1
            if self.state is SourceState.CONNECTED and index < self.frame_count:
                log.warning(
                    "video %s ended after %d of the %d frames its header announces (truncated file?)",
                    self.uri,
                    index,
                    self.frame_count,
                )
        finally:
            self.close()

    def close(self) -> None:
        self.cap.release()
        super().close()
