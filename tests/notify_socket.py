"""A stand-in for systemd's notify socket: a bound AF_UNIX datagram socket that a test reads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class NotifySocket:
    """A bound AF_UNIX datagram socket, like systemd's; ``messages`` as dicts, in order."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path if not path.startswith("@") else "\0" + path[1:])
        self.sock.settimeout(0.1)
        self.messages: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = dict(line.split("=", 1) for line in data.decode().split("\n"))
            with self._cond:
                self.messages.append(msg)
                self._cond.notify_all()

    def wait(
        self, predicate: Callable[[list[dict[str, str]]], bool], timeout: float = 20.0
    ) -> list[dict[str, str]]:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.messages), timeout), self.messages
            return list(self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
