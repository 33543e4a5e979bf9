"""USB and other V4L2 cameras (``/dev/videoN``, ``usb:N``) through OpenCV's V4L2 backend.

The camera is asked for MJPG at the requested size and rate (MJPG lets USB 2 cameras reach
640×480 at 30 fps and beyond). What the driver actually granted is read back, logged when
it differs, and kept in ``info`` (``size``, ``fps``, ``fourcc``).
"""

from __future__ import annotations

import logging
import re

import cv2
import numpy as np

from edge_sdk.errors import OptionsError

from .live import Capture, LiveSource, ReconnectPolicy, StateCallback
from .opencv_log import quiet_native_logs
from .options import check_options, parse_fps, parse_size

log = logging.getLogger(__name__)

_DEV = re.compile(r"^/dev/video(\d+)$")
_USB = re.compile(r"^usb:(\d+)$", re.IGNORECASE)


def device_path(uri: str) -> str:
    """``/dev/videoN`` for ``usb:N`` or ``/dev/videoN``.

    Raises:
        OptionsError: neither form.
    """
    m = _DEV.match(uri) or _USB.match(uri)
    if m is None:
        raise OptionsError(f"expected /dev/videoN or usb:N, got {uri!r}")
    return f"/dev/video{int(m.group(1))}"


def fourcc_text(code: float) -> str:
    """OpenCV's numeric FOURCC as its four characters (e.g. ``"MJPG"``)."""
    value = int(code)
    return "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00")


class _V4l2Capture:
    def __init__(self, path: str, size: tuple[int, int] | None, fps: float | None, fourcc: str) -> None:
        quiet_native_logs()
        self.cap = cv2.VideoCapture(path, cv2.CAP_V4L2)
        if not self.cap.isOpened():
            self.cap.release()
            raise ConnectionError(f"OpenCV's V4L2 backend cannot open {path} (missing, busy or not a camera)")
        # The order matters to many drivers: pixel format, then size, then rate.
        self.cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*fourcc))
        if size is not None:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps is not None:
            self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        granted_size = (
            int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        granted_fps = float(self.cap.get(cv2.CAP_PROP_FPS))
        self.info: dict[str, object] = {
            "device": path,
            "size": granted_size,
            "fps": granted_fps,
            "fourcc": fourcc_text(self.cap.get(cv2.CAP_PROP_FOURCC)),
            "requested": {"size": size, "fps": fps, "fourcc": fourcc},
        }
        if size is not None and granted_size != size:
            log.warning("camera %s granted %dx%d instead of the requested %dx%d", path, *granted_size, *size)
        if fps is not None and abs(granted_fps - fps) > 0.5:
            log.warning("camera %s granted %.1f fps instead of the requested %.1f", path, granted_fps, fps)
        if self.info["fourcc"] != fourcc:
            log.info("camera %s delivers %s rather than %s", path, self.info["fourcc"] or "?", fourcc)

    def read(self) -> np.ndarray | None:
        ok, bgr = self.cap.read()
        return bgr if ok and bgr is not None else None

    @staticmethod
    def to_rgb(bgr: np.ndarray) -> np.ndarray:
        if bgr.ndim == 2 or bgr.shape[2] == 1:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def release(self) -> None:
        self.cap.release()


class V4l2Source(LiveSource):
    """Frames from a V4L2 camera.

    Args:
        uri: ``/dev/videoN`` or ``usb:N`` (the same device, ``/dev/videoN``).
        size: requested ``(width, height)`` in pixels; default: the driver's current mode.
        fps: requested frames per second; default: the driver's.
        fourcc: requested pixel format (default ``"MJPG"``).
        reconnect, on_state: see :class:`~devices.sources.live.LiveSource`; an unplugged camera
            is reopened when it comes back.

    ``info`` holds what the camera granted: ``{"device", "size", "fps", "fourcc", "requested"}``.

    Raises:
        SourceError: the device cannot be opened.
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
        check_options(uri, options, {"size", "fps", "fourcc"})
        self.path = device_path(uri)
        self.size = parse_size(uri, options.get("size"))
        self.fps = parse_fps(uri, options.get("fps"))
        fourcc = str(options.get("fourcc") or "MJPG")
        if len(fourcc) != 4:
            raise OptionsError(
                f"source {uri}: fourcc must be 4 characters such as 'MJPG' or 'YUYV', got {fourcc!r}"
            )
        self.fourcc = fourcc
        super().__init__(uri, reconnect=reconnect, on_state=on_state)

    def describe(self) -> str:
        return "camera"

    def _open(self) -> Capture:
        return _V4l2Capture(self.path, self.size, self.fps, self.fourcc)
