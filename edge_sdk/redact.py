"""Hide passwords in addresses before they reach any output, log line or error message.

A camera or broker address such as ``rtsp://admin:s3cret@cam/stream`` carries a password. Only
the capture library or the MQTT client get the raw address; everything else (``Frame.source``,
JSON lines, MQTT topics and payloads, the preview, logs, errors) shows
``rtsp://admin:***@cam/stream``.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@ — the password runs to the last "@" before the path. Userinfo cannot
# hold "/" or whitespace, so the match never leaves the authority.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@?#]*):(?P<pw>[^\s/?#]*)@")


def redact(text: str) -> str:
    """Return ``text`` with the password of every ``scheme://user:password@`` in it masked.

    Works on a bare address and on any message that contains addresses; text without one is
    returned unchanged. Linear in ``len(text)``.
    """
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks passwords in the fully formatted message of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
