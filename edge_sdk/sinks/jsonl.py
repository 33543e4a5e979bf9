"""JSON Lines sink: one object per frame, on stdout (``jsonl:-``) or appended to a file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..errors import OptionsError, SinkError
from .base import Sink

if TYPE_CHECKING:
    from ..tasks.base import TaskResult


def dumps(record: dict[str, object]) -> str:
    """One record as one line of JSON (no trailing newline), as ``edge-sdk classify`` prints it."""
    return json.dumps(record, separators=(", ", ": "), ensure_ascii=False)


class JsonlSink(Sink):
    """Write each result's record as one JSON line.

    Args:
        uri: ``jsonl:-`` for stdout, ``jsonl:PATH`` to append to ``PATH`` (created if missing;
            its folder must exist).
        fsync: also ``os.fsync`` after every line (survives power loss; slower on SD cards).

    Every line is flushed as soon as it is written, so ``tail -f`` and pipes see results live.

    Raises:
        OptionsError: empty path or a missing folder. SinkError: the file cannot be opened or
        written (permissions, disk full).
    """

    def __init__(self, uri: str, *, fsync: bool = False) -> None:
        self.uri = uri
        target = uri.split(":", 1)[1] if ":" in uri else ""
        if not target:
            raise OptionsError(f"jsonl sink needs a path or '-' for stdout, got {uri!r}")
        if not isinstance(fsync, bool):
            raise OptionsError(f"fsync must be true or false, got {fsync!r}")
        self.fsync = fsync
        self.path: Path | None = None if target == "-" else Path(target)
        if self.path is not None and not self.path.parent.is_dir():
            raise OptionsError(f"jsonl sink {uri}: folder {self.path.parent} does not exist")
        self._file: IO[str] | None = None
        self.lines = 0

    def _stream(self) -> IO[str]:
        if self._file is None:
            if self.path is None:
                self._file = sys.stdout
            else:
                try:
                    self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
                except OSError as exc:
                    raise SinkError(f"cannot open {self.path} for appending: {exc.strerror or exc}") from exc
        return self._file

    def write(self, result: TaskResult) -> None:
        stream = self._stream()
        try:
            stream.write(dumps(result.record) + "\n")
            stream.flush()
            if self.fsync and self.path is not None:
                os.fsync(stream.fileno())
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise SinkError(f"cannot write to {self.path or 'stdout'}: {exc.strerror or exc}") from exc
        self.lines += 1

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None and f is not sys.stdout:
            try:
                f.close()
            except OSError as exc:
                raise SinkError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
