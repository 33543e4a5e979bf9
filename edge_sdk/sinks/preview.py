"""Live preview sink: a small web page with the annotated video and the latest results.

``preview:PORT`` serves on 127.0.0.1 (this machine only); ``preview:HOST:PORT`` on another
address (``preview:0.0.0.0:8080`` for the whole network: there is no authentication).
``preview:0`` picks a free port (see :attr:`PreviewSink.url`).

Routes (standard library ``http.server``, one thread per client):

=================  ==================================================================
``/``              the page: the MJPEG stream, the latest results as text and JSON
``/stream.mjpg``   annotated frames as ``multipart/x-mixed-replace`` JPEGs (MJPEG);
                   ``?frames=N`` ends the stream after N frames
``/frame.jpg``     the latest annotated frame (503 before the first)
``/results``       the latest record as JSON (``null`` before the first)
``/events``        server-sent events: one ``data: {record}`` per result
=================  ==================================================================

The pipeline only stores a reference to the latest result: frames are drawn and JPEG-encoded
on the server's threads, once per frame, and only while someone watches.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import cv2

from ..errors import OptionsError, SinkError
from .annotate import annotate
from .base import Sink, SinkContext
from .jsonl import dumps

if TYPE_CHECKING:
    from ..tasks.base import TaskResult

log = logging.getLogger(__name__)

_BOUNDARY = "edgesdkframe"

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-sdk preview</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1em; background: #111; color: #eee; }
#video { max-width: 100%; background: #222; min-width: 320px; min-height: 240px; }
#summary li { font-family: monospace; }
pre { background: #222; padding: .5em; overflow: auto; max-height: 40vh; }
.meta { color: #aaa; }
</style></head>
<body>
<h1>edge-sdk preview <span class="meta" id="task"></span></h1>
<img id="video" src="stream.mjpg" alt="annotated live video">
<p class="meta">source <span id="source">-</span>, frame <span id="frame">-</span>,
image <span id="image-size">0x0</span>, <span id="status">waiting for results</span></p>
<ul id="summary"></ul>
<pre id="results">null</pre>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function describe(rec) {
  if (rec.classes) return rec.classes.map((c) => (c.label ?? c.id) + " " +
      (c.fraction !== undefined ? (100 * c.fraction).toFixed(1) + "%" : c.score.toFixed(3)));
  if (rec.poses) return rec.poses.map((p) => "person " + p.score.toFixed(3) + ", " +
      p.keypoints.filter((k) => k.score >= 0.2).length + " keypoints");
  if (rec.detections) return rec.detections.map((d) => (d.label ?? d.id) + " " + d.score.toFixed(3) +
      " [" + d.box.join(", ") + "]");
  if (rec.faces) return rec.faces.map((f) => (f.identity ?? "unknown") + " " + f.score.toFixed(3));
  return [];
}
let count = 0;
function show(rec) {
  if (!rec) return;
  count += 1;
  $("source").textContent = rec.source;
  $("frame").textContent = rec.frame;
  $("status").textContent = count + " result(s) received";
  const ul = $("summary");
  ul.replaceChildren(...describe(rec).map((t) => { const li = document.createElement("li");
    li.textContent = t; return li; }));
  $("results").textContent = JSON.stringify(rec, null, 1);
}
function poll() { fetch("results").then((r) => r.json()).then(show).catch(() => {}); }
// the first results synchronously, so the page shows them as soon as it has loaded
try { const x = new XMLHttpRequest(); x.open("GET", "results", false); x.send();
  if (x.status === 200) show(JSON.parse(x.responseText)); } catch (e) { poll(); }
if (window.EventSource) {
  const es = new EventSource("events");
  es.onmessage = (e) => show(JSON.parse(e.data));
  es.onerror = () => { $("status").textContent = "disconnected; retrying"; };
} else { setInterval(poll, 500); }
function size() { const img = $("video");
  $("image-size").textContent = img.naturalWidth + "x" + img.naturalHeight; }
$("video").addEventListener("load", size);
size();
setInterval(size, 100);
fetch("info").then((r) => r.json()).then((i) => { $("task").textContent = i.task; }).catch(() => {});
</script>
</body></html>
"""


def parse_address(uri: str) -> tuple[str, int]:
    """``preview:PORT`` or ``preview:HOST:PORT`` -> ``(host, port)``; host default 127.0.0.1.

    Raises:
        OptionsError: not a port in 0..65535, or an empty host.
    """
    rest = uri.split(":", 1)[1] if ":" in uri else ""
    host, _, port_text = rest.rpartition(":")
    host = host.strip("[]") if host else "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise OptionsError(f"expected preview:[host:]port, got {uri!r}") from None
    if not 0 <= port <= 65535 or not host:
        raise OptionsError(f"expected preview:[host:]port with a port in 0..65535, got {uri!r}")
    return host, port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: PreviewSink


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("preview %s: %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        sink = self.server.sink
        parts = urlsplit(self.path)
        try:
            if parts.path in ("/", "/index.html"):
                self._send(200, INDEX_HTML.encode(), "text/html; charset=utf-8")
            elif parts.path == "/results":
                self._send(200, sink.latest_json().encode(), "application/json")
            elif parts.path == "/info":
                self._send(200, json.dumps(sink.info()).encode(), "application/json")
            elif parts.path == "/frame.jpg":
                _seq, jpeg = sink.latest_jpeg()
                if jpeg is None:
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain")
                else:
                    self._send(200, jpeg, "image/jpeg")
            elif parts.path == "/stream.mjpg":
                query = parse_qs(parts.query)
                limit = int(query["frames"][0]) if "frames" in query else None
                self._stream(sink, limit)
            elif parts.path == "/events":
                self._events(sink)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the viewer went away
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, b"bad query\n", "text/plain")

    def _stream(self, sink: PreviewSink, limit: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = -1
        sent = 0
        while limit is None or sent < limit:
            seq = sink.wait_newer(seq, timeout=1.0)
            if sink.closing:
                break
            got, jpeg = sink.latest_jpeg()
            if jpeg is None:
                continue
            seq = got
            self.wfile.write(
                f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )
            self.wfile.flush()
            sent += 1
        if limit is not None:
            self.wfile.write(f"--{_BOUNDARY}--\r\n".encode())

    def _events(self, sink: PreviewSink) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"retry: 1000\n\n")
        seq = -1
        while not sink.closing:
            new = sink.wait_newer(seq, timeout=1.0)
            if new == seq:
                self.wfile.write(b": keep-alive\n\n")  # notices a closed client
                self.wfile.flush()
                continue
            seq = new
            self.wfile.write(f"data: {sink.latest_json()}\n\n".encode())
            self.wfile.flush()


class PreviewSink(Sink):
    """Serve a live preview page (see the module docstring).

    Args:
        uri: ``preview:[host:]port``.
        jpeg_quality: JPEG quality of the stream, 1..100 (default 80).

    The server socket is bound when the sink is built (a port in use fails early) and
    stops when the sink is closed (open streams end).

    Raises:
        OptionsError: bad address or quality. SinkError: the address cannot be bound.
    """

    def __init__(self, uri: str, *, jpeg_quality: int = 80) -> None:
        self.uri = uri
        self.host, port = parse_address(uri)
        if not isinstance(jpeg_quality, int) or not 1 <= jpeg_quality <= 100:
            raise OptionsError(f"jpeg_quality must be an integer in 1..100, got {jpeg_quality!r}")
        self.jpeg_quality = jpeg_quality
        try:
            self._server = _Server((self.host, port), _Handler, bind_and_activate=True)
        except OSError as exc:
            raise SinkError(f"preview cannot listen on {self.host}:{port}: {exc.strerror or exc}") from exc
        self._server.sink = self
        self.port = int(self._server.server_address[1])
        self.closing = False
        self.context: SinkContext | None = None
        self._cond = threading.Condition()
        self._seq = -1
        self._latest: TaskResult | None = None
        self._jpeg: tuple[int, bytes] | None = None
        self._encode_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="edge-sdk-preview",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8080/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def open(self, context: SinkContext) -> None:
        self.context = context
        log.warning("preview at %s", self.url)

    def info(self) -> dict[str, Any]:
        c = self.context
        return {"source": c.source if c else None, "task": c.task if c else None, "frames": self._seq + 1}

    def write(self, result: TaskResult) -> None:
        with self._cond:
            self._latest = result
            self._seq += 1
            self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> int:
        """The latest sequence number once it is newer than ``seq`` (or after ``timeout`` s)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq != seq or self.closing, timeout)
            return self._seq

    def latest_json(self) -> str:
        with self._cond:
            latest = self._latest
        return "null" if latest is None else dumps(latest.record)

    def latest_jpeg(self) -> tuple[int, bytes | None]:
        """``(sequence, JPEG bytes)`` of the latest annotated frame, encoded once per frame."""
        with self._cond:
            seq, latest = self._seq, self._latest
        if latest is None:
            return seq, None
        with self._encode_lock:
            if self._jpeg is not None and self._jpeg[0] == seq:
                return self._jpeg
            image = annotate(latest)  # our own copy: convert it to BGR in place
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=image)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                return seq, None
            self._jpeg = (seq, buf.tobytes())
            return self._jpeg

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)
