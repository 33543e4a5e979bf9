"""Which board this is: Raspberry Pi 3/4/5, Coral Dev Board, another Linux machine, or a Mac.

Read from ``/proc/device-tree/model`` (a NUL-terminated string on ARM boards, absent on PCs);
nothing is executed and nothing is loaded.
"""

from __future__ import annotations

import enum
import functools
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


class BoardKind(str, enum.Enum):
    RASPBERRY_PI_3 = "raspberry_pi_3"
    RASPBERRY_PI_4 = "raspberry_pi_4"
    RASPBERRY_PI_5 = "raspberry_pi_5"
    RASPBERRY_PI = "raspberry_pi"  # another Raspberry Pi (Zero, 1, 2, CM3 ...)
    CORAL_DEV_BOARD = "coral_dev_board"
    LINUX = "linux"
    MACOS = "macos"
    OTHER = "other"


# Cores per board, where known: the default number of XNNPACK threads.
_CORES = {
    BoardKind.RASPBERRY_PI_3: 4,
    BoardKind.RASPBERRY_PI_4: 4,
    BoardKind.RASPBERRY_PI_5: 4,
    BoardKind.CORAL_DEV_BOARD: 4,
}


@dataclass(frozen=True)
class Board:
    """The machine edge_sdk runs on.

    Attributes:
        kind: the board family.
        model: the device-tree model string (e.g. ``"Raspberry Pi 4 Model B Rev 1.4"``), else
            the OS and CPU (``"Linux x86_64"``).
        system: ``platform.system()`` (``"Linux"``, ``"Darwin"`` ...).
        machine: ``platform.machine()`` (``"aarch64"``, ``"x86_64"`` ...).
        cpus: cores this process may use.
    """

    kind: BoardKind
    model: str
    system: str
    machine: str
    cpus: int

    @property
    def default_threads(self) -> int:
        """XNNPACK threads to use when none are asked for: the usable cores, at most the
        board's core count where it is known."""
        known = _CORES.get(self.kind)
        return max(1, min(self.cpus, known) if known else self.cpus)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["default_threads"] = self.default_threads
        return d


def board_kind_from_model(model: str, system: str) -> BoardKind:
    """The :class:`BoardKind` a device-tree model string names on ``system`` (``platform.system()``).

    ``model`` is the board's own name, e.g. ``"Raspberry Pi 4 Model B Rev 1.4"`` from
    ``/proc/device-tree/model``; unknown names fall back to the operating system.
    """
    text = model.strip().lower()
    if text.startswith("raspberry pi"):
        if text.startswith(("raspberry pi 5", "raspberry pi compute module 5")):
            return BoardKind.RASPBERRY_PI_5
        if text.startswith(("raspberry pi 4", "raspberry pi compute module 4", "raspberry pi 400")):
            return BoardKind.RASPBERRY_PI_4
        if text.startswith(("raspberry pi 3", "raspberry pi compute module 3", "raspberry pi zero 2")):
            return BoardKind.RASPBERRY_PI_3
        return BoardKind.RASPBERRY_PI
    if "phanbell" in text or "coral" in text:
        return BoardKind.CORAL_DEV_BOARD
    if system == "Darwin":
        return BoardKind.MACOS
    if system == "Linux":
        return BoardKind.LINUX
    return BoardKind.OTHER


def usable_cpus() -> int:
    """Cores this process may run on (affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def read_board(device_tree_model: Path = DEVICE_TREE_MODEL, system: str | None = None) -> Board:
    """Detect the board from ``device_tree_model`` (a parameter so tests can point it elsewhere)."""
    system = system or platform.system()
    machine = platform.machine()
    try:
        model = device_tree_model.read_bytes().rstrip(b"\x00").decode("utf-8", "replace").strip()
    except OSError:
        model = ""
    if not model:
        model = f"{'macOS' if system == 'Darwin' else system} {machine}".strip()
    return Board(board_kind_from_model(model, system), model, system, machine, usable_cpus())


@functools.cache
def detect_board() -> Board:
    """The board this process runs on (read once and cached)."""
    return read_board()
