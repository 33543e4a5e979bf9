"""Frame sources behind one function, :func:`open_source`, and a registry of backends.

A source URI picks its backend (each module imports its library only when opened):

=============================================  =====================================
URI                                            backend (module)
=============================================  =====================================
``picamera2:0``, ``csi://0``                   Raspberry Pi camera (``picamera2``)
``/dev/video0``, ``usb:0``                     V4L2 camera through OpenCV (``v4l2``)
``rtsp://…``, ``http://…``, ``https://…``      network stream through FFmpeg (``stream``)
``clip.mp4``, ``clip.avi`` …                   video file (``video``)
``photo.jpg``, ``photos/``, ``shots/*.png``    image files, folders, globs (``images``)
=============================================  =====================================

Every source is a context manager and an iterator of :class:`edge_sdk.frame.Frame`. Live
sources (cameras, streams) also take ``reconnect=ReconnectPolicy(...)`` and
``on_state=callback`` (see :mod:`devices.sources.live`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from .base import Source, SourceState
from .live import ReconnectPolicy, StateChange

# Suffixes handled by the video backend; kept here so matching a URI imports nothing.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
    | {".mjpeg", ".mjpg", ".h264", ".264", ".3gp"}
)


def _is_video_file(uri: str) -> bool:
    return "://" not in uri and PurePath(uri).suffix.lower() in VIDEO_SUFFIXES


# (predicate on the URI, "module:Class"), tried in order; the last entry catches paths.
_REGISTRY: list[tuple[Callable[[str], bool], str]] = [
    (
        lambda uri: uri.lower().startswith(("picamera2:", "csi://")),
        "devices.sources.picamera2:Picamera2Source",
    ),
    (
        lambda uri: uri.startswith("/dev/video") or uri.lower().startswith("usb:"),
        "devices.sources.v4l2:V4l2Source",
    ),
    (
        lambda uri: uri.lower().startswith(("rtsp://", "rtsps://", "http://", "https://")),
        "devices.sources.stream:StreamSource",
    ),
    (_is_video_file, "devices.sources.video:VideoFileSource"),
    (lambda uri: True, "devices.sources.images:ImageSource"),
]


def register(predicate: Callable[[str], bool], target: str, *, first: bool = True) -> None:
    """Add a backend: ``target`` is ``"module:Class"``, imported only when a URI matches."""
    entry = (predicate, target)
    if first:
        _REGISTRY.insert(0, entry)
    else:
        _REGISTRY.append(entry)


def open_source(uri: str, **options: Any) -> Source:
    """Open a frame source by URI.

    Args:
        uri: a file, folder or glob, or a device/stream URI (see the module docstring).
        options: backend options such as ``size=(width, height)`` or ``fps``.

    Raises:
        SourceError: nothing can be opened at ``uri``.
        OptionsError: an option is invalid for this backend.
    """
    for predicate, target in _REGISTRY:
        if predicate(uri):
            module_name, cls_name = target.split(":")
            cls = getattr(importlib.import_module(module_name), cls_name)
            source: Source = cls(uri, **options)
            return source
    raise AssertionError("the path backend matches every URI")


__all__ = ["ReconnectPolicy", "Source", "SourceState", "StateChange", "open_source", "register"]
