"""JSON Lines sink: one object per frame, on stdout (``jsonl:-``) or appended to a file."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
    A file gets each line in one unbuffered write; when a write fails (disk full), the torn
    line is truncated away before the :class:`SinkError`, so the file holds only whole lines.

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
        self._raw: io.FileIO | None = None  # the file, unbuffered: each line is one write
        self.lines = 0

    def _open_file(self) -> io.FileIO:
        if self._raw is None:
            assert self.path is not None
            try:
                self._raw = io.FileIO(self.path, "a")
            except OSError as exc:
                raise SinkError(f"cannot open {self.path} for appending: {exc.strerror or exc}") from exc
        return self._raw

    def write(self, result: TaskResult) -> None:
        line = dumps(result.record) + "\n"
        if self.path is None:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise SinkError(f"cannot write to stdout: {exc.strerror or exc}") from exc
            self.lines += 1
            return
        raw = self._open_file()
        data = memoryview(line.encode("utf-8"))
        start = os.fstat(raw.fileno()).st_size
        try:
            while data:  # unbuffered: a short write (the disk filling up) is retried, then fails
                n = raw.write(data)
                if not n:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                data = data[n:]
            if self.fsync:
                os.fsync(raw.fileno())
        except OSError as exc:
            # Cut the torn line off, so the file stays valid JSON Lines (every line whole).
            with contextlib.suppress(OSError):
                os.ftruncate(raw.fileno(), start)
            raise SinkError(
                f"cannot write to {self.path}: {exc.strerror or exc} (the partial line was removed; "
                f"{self.lines} line(s) written by this run are complete)"
            ) from exc
        self.lines += 1

    def close(self) -> None:
        f, self._raw = self._raw, None
        if f is not None:
            try:
                f.close()
            except OSError as exc:
                raise SinkError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
