"""Bounded, regular-file-only reads and atomic writes, for every file a user names.

A path such as ``/dev/zero`` would be read until memory runs out, and a FIFO would block
forever; these helpers open the file without blocking, check that it is a regular file and
that it is no larger than a cap, and then read at most that many bytes. Writes go to a
temporary file in the same folder and are renamed over the target, so a crash never leaves a
half-written file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

LABELS_MAX_BYTES = 16 * 1024 * 1024
"""Largest label file read: 16 MiB (ImageNet-21k's labels are about 0.5 MiB)."""

CONFIG_MAX_BYTES = 4 * 1024 * 1024
"""Largest run config read: 4 MiB."""

MAX_NESTING = 64
"""Deepest nesting of brackets accepted in a JSON (or dict-literal) document we parse."""

# a quoted string (double or single quotes, with escapes): its brackets do not nest
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', re.S)
_DEPTH = np.zeros(256, np.int8)
_DEPTH[[ord(c) for c in "[{("]] = 1
_DEPTH[[ord(c) for c in "]})"]] = -1


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting (``[``, ``{``, ``(``) of ``text`` outside quoted strings.

    Linear in the length of the text and never recursive, so it is safe on hostile input: a
    recursive parser (``json.loads``, ``ast.literal_eval``) given a million ``[`` may overflow
    the C stack and crash the process when a library has raised the recursion limit.
    """
    bare = _QUOTED.sub("", text).encode("utf-8", "replace")
    if not bare:
        return 0
    steps = _DEPTH[np.frombuffer(bare, np.uint8)].astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def loads_json(text: str | bytes, what: str, error: Callable[[str], Exception]) -> Any:
    """``json.loads`` for a document from outside the program (a file, a message).

    Raises:
        the ``error`` type: not UTF-8, not valid JSON, or nested deeper than
            :data:`MAX_NESTING`; the message names ``what``.
    """
    try:
        doc = text.decode("utf-8-sig") if isinstance(text, bytes) else text
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text (byte {exc.start}); expected JSON") from None
    depth = nesting_depth(doc)
    if depth > MAX_NESTING:
        raise error(f"{what} nests JSON {depth} levels deep; expected at most {MAX_NESTING}")
    try:
        return json.loads(doc)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:  # a recursion limit lowered below MAX_NESTING by the application
        raise error(f"{what} nests JSON too deeply; expected at most {MAX_NESTING} levels") from None


def describe_kind(mode: int) -> str:
    """A noun for a file type: "directory", "FIFO", "character device" ..."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: str | Path) -> str | None:
    """None for an existing regular file; else why not ("does not exist", "is a FIFO ...").

    Uses ``stat`` only, so it never blocks on a FIFO or reads a device.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if stat.S_ISREG(mode) else f"is {describe_kind(mode)}"


def open_regular(path: str | Path, what: str, error: Callable[[str], Exception]) -> int:
    """Open ``path`` for reading without blocking and return the descriptor of a regular file.

    Raises:
        the exception ``error(message)`` builds: the file is missing or unreadable, or is a
            FIFO, device, socket or folder (the message names ``what`` and the path).
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"cannot read {what} {p}: it does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{what} {p} is {describe_kind(mode)}; expected a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular_file(
    path: str | Path, what: str, max_bytes: int, error: Callable[[str], Exception]
) -> bytes:
    """Read a whole regular file of at most ``max_bytes`` bytes.

    Args:
        what: a noun for messages ("label file", "config").
        max_bytes: the cap; a larger file is refused before anything is read, and a file that
            grows while being read is cut off at ``max_bytes + 1`` bytes and refused.
        error: builds the exception to raise from a message.

    Raises:
        the exception ``error`` builds: see :func:`open_regular`, or the file is over the cap.
    """
    fd = open_regular(path, what, error)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise error(f"{what} {path} is {size} bytes; expected at most {max_bytes}")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} is over {max_bytes} bytes; expected at most {max_bytes}")
    return data


def atomic_write(path: str | Path, write: Callable[[Path], None], *, overwrite: bool) -> None:
    """Create ``path`` through a temporary file in the same folder and a rename.

    Args:
        write: writes the content to the temporary path it is given (its suffix is kept, so
            encoders that choose a format by extension still work).
        overwrite: replace an existing file; otherwise an existing ``path`` is an error.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: the folder is not writable; the temporary file is removed.
    """
    target = Path(path)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target} exists")
    import tempfile  # lazy: tempfile pulls in random, shutil...; only to write a file

    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile; where hard links are not allowed
            # (FAT), fall back to a rename after a last check.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise
            except OSError:
                if os.path.lexists(target):
                    raise FileExistsError(f"{target} exists") from None
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


class OutputGuard:
    """Refuses output paths that would destroy an input or an existing file.

    Args:
        inputs: every file the run reads (images, videos, model, labels); compared after
            resolving links and ``..``.
        overwrite: allow replacing an existing file that is not an input.
        error: builds the exception raised.
    """

    def __init__(
        self, inputs: list[Path] | tuple[Path, ...], *, overwrite: bool, error: Callable[[str], Exception]
    ) -> None:
        self.inputs = {_resolved(p) for p in inputs}
        self.overwrite = overwrite
        self.error = error

    def check(self, path: Path, what: str) -> None:
        """Raise unless ``path`` may be written.

        Raises:
            the exception ``error`` builds: ``path`` resolves to an input, or exists and
                ``overwrite`` is false.
        """
        if _resolved(path) in self.inputs:
            raise self.error(f"{what} {path} is one of the inputs; choose another output path")
        if not self.overwrite and os.path.lexists(path):
            raise self.error(f"{what} {path} exists; pass --overwrite to replace it")


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a link loop: compare as given
        return Path(os.path.abspath(path))
