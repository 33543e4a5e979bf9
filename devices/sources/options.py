"""Option checking shared by the source backends."""

from __future__ import annotations

from typing import Any

from edge_sdk.errors import OptionsError
from edge_sdk.redact import redact


def check_options(uri: str, options: dict[str, Any], allowed: set[str]) -> None:
    """Reject options a backend does not understand.

    Raises:
        OptionsError: an unknown option name, naming the accepted ones.
    """
    unknown = set(options) - allowed
    if unknown:
        raise OptionsError(
            f"source {redact(uri)}: unknown options {sorted(unknown)}; expected some of {sorted(allowed)}"
        )


def parse_size(uri: str, size: Any) -> tuple[int, int] | None:
    """``size`` as ``(width, height)`` positive ints, or None.

    Raises:
        OptionsError: not a pair of positive integers.
    """
    if size is None:
        return None
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise OptionsError(f"source {redact(uri)}: size must be (width, height), got {size!r}") from None
    if w < 2 or h < 2:
        raise OptionsError(f"source {redact(uri)}: size must be at least (2, 2) pixels, got {(w, h)}")
    return w, h


def parse_fps(uri: str, fps: Any) -> float | None:
    """``fps`` as a positive float, or None.

    Raises:
        OptionsError: not a positive number.
    """
    if fps is None:
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise OptionsError(f"source {redact(uri)}: fps must be a number > 0, got {fps!r}") from None
    if not value > 0:
        raise OptionsError(f"source {redact(uri)}: fps must be > 0, got {value}")
    return value
