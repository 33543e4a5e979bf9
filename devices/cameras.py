"""List the cameras on this machine without opening a capture: V4L2 nodes and, when the
``picamera2`` library is installed, the Raspberry Pi cameras libcamera sees."""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability), sizeof(struct v4l2_capability) = 104
_VIDIOC_QUERYCAP = 0x80685600
_CAP_STRUCT = struct.Struct("16s32s32sIII12x")
_CAP_VIDEO_CAPTURE = 0x00000001
_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
_CAP_DEVICE_CAPS = 0x80000000


@dataclass(frozen=True)
class CameraInfo:
    """One camera.

    Attributes:
        uri: what to pass to ``open_source`` (``/dev/video0``, ``picamera2:0``).
        name: the driver's card name or the sensor model.
        driver: the V4L2 driver (``uvcvideo`` ...) or ``"libcamera"``.
        capture: whether the node can capture video (False for codec/ISP nodes, None unknown).
        error: why it could not be queried, else None.
    """

    uri: str
    name: str | None
    driver: str | None
    capture: bool | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "name": self.name,
            "driver": self.driver,
            "capture": self.capture,
            "error": self.error,
        }


def _cstr(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def query_v4l2(path: str) -> CameraInfo:
    """Ask one ``/dev/videoN`` node what it is (VIDIOC_QUERYCAP; no streaming)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        return CameraInfo(path, None, None, None, exc.strerror or str(exc))
    try:
        buf = bytearray(_CAP_STRUCT.size)
        fcntl.ioctl(fd, _VIDIOC_QUERYCAP, buf)
        driver, card, _bus, _version, caps, device_caps = _CAP_STRUCT.unpack(bytes(buf))
        effective = device_caps if caps & _CAP_DEVICE_CAPS else caps
        capture = bool(effective & (_CAP_VIDEO_CAPTURE | _CAP_VIDEO_CAPTURE_MPLANE))
        return CameraInfo(path, _cstr(card), _cstr(driver), capture)
    except OSError as exc:
        return CameraInfo(path, None, None, None, exc.strerror or str(exc))
    finally:
        os.close(fd)


def list_v4l2(dev_root: str | Path = "/dev") -> list[CameraInfo]:
    """Every ``/dev/videoN`` node, in number order."""
    nodes = [p for p in Path(dev_root).glob("video*") if p.name[5:].isdigit()]
    return [query_v4l2(str(p)) for p in sorted(nodes, key=lambda p: int(p.name[5:]))]


def list_picamera2() -> list[CameraInfo]:
    """Cameras picamera2 reports; empty when picamera2 is not installed or cannot run."""
    try:
        # optional: hardware/extra library, with an install hint
        from picamera2 import Picamera2
    except ImportError:
        return []
    try:
        infos = Picamera2.global_camera_info()
    except Exception as exc:  # libcamera problems must not break a device listing
        log.warning("picamera2 could not list cameras: %s", exc)
        return []
    return [
        CameraInfo(f"picamera2:{int(info.get('Num', i))}", info.get("Model"), "libcamera", True)
        for i, info in enumerate(infos)
    ]


def list_cameras(dev_root: str | Path = "/dev") -> list[CameraInfo]:
    """V4L2 capture nodes and picamera2 cameras."""
    return [c for c in list_v4l2(dev_root) if c.capture is not False] + list_picamera2()
