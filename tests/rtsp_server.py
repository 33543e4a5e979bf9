"""A real RTSP server on loopback, serving a video file, for the RTSP fault tests.

The server runs GStreamer's RTSP server (``gir1.2-gst-rtsp-server-1.0``, ``python3-gi`` and the
good plugins: Debian packages) in a child process of the *system* Python, which has ``gi``
(the test venv does not). :class:`RtspServer` starts it, waits until it listens, and can kill
it (SIGKILL, like a camera losing power) and start it again on the same port.

Run directly (``/usr/bin/python3 tests/rtsp_server.py PORT MOUNT VIDEO.mp4``) it serves
``rtsp://127.0.0.1:PORT/MOUNT`` until killed; the video is an MPEG-4 part 2 (``mp4v``) file
in an MP4 container, sent as RTP without re-encoding, in real time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_server_available() -> str | None:
    """None when the system Python can run GStreamer's RTSP server; else why not."""
    if not Path(SYSTEM_PYTHON).is_file():
        return f"{SYSTEM_PYTHON} not found"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert Gst.ElementFactory.find('rtpmp4vpay') and Gst.ElementFactory.find('qtdemux')"
    )
    r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return (
            "GStreamer's RTSP server is not installed for the system Python (apt-get install "
            "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good): "
            + (r.stderr.strip().splitlines() or ["?"])[-1]
        )
    return None


class RtspServer:
    """``rtsp://127.0.0.1:PORT/MOUNT`` serving ``video``; ``start()``, ``kill()``, ``stop()``."""

    def __init__(self, video: Path, port: int, mount: str = "stream") -> None:
        self.video = video
        self.port = port
        self.mount = mount
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.mount}"

    def start(self, timeout: float = 30.0) -> RtspServer:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, __file__, str(self.port), self.mount, str(self.video)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"RTSP server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"RTSP server did not listen on {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing its sessions."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    stop = kill


def _serve(port: int, mount: str, video: str) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{video}" ! qtdemux ! queue ! rtpmp4vpay name=pay0 pt=96 )')
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{mount}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    GLib.MainLoop().run()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
