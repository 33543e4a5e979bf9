"""One lifecycle for everything that holds a resource: ``close()`` plus the context manager.

:class:`~edge_sdk.model.Model`, every task, every source and every sink derive from
:class:`Closeable`, so ``with X(...) as x:`` always works and ``close()`` may be called any
number of times: the first call releases (``_release``), later calls do nothing.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_C = TypeVar("_C", bound="Closeable")


class Closeable:
    """Base of the closeable objects; subclasses override :meth:`_release`."""

    _closed: bool = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Release what this object holds; idempotent (only the first call releases)."""
        if self._closed:
            return
        self._closed = True
        self._release()

    def _release(self) -> None:
        """Free resources; called once, by the first :meth:`close`."""

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
