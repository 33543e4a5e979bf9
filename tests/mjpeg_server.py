"""A real MJPEG-over-HTTP server (``multipart/x-mixed-replace``) on 127.0.0.1, for the stream
source tests and bench/capture.py. It can be stopped mid-stream (every client connection is
cut) and started again on the same port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "edgesdkframe"


def make_frames(count: int, size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """``count`` JPEG frames of ``size`` (width, height), each with a different colour band."""
    w, h = size
    out = []
    for i in range(count):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, :, 2] = 40 + (i * 7) % 200  # red channel in BGR
        x = (i * 13) % max(1, w - 20)
        img[:, x : x + 20, 1] = 255
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        out.append(buf.tobytes())
    return out


class MjpegServer:
    """Serve ``frames`` in a loop at ``fps`` (0 = as fast as the client reads) at
    ``http://127.0.0.1:PORT/stream.mjpg``."""

    def __init__(self, frames: list[bytes], fps: float = 30.0, port: int = 0) -> None:
        self.frames = frames
        self.stall_after: int | None = None  # per connection: stop sending (socket stays open)
        self.fps = fps
        self.port = port
        self.sent = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.cut_at = 0.0  # time.monotonic() when stop() cut the client connections

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if not self.path.startswith("/stream.mjpg"):
                    self.send_error(404)
                    return
                with server._lock:
                    server._conns.add(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                period = 1.0 / server.fps if server.fps > 0 else 0.0
                i = 0
                next_t = time.monotonic()
                try:
                    while not server._stopping.is_set():
                        if server.stall_after is not None and i >= server.stall_after:
                            time.sleep(0.02)
                            continue
                        jpg = server.frames[i % len(server.frames)]
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n".encode()
                            + jpg
                            + b"\r\n"
                        )
                        server.sent += 1
                        i += 1
                        if period:
                            next_t += period
                            delay = next_t - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                except OSError:
                    pass
                finally:
                    with server._lock:
                        server._conns.discard(self.connection)

        self._stopping.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every client connection (like a camera losing power)."""
        self.cut_at = time.monotonic()
        self._stopping.set()  # handlers stop within one frame and close their sockets
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
