"""Unit tests run in this process and stay off the network.

An autouse guard makes a unit test fail when it starts a child process (``subprocess``,
``os.system``, ``os.fork``, ``os.posix_spawn``) or connects to, or looks up, a host other than
the loopback interface. A test whose subject *is* a child process (a compiler stand-in, a fresh
interpreter) says so with ``@pytest.mark.subprocess``; a test that needs a remote host says so
with ``@pytest.mark.network``. Tests that drive the CLI or a server end to end belong in
``tests/integration``, which has no guard.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class UnitTestIsolationError(AssertionError):
    """A unit test did something that belongs in tests/integration or needs a marker."""


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: object) -> bool:
    """True for ``None``/empty (the local host), ``localhost`` and addresses in 127.0.0.0/8 or ::1."""
    if host is None or host in ("", b""):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_numeric(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _address_is_local(family: int, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", object()):
        return True
    if isinstance(address, tuple) and address:
        return is_loopback(address[0])
    return False


def _refuse(what: str, marker: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise UnitTestIsolationError(
            f"a unit test tried to {what}; move the test to tests/integration "
            f"or mark it @pytest.mark.{marker}"
        )

    return refuse


@pytest.fixture(autouse=True)
def _unit_isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse child processes and non-loopback connections unless the test is marked."""
    if request.node.get_closest_marker("subprocess") is None:
        start = _refuse("start a child process", "subprocess")
        monkeypatch.setattr(subprocess.Popen, "_execute_child", start)
        for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp", "spawnv", "spawnve"):
            if hasattr(os, name):
                monkeypatch.setattr(os, name, start)

    if request.node.get_closest_marker("network") is None:
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_getaddrinfo = socket.getaddrinfo

        def connect(self: socket.socket, address: Any) -> None:
            if not _address_is_local(self.family, address):
                raise UnitTestIsolationError(
                    f"a unit test tried to connect to {address!r}; only loopback is allowed "
                    "(mark it @pytest.mark.network or move it to tests/integration)"
                )
            real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            if not _address_is_local(self.family, address):
                raise UnitTestIsolationError(f"a unit test tried to connect to {address!r}")
            return real_connect_ex(self, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not (is_loopback(host) or _is_numeric(host)):  # a numeric address needs no DNS
                raise UnitTestIsolationError(
                    f"a unit test tried to resolve {host!r}; only loopback is allowed "
                    "(mark it @pytest.mark.network or move it to tests/integration)"
                )
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
