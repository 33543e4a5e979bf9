"""Preview server hardening (issue 17, defect 4): Host allow-list, token beyond loopback,
client cap and socket timeouts, security headers, IPv6 binding. Real sockets on loopback."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.sinks import SinkContext, open_sink
from edge_sdk.sinks.preview import PreviewSink
from tests.integration.test_run_preview import chromium, classify, dom_text, needs_browser, result_of

__all__ = ["classify"]  # the fixture, imported for the browser test

TOKEN = "test-token-0123456789abcdef"


def request(
    port: int, path: str = "/", *, host: str | None = None, headers: dict[str, str] | None = None,
    addr: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn = http.client.HTTPConnection(addr, port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def sink() -> Any:
    s = PreviewSink("preview:0", hosts=("cam.lan",))
    s.open(SinkContext("camera", "classify"))
    yield s
    s.close()


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example:{port}", 421),
        ("evil.example", 421),
        ("127.0.0.1.nip.io:{port}", 421),
        ("", 421),
        ("localhost:{port}", 200),
        ("127.0.0.1:{port}", 200),
        ("[::1]:{port}", 200),
        ("cam.lan:{port}", 200),
        ("CAM.LAN.", 200),
        ("192.168.1.20:{port}", 200),  # an address literal cannot be rebound
    ],
)
def test_host_header_allow_list(sink: PreviewSink, host: str, status: int) -> None:
    for path in ("/", "/results", "/info", "/frame.jpg"):
        got, _, _ = request(sink.port, path, host=host.format(port=sink.port))
        assert got == status or (status == 200 and path == "/frame.jpg" and got == 503), (path, got)


def test_security_headers_and_no_python_version(sink: PreviewSink) -> None:
    for path in ("/", "/results", "/nope"):
        _, headers, _ = request(sink.port, path)
        assert headers["x-content-type-options"] == "nosniff"
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert headers["server"] == "edge-sdk-preview", headers["server"]
    _, headers, _ = request(sink.port, "/", host="evil.example")
    assert "python" not in headers["server"].lower()


def test_token_is_required_when_given(tmp_path: Path) -> None:
    s = PreviewSink("preview:127.0.0.1:0", token=TOKEN)
    try:
        s.open(SinkContext("camera", "classify"))
        assert request(s.port, "/")[0] == 401
        assert request(s.port, "/results?token=wrong-token-0123456789")[0] == 401
        status, headers, _ = request(s.port, f"/?token={TOKEN}")
        assert status == 200
        cookie = headers["set-cookie"]
        assert cookie.startswith(f"edge_sdk_preview_token={TOKEN};") and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert request(s.port, "/results", headers={"Cookie": f"edge_sdk_preview_token={TOKEN}"})[0] == 200
        assert request(s.port, "/info", headers={"Cookie": "edge_sdk_preview_token=nope"})[0] == 401
    finally:
        s.close()


def test_token_is_generated_and_logged_once_beyond_loopback(caplog: pytest.LogCaptureFixture) -> None:
    s = PreviewSink("preview:0.0.0.0:0")
    try:
        assert s.token and len(s.token) >= 24
        with caplog.at_level(logging.WARNING, logger="edge_sdk.sinks.preview"):
            s.open(SinkContext("camera", "classify"))
        assert sum(s.token in r.getMessage() for r in caplog.records) == 1
        assert request(s.port, "/")[0] == 401
        assert request(s.port, f"/?token={s.token}")[0] == 200
        assert f"?token={s.token}" in s.url
    finally:
        s.close()
    other = PreviewSink("preview:0.0.0.0:0")
    try:
        assert other.token != s.token
    finally:
        other.close()


def test_token_in_the_uri_and_bad_tokens(tmp_path: Path) -> None:
    s = open_sink(f"preview:127.0.0.1:0?token={TOKEN}")
    try:
        assert isinstance(s, PreviewSink) and s.token == TOKEN
    finally:
        s.close()
    with pytest.raises(OptionsError, match=r"16\.\.256 URL-safe"):
        PreviewSink("preview:0", token="short")
    with pytest.raises(OptionsError, match="unknown preview option"):
        PreviewSink("preview:0?tokn=x")


def _idle_connections(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(c)
    return socks


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_client_cap_answers_503_and_close_leaves_no_threads() -> None:
    """200 half-open connections left 200 threads, even after close()."""
    before = threading.active_count()
    s = PreviewSink("preview:0", max_clients=8, timeout_s=30)
    s.open(SinkContext("camera", "classify"))
    socks: list[socket.socket] = []
    try:
        socks = _idle_connections(s.port, 50)
        assert _wait(lambda: s._server.active_connections() == 8)
        status, _headers, body = request(s.port, "/results")
        assert status == 503 and b"too many viewers" in body
        assert threading.active_count() <= before + 8 + 2  # 8 handlers + the server thread (+ slack 1)
    finally:
        s.close()
        for c in socks:
            c.close()
    assert s._server.active_connections() == 0
    assert _wait(lambda: threading.active_count() <= before), (before, threading.enumerate())


def test_idle_connections_time_out() -> None:
    s = PreviewSink("preview:0", timeout_s=0.5)
    try:
        (c,) = _idle_connections(s.port, 1)
        c.settimeout(20)
        assert c.recv(100) == b"", "the server closes a connection that sends nothing"
        c.close()
        assert _wait(lambda: s._server.active_connections() == 0)
        assert request(s.port, "/info")[0] == 200
    finally:
        s.close()


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as t:
            t.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_binds_ipv6_addresses() -> None:
    s = PreviewSink("preview:[::1]:0")
    try:
        assert s.url == f"http://[::1]:{s.port}/" and s.token is None
        status, _, body = request(s.port, "/info", host=f"[::1]:{s.port}", addr="::1")
        assert status == 200 and b'"frames"' in body
    finally:
        s.close()


def test_malformed_ipv6_address_is_an_options_error() -> None:
    with pytest.raises(OptionsError, match=r"IPv6 address in brackets|expected preview"):
        PreviewSink("preview:::zz:0")


@needs_browser
def test_browser_page_works_with_a_token_cookie(classify: Any, assets: Path, tmp_path: Path) -> None:
    """The first visit carries ?token=; the page's own requests then use the cookie (and the CSP
    lets its inline script run)."""
    s = PreviewSink("preview:127.0.0.1:0", token=TOKEN)
    try:
        s.open(SinkContext("camera", "classify"))
        s.write(result_of(classify, assets, "parrot.jpg", 0))
        dom = chromium(s.url, tmp_path, "--dump-dom")
        assert "macaw 0.9" in dom_text(dom, "summary")
        assert dom_text(dom, "image-size") == "512x929", "the MJPEG stream loaded with the cookie"
    finally:
        s.close()
