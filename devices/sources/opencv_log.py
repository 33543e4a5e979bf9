"""Keep OpenCV's and FFmpeg's own log lines off stderr when the CLI asks for quiet native logs.

The CLI promises one clear error line (``edge-sdk: error: ...``); OpenCV and FFmpeg print
their own warnings straight to stderr ("can't open camera by index", "Connection refused").
When edge_sdk's native-log filtering is on (the CLI without ``--debug``), the first capture a
source opens lowers OpenCV's log level to errors and FFmpeg's to quiet
(``OPENCV_FFMPEG_LOGLEVEL=-8``, unless the user set it). Library users, and ``--debug``, keep
the native logs. What went wrong still reaches the user through ``SourceError`` and
``StateChange.error``.
"""

from __future__ import annotations

import os

import cv2

from edge_sdk import native_log

_applied = False


def quiet_native_logs() -> None:
    """Apply the quiet levels once, if native-log filtering is enabled."""
    global _applied
    if _applied:
        return
    if not native_log.is_enabled():
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg is first used
    utils_logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if utils_logging is not None:
        utils_logging.setLogLevel(utils_logging.LOG_LEVEL_ERROR)
    _applied = True
