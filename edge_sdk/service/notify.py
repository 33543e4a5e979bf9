"""The systemd notify protocol (``sd_notify``): one datagram to ``$NOTIFY_SOCKET``.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` naming a Unix datagram socket
(a path, or ``@name`` for the abstract namespace) and, when the unit has ``WatchdogSec``,
``WATCHDOG_USEC`` (microseconds) and ``WATCHDOG_PID``. The service sends newline-separated
``KEY=value`` assignments: ``READY=1`` once it works, ``WATCHDOG=1`` at least once per
watchdog period while it is healthy, ``STATUS=...`` (one line shown by ``systemctl status``)
and ``STOPPING=1``. Without ``NOTIFY_SOCKET`` (not under systemd) :class:`Notifier` does
nothing, so the same code runs in a terminal.

This is a 40-line client of the documented wire format, not a binding of libsystemd.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

from ..errors import OptionsError

log = logging.getLogger(__name__)


class Notifier:
    """Send notify messages to ``$NOTIFY_SOCKET`` (or to ``address``).

    Args:
        address: socket path, or ``@name`` for an abstract socket; default
            ``$NOTIFY_SOCKET``. None/empty: every call is a no-op (``enabled`` is False).
        environ: where to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

    Attributes:
        watchdog_s: the watchdog period in seconds from ``WATCHDOG_USEC`` (None: no
            watchdog, or ``WATCHDOG_PID`` names another process).

    Raises:
        OptionsError: ``WATCHDOG_USEC`` is not a positive integer.
    """

    def __init__(self, address: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = address if address is not None else env.get("NOTIFY_SOCKET", "")
        self.watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec:
            try:
                value = int(usec)
                if value <= 0:
                    raise ValueError
            except ValueError:
                raise OptionsError(f"WATCHDOG_USEC must be a positive integer, got {usec!r}") from None
            if not pid or pid == str(os.getpid()):
                self.watchdog_s = value / 1e6
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.sent: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def _target(self) -> str:
        # abstract namespace: a leading "@" stands for the NUL byte
        return "\0" + self.address[1:] if self.address.startswith("@") else self.address

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (``notify(READY=1, STATUS="...")``); True when sent.

        Send errors are logged, not raised: a service must not die because systemd went away.
        Newlines in values are replaced by spaces (one assignment per line)."""
        if not self.enabled or not fields:
            return False
        text = "\n".join(f"{k}={str(v).replace(chr(10), ' ')}" for k, v in fields.items())
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(text.encode("utf-8"), self._target())
            except OSError as exc:
                log.warning("sd_notify to %s failed: %s", self.address, exc)
                return False
            self.sent += 1
            return True

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
