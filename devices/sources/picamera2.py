"""Raspberry Pi CSI cameras (``picamera2:N``, ``csi://N``) through the ``picamera2`` library.

The main stream is configured as ``RGB888`` at the requested size. libcamera names formats
by the little-endian word, so picamera2's ``RGB888`` arrays hold each pixel as
``[B, G, R]`` bytes (picamera2 manual, appendix A): frames are converted BGR -> RGB here,
once. picamera2 is imported only when such a source is opened.
"""

from __future__ import annotations

import re
from typing import Any

import cv2
import numpy as np

from edge_sdk.errors import OptionsError, missing_dependency

from .live import Capture, LiveSource, ReconnectPolicy, StateCallback
from .options import check_options, parse_fps, parse_size

_URI = re.compile(r"^(?:picamera2:|csi://)(\d+)$", re.IGNORECASE)

DEFAULT_SIZE = (640, 480)


def camera_number(uri: str) -> int:
    """The camera number N of ``picamera2:N`` or ``csi://N``.

    Raises:
        OptionsError: not one of those forms.
    """
    m = _URI.match(uri)
    if m is None:
        raise OptionsError(f"expected picamera2:N or csi://N with N a camera number, got {uri!r}")
    return int(m.group(1))


def _import_picamera2() -> Any:
    try:
        # optional: hardware/extra library, with an install hint
        from picamera2 import Picamera2
    except ImportError as exc:
        raise missing_dependency("picamera2", "pi", "the Raspberry Pi camera source") from exc
    return Picamera2


class _Picamera2Capture:
    def __init__(self, number: int, size: tuple[int, int], fps: float | None) -> None:
        picamera2_cls = _import_picamera2()
        self.cam = picamera2_cls(number)
        try:
            controls: dict[str, Any] = {}
            if fps is not None:
                period_us = round(1_000_000 / fps)
                controls["FrameDurationLimits"] = (period_us, period_us)
            config = self.cam.create_preview_configuration(
                main={"size": (int(size[0]), int(size[1])), "format": "RGB888"},
                controls=controls,
            )
            self.cam.configure(config)
            granted = getattr(self.cam, "camera_config", None) or config
            self.cam.start()
            props = dict(getattr(self.cam, "camera_properties", {}) or {})
        except BaseException:
            self.cam.close()
            raise
        self.info = {
            "camera": number,
            "model": props.get("Model"),
            "size": tuple(granted["main"]["size"]),
            "format": granted["main"]["format"],
            "fps": fps,
            "requested": {"size": size, "fps": fps},
        }

    def read(self) -> np.ndarray | None:
        bgr = self.cam.capture_array("main")  # a copy; RGB888 bytes are B, G, R
        return None if bgr is None else np.asarray(bgr)

    @staticmethod
    def to_rgb(bgr: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def release(self) -> None:
        try:
            self.cam.stop()
        finally:
            self.cam.close()


class Picamera2Source(LiveSource):
    """Frames from a Raspberry Pi camera through picamera2.

    Args:
        uri: ``picamera2:N`` or ``csi://N`` (N: camera number, 0 for the first).
        size: ``(width, height)`` of the main stream (default 640×480); picamera2 may round
            it, the granted size is in ``info["size"]``.
        fps: fixed frame rate (sets ``FrameDurationLimits``); default: the camera's.
        reconnect, on_state: see :class:`~devices.sources.live.LiveSource`.

    Raises:
        MissingDependencyError: picamera2 is not installed (``sudo apt install python3-picamera2``).
        SourceError: the camera cannot be opened (not connected, busy).
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
        self.number = camera_number(uri)
        self.size = parse_size(uri, options.get("size")) or DEFAULT_SIZE
        self.fps = parse_fps(uri, options.get("fps"))
        _import_picamera2()  # fail now with the install hint, not as a connection error
        super().__init__(uri, reconnect=reconnect, on_state=on_state)

    def describe(self) -> str:
        return "camera"

    def _open(self) -> Capture:
        return _Picamera2Capture(self.number, self.size, self.fps)
