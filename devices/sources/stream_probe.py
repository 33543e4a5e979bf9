"""Why a stream did not open: one short probe after FFmpeg failed, so errors can say which.

OpenCV's FFmpeg backend reports only that a stream could not be opened. IP cameras fail in a
few common ways that the user fixes differently: nothing listens (wrong host or port, camera
off), the path is wrong (RTSP ``404``), or the credentials are (``401``). After FFmpeg fails,
:func:`diagnose_stream` connects once to the host and port, and for ``rtsp://`` sends one
``DESCRIBE`` (without the user name or password: they are never sent in clear by this probe)
and reads the status line. It returns a typed :class:`~edge_sdk.errors.SourceError` or
``None`` when the probe cannot tell (the caller keeps FFmpeg's generic message).
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

from edge_sdk.errors import SourceError, StreamAuthError, StreamNotFoundError, StreamRefusedError

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
_STATUS = re.compile(rb"^(RTSP|HTTP)/\d\.\d (\d{3}) ?([^\r\n]*)")


def diagnose_stream(uri: str, timeout_s: float) -> SourceError | None:
    """A typed error naming why ``uri`` did not open, or None when a probe cannot tell.

    The message never contains the password (it names host, port and path only).
    """
    try:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not host or port is None or scheme not in _DEFAULT_PORTS:
        return None
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except ConnectionRefusedError:
        return StreamRefusedError(
            f"connection refused by {where}: nothing listens there (check the host, the port and "
            "that the camera's RTSP/HTTP service is on)"
        )
    except OSError:
        return None
    with sock:
        if scheme != "rtsp":
            return None
        path = parts.path or "/"
        netloc = f"[{host}]:{port}" if ":" in host else where
        request = f"DESCRIBE rtsp://{netloc}{path}{'?' + parts.query if parts.query else ''} RTSP/1.0\r\n"
        request += "CSeq: 1\r\nAccept: application/sdp\r\nUser-Agent: edge-sdk\r\n\r\n"
        try:
            sock.settimeout(timeout_s)
            sock.sendall(request.encode("utf-8", "replace"))
            head = sock.recv(512)
        except OSError:
            return None
    m = _STATUS.match(head)
    if m is None:
        return None
    code, reason = int(m.group(2)), m.group(3).decode("ascii", "replace").strip()
    if code == 404:
        return StreamNotFoundError(
            f"the RTSP server at {where} has no stream at path {path!r} ({code} {reason}); check the path"
        )
    if code in (401, 403):
        if parts.username is None:
            return StreamAuthError(
                f"the RTSP server at {where} needs a user name and password ({code} {reason}); "
                "give them as rtsp://user:password@host/path"
            )
        return StreamAuthError(
            f"the RTSP server at {where} asks for credentials ({code} {reason}) and the stream did not "
            "open with the ones given; check the user name and password"
        )
    return None
