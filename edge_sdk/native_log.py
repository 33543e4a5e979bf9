"""Silence the TFLite runtime's INFO lines on stderr (for the CLI's one-line error contract).

The C++ runtime prints lines such as "INFO: Created TensorFlow Lite XNNPACK delegate for
CPU." straight to file descriptor 2. :func:`filtered_stderr` captures fd 2 around a call and
re-emits every line that is not INFO, so warnings and errors still reach the user.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_enabled = False


def enable(flag: bool = True) -> None:
    """Turn filtering on (the CLI does, unless ``--debug``). Off by default for library users."""
    global _enabled
    _enabled = flag


def is_enabled() -> bool:
    """Whether native-log filtering is on (the CLI without ``--debug``)."""
    return _enabled


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    if not _enabled:
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    import tempfile  # lazy: tempfile pulls in random, shutil...; only when filtering is on

    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not line.startswith("INFO:"):
                    print(line, file=sys.stderr)
