"""How a live source reconnects: the backoff policy and the state changes it reports.

After a lost connection (read error, end of stream, read timeout) a new connection is tried
after ``initial_delay_s``, then ``initial_delay_s * factor``, ... capped at ``max_delay_s``,
for at most ``max_attempts`` attempts (``None``: forever). Each change of state is reported
as a :class:`StateChange`. The loop that applies the policy is
:meth:`devices.sources.live.LiveSource._reconnect`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_sdk.errors import OptionsError

from .base import SourceState


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a live source waits for frames and reconnects (all times in seconds).

    Attributes:
        initial_delay_s: wait before the first reconnection attempt.
        factor: each further attempt waits ``factor`` times longer ...
        max_delay_s: ... up to this cap.
        max_attempts: attempts per outage before the source reports FAILED; None retries forever.
        read_timeout_s: no frame for this long means the connection is lost (a read that never
            returns).
        open_timeout_s: how long one attempt to open the device may take.

    Raises:
        OptionsError: a negative or zero time, ``factor < 1``, or ``max_attempts < 1``.
    """

    initial_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 10.0
    max_attempts: int | None = None
    read_timeout_s: float = 5.0
    open_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("initial_delay_s", "max_delay_s"):
            if getattr(self, name) < 0:
                raise OptionsError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        for name in ("read_timeout_s", "open_timeout_s"):
            if getattr(self, name) <= 0:
                raise OptionsError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.factor < 1:
            raise OptionsError(f"factor must be >= 1, got {self.factor}")
        if self.max_delay_s < self.initial_delay_s:
            raise OptionsError(
                f"max_delay_s ({self.max_delay_s}) must be >= initial_delay_s ({self.initial_delay_s})"
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise OptionsError(f"max_attempts must be >= 1 or None, got {self.max_attempts}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.initial_delay_s * self.factor ** max(0, attempt - 1)))


@dataclass(frozen=True)
class StateChange:
    """One state change of a live source, as passed to ``on_state``.

    Attributes:
        state: the new state.
        uri: the source.
        time: ``time.monotonic()`` when it changed.
        attempt: the reconnection attempt under way (0 for the first connection).
        error: why the connection was lost or the attempt failed, else None.
        gap_s: on CONNECTED after an outage: seconds from the last frame before the loss to the
            first frame after it; else None.
    """

    state: SourceState
    uri: str
    time: float
    attempt: int = 0
    error: str | None = None
    gap_s: float | None = None


StateCallback = Callable[[StateChange], None]
