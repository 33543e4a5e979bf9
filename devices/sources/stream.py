"""Network streams (``rtsp://``, ``rtsps://``, ``http://``, ``https://``) through OpenCV's FFmpeg.

A reader thread keeps only the newest decoded frame, so latency stays at one frame however
slowly the pipeline consumes. Lost streams are reopened with backoff (see
:mod:`devices.sources.live`). FFmpeg options such as ``rtsp_transport;tcp`` can be given in
the environment variable ``OPENCV_FFMPEG_CAPTURE_OPTIONS``, as OpenCV documents.
"""

from __future__ import annotations

import cv2
import numpy as np

from .live import Capture, LiveSource, ReconnectPolicy, StateCallback
from .opencv_log import quiet_native_logs
from .options import check_options, parse_fps, parse_size
from .stream_probe import diagnose_stream


class _FfmpegCapture:
    def __init__(self, uri: str, policy: ReconnectPolicy, size: tuple[int, int] | None) -> None:
        quiet_native_logs()
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(policy.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(policy.read_timeout_s * 1000),
        ]
        self.cap = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)
        if not self.cap.isOpened():
            self.cap.release()
            # FFmpeg says only "could not open"; one probe tells a refused connection, a wrong
            # path and rejected credentials apart (a typed SourceError), when it can.
            diagnosis = diagnose_stream(uri, min(policy.open_timeout_s, 3.0))
            if diagnosis is not None:
                raise diagnosis
            raise ConnectionError("FFmpeg could not open the stream (unreachable, refused or not a video)")
        self.size = size
        self.info = {
            "size": (
                int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            ),
            "fps": float(self.cap.get(cv2.CAP_PROP_FPS)),
        }

    def read(self) -> np.ndarray | None:
        ok, bgr = self.cap.read()
        return bgr if ok and bgr is not None else None

    def to_rgb(self, bgr: np.ndarray) -> np.ndarray:
        if self.size is not None and (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def release(self) -> None:
        self.cap.release()


class StreamSource(LiveSource):
    """Frames from an RTSP or HTTP(S) stream (MJPEG, H.264 ... whatever FFmpeg decodes).

    Args:
        uri: ``rtsp://host/path``, ``http://host:port/stream.mjpg`` ...
        size: optional ``(width, height)``: frames are resized to it (the stream's own size is
            in ``info["size"]``).
        fps: accepted for symmetry with cameras; a stream's rate is set by its sender.
        reconnect, on_state: see :class:`~devices.sources.live.LiveSource`.

    Raises:
        SourceError: the stream cannot be opened at all.
        OptionsError: an unknown or invalid option.
    """

    def __init__(
        self,
        uri: str,
        *,
        reconnect: ReconnectPolicy | None = None,
        on_state: StateCallback | None = None,
        **options: object,
    ) -> None:
        check_options(uri, options, {"size", "fps"})
        self.size = parse_size(uri, options.get("size"))
        parse_fps(uri, options.get("fps"))
        super().__init__(uri, reconnect=reconnect, on_state=on_state)

    def describe(self) -> str:
        return "stream"

    def _open(self) -> Capture:
        return _FfmpegCapture(self.raw_uri, self.policy, self.size)
