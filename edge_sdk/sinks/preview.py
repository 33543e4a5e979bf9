"""Live preview sink: a small web page with the annotated video and the latest results.

``preview:PORT`` serves on 127.0.0.1 (this machine only); ``preview:HOST:PORT`` on another
address (``preview:0.0.0.0:8080`` or ``preview:[::]:8080`` for the whole network).
``preview:0`` picks a free port (see :attr:`PreviewSink.url`).

Protection:

- Beyond loopback a **token** is required: given as ``token=`` (option or ``?token=`` in the
  URI) or generated and logged once with the page's address. Browsers send it as
  ``?token=…`` on the first visit; the page then sets a cookie (``HttpOnly``,
  ``SameSite=Strict``) for its own requests.
- The ``Host`` header must name loopback, the bound address, an IP address literal, this
  machine's host name, or a name in ``hosts=``; any other name gets 421 (this defeats DNS
  rebinding, where a web page reaches the preview under the attacker's domain name).
- At most ``max_clients`` connections at once (503 beyond); each socket times out after
  ``timeout_s`` seconds without progress; :meth:`PreviewSink.close` ends every connection
  and joins its thread.
- Every response carries ``X-Content-Type-Options: nosniff``, a restrictive
  ``Content-Security-Policy`` with ``frame-ancestors 'none'``, and a ``Server`` header
  without the Python version.

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

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import threading
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

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


def _inline_hash(tag: str) -> str:
    body = re.search(rf"<{tag}>(.*?)</{tag}>", INDEX_HTML, re.S)
    assert body is not None
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; img-src 'self'; connect-src 'self'; "
    f"script-src {_inline_hash('script')}; style-src {_inline_hash('style')}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of every response: only this page's own inline script and style,
requests to its own origin, and no framing by other pages."""

COOKIE = "edge_sdk_preview_token"
DEFAULT_MAX_CLIENTS = 16
DEFAULT_TIMEOUT_S = 10.0


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def split_query(uri: str) -> tuple[str, dict[str, str]]:
    """``preview:...?a=1&b=2`` -> ``("preview:...", {"a": "1", "b": "2"})``."""
    base, _, query = uri.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def parse_address(uri: str) -> tuple[str, int]:
    """``preview:PORT`` or ``preview:HOST:PORT`` -> ``(host, port)``; host default 127.0.0.1.

    IPv6 addresses go in brackets: ``preview:[::1]:8080``. A query string is ignored here.

    Raises:
        OptionsError: not a port in 0..65535, or an empty or malformed host.
    """
    uri = uri.partition("?")[0]
    rest = uri.split(":", 1)[1] if ":" in uri else ""
    host, _, port_text = rest.rpartition(":")
    host = host.strip("[]") if host else "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise OptionsError(f"expected preview:[host:]port, got {uri!r}") from None
    if not 0 <= port <= 65535 or not host:
        raise OptionsError(f"expected preview:[host:]port with a port in 0..65535, got {uri!r}")
    if ":" in host and not _is_ip_literal(host.split("%", 1)[0]):
        raise OptionsError(f"expected an IPv6 address in brackets, e.g. preview:[::1]:8080, got {uri!r}")
    return host, port


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
    b"Retry-After: 5\r\nConnection: close\r\n\r\ntoo many viewers\r\n"
)


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``max_clients`` at once; tracks them for close()."""

    daemon_threads = True
    allow_reuse_address = True
    sink: PreviewSink

    def __init__(self, address: tuple[str, int], max_clients: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(max_clients)
        self._lock = threading.Lock()
        self._active: dict[socket.socket, threading.Thread | None] = {}
        super().__init__(address, _Handler, bind_and_activate=True)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        with self._lock:
            self._active[request] = t
        t.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._active.pop(request, None)
            self._slots.release()

    def active_connections(self) -> int:
        with self._lock:
            return len(self._active)

    def drop_connections(self, timeout: float) -> None:
        """End every open connection and wait up to ``timeout`` s for their threads."""
        with self._lock:
            active = list(self._active.items())
        for sock, _ in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in active:
            if thread is not None:
                thread.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "edge-sdk-preview"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.sink.timeout_s)

    def version_string(self) -> str:
        return self.server_version  # no Python version

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("preview %s: %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, cookie: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if cookie is not None:
            self.send_header("Set-Cookie", f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict")
        self.end_headers()
        self.wfile.write(body)

    def _host_allowed(self, sink: PreviewSink) -> bool:
        header = (self.headers.get("Host") or "").strip().lower()
        if not header:
            return False
        m = re.fullmatch(r"\[([0-9a-f:.%a-z]+)\](?::\d+)?|([^:\[\]]+)(?::\d+)?", header)
        if m is None:
            return False
        host = (m.group(1) or m.group(2) or "").rstrip(".")
        return host in sink.allowed_hosts or _is_ip_literal(host.split("%", 1)[0])

    def _token_given(self, sink: PreviewSink, query: dict[str, list[str]]) -> tuple[bool, bool]:
        """(authorised, came from the query string)."""
        if sink.token is None:
            return True, False
        expected = sink.token.encode()
        for value in query.get("token", []):
            if hmac.compare_digest(value.encode(), expected):
                return True, True
        raw = self.headers.get("Cookie")
        if raw:
            try:
                jar = SimpleCookie(raw)
            except CookieError:
                return False, False
            morsel = jar.get(COOKIE)
            if morsel is not None and hmac.compare_digest(morsel.value.encode(), expected):
                return True, False
        return False, False

    def do_GET(self) -> None:
        sink = self.server.sink
        parts = urlsplit(self.path)
        try:
            if not self._host_allowed(sink):
                self._send(HTTPStatus.MISDIRECTED_REQUEST, b"unknown host name\n", "text/plain")
                return
            query = parse_qs(parts.query)
            authorised, from_query = self._token_given(sink, query)
            if not authorised:
                self._send(
                    HTTPStatus.UNAUTHORIZED,
                    b"a token is needed: open the address printed at start\n",
                    "text/plain",
                )
                return
            cookie = sink.token if from_query else None
            if parts.path in ("/", "/index.html"):
                self._send(200, INDEX_HTML.encode(), "text/html; charset=utf-8", cookie)
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
                limit = int(query["frames"][0]) if "frames" in query else None
                self._stream(sink, limit)
            elif parts.path == "/events":
                self._events(sink)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the viewer went away, or stalled past timeout_s
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

    def __init__(
        self,
        uri: str,
        *,
        jpeg_quality: int = 80,
        token: str | None = None,
        hosts: tuple[str, ...] | list[str] | str = (),
        max_clients: int = DEFAULT_MAX_CLIENTS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        base, query = split_query(uri)
        self.uri = base
        unknown = sorted(set(query) - {"token", "hosts", "max_clients", "timeout_s", "jpeg_quality"})
        if unknown:
            raise OptionsError(f"unknown preview option(s) {', '.join(unknown)} in the URI")
        if "token" in query:
            token = token or query["token"]
        if "hosts" in query:
            hosts = query["hosts"]
        try:
            if "max_clients" in query:
                max_clients = int(query["max_clients"])
            if "timeout_s" in query:
                timeout_s = float(query["timeout_s"])
            if "jpeg_quality" in query:
                jpeg_quality = int(query["jpeg_quality"])
        except ValueError:
            raise OptionsError(f"preview options in {base!r} must be numbers") from None
        self.host, port = parse_address(base)
        if not isinstance(jpeg_quality, int) or not 1 <= jpeg_quality <= 100:
            raise OptionsError(f"jpeg_quality must be an integer in 1..100, got {jpeg_quality!r}")
        if not isinstance(max_clients, int) or not 1 <= max_clients <= 1000:
            raise OptionsError(f"max_clients must be an integer in 1..1000, got {max_clients!r}")
        if not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 3600:
            raise OptionsError(f"timeout_s must be a number of seconds in (0, 3600], got {timeout_s!r}")
        if token is not None and (
            not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9._~-]{16,256}", token)
        ):
            raise OptionsError("the preview token must be 16..256 URL-safe characters (A-Z a-z 0-9 . _ ~ -)")
        names = hosts.split(",") if isinstance(hosts, str) else list(hosts)
        self.jpeg_quality = jpeg_quality
        self.timeout_s = float(timeout_s)
        self.loopback_only = _is_loopback(self.host)
        self.token_generated = token is None and not self.loopback_only
        self.token: str | None = secrets.token_urlsafe(24) if self.token_generated else token
        hostname = socket.gethostname().lower()
        self.allowed_hosts = frozenset(
            {"localhost", "127.0.0.1", "::1", self.host.lower(), hostname, f"{hostname}.local"}
            | {n.strip().lower().rstrip(".") for n in names if n.strip()}
        )
        try:
            self._server = _Server((self.host, port), max_clients)
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
        """The page's address, e.g. ``http://127.0.0.1:8080/`` (with ``?token=`` when one is needed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={quote(self.token)}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    def open(self, context: SinkContext) -> None:
        self.context = context
        if self.token_generated:
            log.warning(
                "preview at %s (the token was generated for this run; keep the address private)", self.url
            )
        else:
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
        self._server.drop_connections(timeout=2.0)
