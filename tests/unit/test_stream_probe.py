"""Why a stream did not open: ``devices.sources.stream_probe.diagnose_stream`` on loopback.

A one-shot RTSP responder answers the probe's ``DESCRIBE`` with a chosen status line; the
request it received is checked too (the password is never sent by the probe).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from devices.sources.stream_probe import diagnose_stream
from edge_sdk.errors import StreamAuthError, StreamNotFoundError, StreamRefusedError


class Responder:
    """Accepts one connection on 127.0.0.1, records the request, answers ``status``."""

    def __init__(self, status: bytes) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.status = status
        self.request = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            while b"\r\n\r\n" not in self.request:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                self.request += chunk
            conn.sendall(self.status + b"\r\nCSeq: 1\r\n\r\n")

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def respond() -> Iterator[list[Responder]]:
    made: list[Responder] = []
    yield made
    for r in made:
        r.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("status", "user", "error", "message"),
    [
        (b"RTSP/1.0 404 Not Found", "", StreamNotFoundError, r"no stream at path '/cam/x' \(404 Not Found\)"),
        (b"RTSP/1.0 401 Unauthorized", "", StreamAuthError, "needs a user name and password"),
        (b"RTSP/1.0 401 Unauthorized", "admin:s3cret@", StreamAuthError, "check the user name and password"),
        (b"RTSP/1.0 403 Forbidden", "admin:s3cret@", StreamAuthError, r"\(403 Forbidden\)"),
        (b"RTSP/1.0 200 OK", "", None, None),
        (b"garbage", "", None, None),
    ],
)
def test_rtsp_status_names_the_cause(
    respond: list[Responder], status: bytes, user: str, error: type[Exception] | None, message: str | None
) -> None:
    r = Responder(status)
    respond.append(r)
    found = diagnose_stream(f"rtsp://{user}127.0.0.1:{r.port}/cam/x", 5.0)
    if error is None:
        assert found is None
    else:
        assert isinstance(found, error) and message is not None
        with pytest.raises(error, match=message):
            raise found
        assert "s3cret" not in str(found)
    r.thread.join(5)
    assert r.request.startswith(f"DESCRIBE rtsp://127.0.0.1:{r.port}/cam/x RTSP/1.0\r\n".encode())
    assert b"s3cret" not in r.request and b"admin" not in r.request


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_refused_connection(scheme: str) -> None:
    port = _free_port()
    found = diagnose_stream(f"{scheme}://u:s3cret@127.0.0.1:{port}/x", 5.0)
    assert isinstance(found, StreamRefusedError)
    assert f"connection refused by 127.0.0.1:{port}" in str(found) and "s3cret" not in str(found)


@pytest.mark.parametrize("uri", ["rtsp://", "rtsp://[::1/x", "file:///x", "rtsp://127.0.0.1:99999/x"])
def test_what_it_cannot_tell_is_none(uri: str) -> None:
    assert diagnose_stream(uri, 1.0) is None
