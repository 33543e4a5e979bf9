"""A stand-in for the ``picamera2`` package, for tests on machines without a Pi camera.

It implements the part of picamera2's real API that edge_sdk calls, with the real behaviour
that matters to a caller (checked against picamera2's manual and source):

- ``Picamera2(camera_num=0)`` raises ``RuntimeError("Camera __init__ sequence did not
  complete.")`` when there is no such camera; ``Picamera2.global_camera_info()`` lists the
  cameras as dicts with ``Model``, ``Location``, ``Rotation``, ``Id`` and ``Num``;
  ``camera_properties`` is a dict (``Model``, ``PixelArraySize`` ...).
- ``create_preview_configuration`` / ``create_video_configuration`` take ``main={"size",
  "format"}``, reject other keys with ``ValueError``, align the size to even numbers (as
  ``align_stream(optimal=False)`` does) and default to ``XBGR8888`` at 640×480 / 1280×720;
  ``configure`` requires ``size`` to be a tuple (picamera2 raises ``RuntimeError`` otherwise).
- ``capture_array("main")`` returns an ``(H, W, 3)`` uint8 array for ``RGB888``/``BGR888``
  and ``(H, W, 4)`` for ``XRGB8888``/``XBGR8888``. libcamera names formats by the
  little-endian word, so ``RGB888`` pixels are stored ``[B, G, R]`` and ``BGR888`` ones
  ``[R, G, B]`` (picamera2 manual, appendix A, "Pixel and image formats").

Test controls (not picamera2 API): ``set_cameras(n)``, ``unplug(num)``, ``replug(num)``,
``hang(num)`` (the next ``capture_array`` blocks until replugged), ``scene(w, h)`` (the RGB
image every camera sees) and ``Picamera2.instances``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import numpy as np

__version__ = "0.3.99+fake"

_lock = threading.Lock()
_cameras: list[dict[str, Any]] = []
_unplugged: set[int] = set()
_hanging: set[int] = set()
_replugged = threading.Condition(_lock)

_RGB_FORMATS = {"RGB888": 3, "BGR888": 3, "XRGB8888": 4, "XBGR8888": 4}


def set_cameras(count: int = 1, model: str = "imx708") -> None:
    """Attach ``count`` cameras (all plugged in) and reset the fault state."""
    with _lock:
        _cameras[:] = [
            {
                "Model": model,
                "Location": 2,
                "Rotation": 180,
                "Id": f"/base/soc/i2c0mux/i2c@{i}/{model}@1a",
                "Num": i,
            }
            for i in range(count)
        ]
        _unplugged.clear()
        _hanging.clear()
        _replugged.notify_all()
    Picamera2.instances.clear()


def unplug(num: int = 0) -> None:
    with _lock:
        _unplugged.add(num)


def replug(num: int = 0) -> None:
    with _lock:
        _unplugged.discard(num)
        _hanging.discard(num)
        _replugged.notify_all()


def hang(num: int = 0) -> None:
    with _lock:
        _hanging.add(num)


def scene(width: int, height: int) -> np.ndarray:
    """The RGB image the cameras see: red, green and blue vertical thirds over a gray ramp."""
    img = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    img[:, :third] = (230, 20, 10)
    img[:, third : 2 * third] = (15, 220, 25)
    img[:, 2 * third :] = (5, 30, 240)
    img[: height // 8] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return img


class Picamera2:
    instances: ClassVar[list[Picamera2]] = []

    def __init__(
        self, camera_num: int = 0, verbose_console: Any = None, tuning: Any = None, allocator: Any = None
    ):
        with _lock:
            present = 0 <= camera_num < len(_cameras) and camera_num not in _unplugged
        busy = any(c.is_open and c.camera_idx == camera_num for c in Picamera2.instances)
        if not present or busy:  # libcamera cannot acquire a missing or busy camera
            raise RuntimeError("Camera __init__ sequence did not complete.")
        self.camera_idx = camera_num
        self.is_open = True
        self.started = False
        self.camera_config: dict[str, Any] | None = None
        self.frames_captured = 0
        self.closed_calls = 0
        self.sensor_resolution = (4608, 2592)
        Picamera2.instances.append(self)

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        with _lock:
            return [dict(c) for i, c in enumerate(_cameras) if i not in _unplugged]

    @property
    def camera_properties(self) -> dict[str, Any]:
        return {
            "Model": _cameras[self.camera_idx]["Model"],
            "PixelArraySize": self.sensor_resolution,
            "Location": 2,
            "Rotation": 180,
            "ColorFilterArrangement": 0,
        }

    # -- configuration ------------------------------------------------------------------------

    def _stream(self, default: dict[str, Any], updates: dict[str, Any] | None) -> dict[str, Any] | None:
        if updates is None:
            return None
        config = dict(default)
        for key, value in updates.items():
            if key not in ("format", "size"):
                raise ValueError(f"Bad key {key!r}: valid stream configuration keys are ('format', 'size')")
            config[key] = value
        w, h = config["size"]
        config["size"] = (w - w % 2, h - h % 2)  # align_stream(optimal=False)
        return config

    def _configuration(
        self,
        use_case: str,
        main: dict[str, Any],
        default_size: tuple[int, int],
        buffer_count: int,
        controls: dict[str, Any],
        lores: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        return {
            "use_case": use_case,
            "transform": None,
            "colour_space": None,
            "buffer_count": buffer_count,
            "queue": True,
            "main": self._stream({"format": "XBGR8888", "size": default_size}, main),
            "lores": self._stream({"format": "YUV420", "size": default_size}, lores),
            "raw": None,
            "controls": dict(controls),
            "display": "main",
            "encode": "main",
        }

    def create_preview_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: Any = None,
        transform: Any = None,
        colour_space: Any = None,
        buffer_count: int = 4,
        controls: dict[str, Any] | None = None,
        display: str = "main",
        encode: str = "main",
        queue: bool = True,
    ) -> dict[str, Any]:
        return self._configuration("preview", main or {}, (640, 480), buffer_count, controls or {}, lores)

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: Any = None,
        transform: Any = None,
        colour_space: Any = None,
        buffer_count: int = 6,
        controls: dict[str, Any] | None = None,
        display: str = "main",
        encode: str = "main",
        queue: bool = True,
    ) -> dict[str, Any]:
        return self._configuration("video", main or {}, (1280, 720), buffer_count, controls or {}, lores)

    def configure(self, camera_config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        main = camera_config["main"]
        if type(main["size"]) is not tuple or len(main["size"]) != 2:
            raise RuntimeError("size in main stream should be (width, height)")
        if main["format"] not in _RGB_FORMATS and main["format"] != "YUV420":
            raise RuntimeError(f"Bad format {main['format']} in stream main")
        self.camera_config = camera_config

    def start(self, config: Any = None, show_preview: bool = False) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed_calls += 1
        if self.started:
            self.stop()
        self.is_open = False

    # -- capture -----------------------------------------------------------------------------

    def capture_array(self, name: str = "main", wait: Any = None, signal_function: Any = None) -> np.ndarray:
        if not self.started or self.camera_config is None:
            raise RuntimeError("Camera not started")
        with _lock:
            while self.camera_idx in _hanging:
                _replugged.wait(0.1)
            if self.camera_idx in _unplugged:
                raise RuntimeError("Camera frontend has timed out!")
        stream = self.camera_config[name]
        w, h = stream["size"]
        rgb = scene(w, h)
        fmt = stream["format"]
        time.sleep(0.002)  # a frame takes time to arrive
        self.frames_captured += 1
        if fmt == "RGB888":
            return np.ascontiguousarray(rgb[..., ::-1])  # bytes B, G, R
        if fmt == "BGR888":
            return rgb.copy()  # bytes R, G, B
        alpha = np.full((h, w, 1), 255, np.uint8)
        if fmt == "XRGB8888":
            return np.concatenate([rgb[..., ::-1], alpha], axis=2)  # B, G, R, A
        if fmt == "XBGR8888":
            return np.concatenate([rgb, alpha], axis=2)  # R, G, B, A
        raise RuntimeError(f"capture_array does not support {fmt} in this stand-in")


set_cameras(1)

__all__ = ["Picamera2"]
