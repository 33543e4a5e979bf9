"""The conversion's private work folder, and clean-up of folders left by killed conversions.

``convert`` works in ``$TMPDIR/edge_sdk_convert_XXXX`` (copies of the input, onnx2tf's
SavedModel, the compiler's files). Python removes it when the conversion ends, even on an
error, but not after SIGKILL or a power cut. Each work folder therefore holds an ``owner``
file naming its process (pid and start time); :func:`clean_stale` removes the folders whose
process is gone, and the hidden ``.NAME.PID.XXXX.part`` files that
:func:`converters.files.atomic_write` leaves next to an output when killed mid-write. Every
conversion calls it first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "edge_sdk_convert_"
OWNER = "owner"
# A folder without an owner file (made by an older version, or killed before writing it) is
# removed once it is this old.
ORPHAN_AGE_S = 24 * 3600
_PART = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.part$")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    if start is None:
        return True
    now = _start_time(pid)
    return now is None or now == start  # a reused pid has another start time


def _owner_alive(folder: Path) -> bool | None:
    try:
        pid_text, _, start = (folder / OWNER).read_text().strip().partition(" ")
        return _alive(int(pid_text), start or None)
    except (OSError, ValueError):
        return None


def clean_stale(temp_root: Path | None = None, output_folders: tuple[Path, ...] = ()) -> list[Path]:
    """Remove work folders and ``.part`` files whose conversion process is gone; return them."""
    removed: list[Path] = []
    root = Path(temp_root or tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for folder in root.glob(f"{PREFIX}*"):
            if not folder.is_dir() or folder.is_symlink():
                continue
            alive = _owner_alive(folder)
            if alive is None:
                with contextlib.suppress(OSError):
                    alive = time.time() - folder.stat().st_mtime < ORPHAN_AGE_S
            if alive is False:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    for out in output_folders:
        with contextlib.suppress(OSError):
            for part in out.iterdir():
                m = _PART.match(part.name)
                if m and part.is_file() and not _alive(int(m.group("pid")), None):
                    part.unlink(missing_ok=True)
                    removed.append(part)
    for p in removed:
        log.info("removed %s, left by a conversion that was killed", p)
    return removed


@contextlib.contextmanager
def work_folder() -> Iterator[Path]:
    """A private work folder marked with this process as its owner; removed on exit."""
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        work = Path(tmp)
        (work / OWNER).write_text(f"{os.getpid()} {_start_time(os.getpid()) or ''}\n")
        yield work
