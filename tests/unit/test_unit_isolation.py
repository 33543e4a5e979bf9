"""The tests/unit guard (tests/unit/conftest.py): child processes and remote hosts are refused
unless the test is marked, loopback stays usable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import UnitTestIsolationError, is_loopback


def test_an_unmarked_unit_test_cannot_start_a_child_process() -> None:
    with pytest.raises(UnitTestIsolationError, match=r"child process.*tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with pytest.raises(UnitTestIsolationError):
        os.system("true")


@pytest.mark.subprocess
def test_the_subprocess_marker_lets_a_child_run() -> None:
    out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42"


def test_an_unmarked_unit_test_cannot_reach_a_remote_host() -> None:
    with socket.socket() as s, pytest.raises(UnitTestIsolationError, match=r"192\.0\.2\.1"):
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: refused before any packet is sent
    with pytest.raises(UnitTestIsolationError, match=r"example\.com"):
        socket.getaddrinfo("example.com", 80)
    with pytest.raises(UnitTestIsolationError):
        socket.create_connection(("example.com", 80), timeout=1)


def test_loopback_stays_usable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (b"localhost", True),
        ("", True),
        (None, True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: object, loopback: bool) -> None:
    assert is_loopback(host) is loopback
