"""Where tensors run, as :class:`~edge_sdk.model.Model` needs it: the accelerator spec and the
delegates it loads.

An accelerator is named by a short spec string:

- ``cpu`` or ``cpu:N``: XNNPACK on N threads (default: every core this process may use);
- ``edgetpu``, ``edgetpu:usb``, ``edgetpu:usb:N``, ``edgetpu:pci:N``: the Edge TPU delegate,
  loaded from ``libedgetpu.so.1`` (Linux), ``libedgetpu.1.dylib`` (macOS) or ``edgetpu.dll``.

This is core: it loads nothing from ``devices``. Finding the Edge TPUs plugged in (without
loading anything) and the board are ``devices.accelerators`` and ``devices.board``.
"""

from __future__ import annotations

import enum
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import AcceleratorError, OptionsError
from .validate import int_at_least


class AcceleratorKind(str, enum.Enum):
    CPU = "cpu"
    EDGETPU = "edgetpu"


EDGETPU_LIBRARIES = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}

EDGETPU_HINT = (
    "install the Edge TPU runtime (Debian/Raspberry Pi OS: 'sudo apt-get install libedgetpu1-std' "
    "from the Coral package repository), plug the Coral in, and check that it is listed by 'edge-sdk devices'"
)


def default_num_threads() -> int:
    """Threads for XNNPACK when none are asked for: the cores this process may use (its
    affinity mask where the OS has one). On a board this never exceeds its core count (4 on a
    Raspberry Pi 3/4/5 and the Coral Dev Board), which ``devices.board`` reports."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class ListedEdgeTpu(Protocol):
    """An Edge TPU found on this machine (``devices.accelerators.EdgeTpuDevice``)."""

    @property
    def device(self) -> str:
        """The delegate's ``device`` option, e.g. ``"usb:0"``."""
        ...


@dataclass(frozen=True)
class Accelerator:
    """A parsed accelerator spec. ``device`` is the Edge TPU ``device`` option (``usb``,
    ``usb:0``, ``pci:0``) or None for "any".

    ``cpu_twin``: for an Edge TPU spec, the CPU model to fall back to when the Edge TPU
    delegate fails to load or fails while running (a USB Edge TPU unplugged, a broken
    ``libedgetpu``): :class:`~edge_sdk.model.Model` then logs a warning and runs ``cpu_twin``
    on the CPU. None (the default, and what ``--strict`` gives) raises instead.
    :func:`devices.pairing.resolve_model` sets it when a ``model.tflite`` twin exists.
    """

    kind: AcceleratorKind = AcceleratorKind.CPU
    num_threads: int | None = None
    device: str | None = None
    cpu_twin: Path | None = None

    def __post_init__(self) -> None:
        int_at_least("num_threads", self.num_threads, 1, optional=True)

    @classmethod
    def parse(cls, spec: str | Accelerator | None) -> Accelerator:
        """Parse ``cpu``, ``cpu:N``, ``edgetpu``, ``edgetpu:usb[:N]`` or ``edgetpu:pci:N``.

        Raises:
            OptionsError: the spec is not one of those forms.
        """
        if spec is None:
            return cls()
        if isinstance(spec, Accelerator):
            return spec
        text = spec.strip().lower()
        parts = text.split(":")
        expected = "expected cpu, cpu:N, edgetpu, edgetpu:usb, edgetpu:usb:N or edgetpu:pci:N"
        if parts[0] == "cpu":
            if len(parts) == 1:
                return cls()
            if len(parts) == 2 and parts[1].isdigit():
                return cls(AcceleratorKind.CPU, int(parts[1]))
        elif parts[0] == "edgetpu":
            if len(parts) == 1:
                return cls(AcceleratorKind.EDGETPU)
            if parts[1] == "usb" and (len(parts) == 2 or (len(parts) == 3 and parts[2].isdigit())):
                return cls(AcceleratorKind.EDGETPU, device=":".join(parts[1:]))
            if parts[1] == "pci" and len(parts) == 3 and parts[2].isdigit():
                return cls(AcceleratorKind.EDGETPU, device=":".join(parts[1:]))
        raise OptionsError(f"unknown accelerator {spec!r}; {expected}")

    @property
    def threads(self) -> int:
        return self.num_threads or default_num_threads()

    def __str__(self) -> str:
        if self.kind is AcceleratorKind.CPU:
            return f"cpu:{self.threads}"
        return "edgetpu" + (f":{self.device}" if self.device else "")

    def matches(self, tpu: ListedEdgeTpu) -> bool:
        """Whether this (Edge TPU) spec would accept ``tpu``: any TPU for ``edgetpu``, a USB one
        for ``edgetpu:usb``, exactly that one for ``edgetpu:usb:N`` / ``edgetpu:pci:N``."""
        if self.kind is not AcceleratorKind.EDGETPU:
            return False
        if not self.device:
            return True
        if ":" in self.device:
            return self.device == tpu.device
        return self.device == tpu.device.split(":")[0]

    def load_delegates(self, load_delegate: Any) -> list[Any]:
        """Load this accelerator's delegates with the backend's ``load_delegate``.

        Raises:
            AcceleratorError: the Edge TPU library or device is missing, with the install hint.
        """
        if self.kind is AcceleratorKind.CPU:
            return []
        library = EDGETPU_LIBRARIES.get(platform.system(), "libedgetpu.so.1")
        options = {"device": self.device} if self.device else {}
        reason = ""
        # ai-edge-litert's Delegate.__del__ fails with AttributeError on a delegate whose library
        # never loaded, and Python prints that as "Exception ignored ..." when the failed object
        # is freed (at the end of the except clause). Keep stderr to our one line.
        previous = sys.unraisablehook
        sys.unraisablehook = _quiet_failed_delegate(previous)
        try:
            try:
                return [load_delegate(library, options)]
            except (ValueError, OSError, RuntimeError) as exc:
                reason = str(exc)
        finally:
            sys.unraisablehook = previous
        where = f" {self.device}" if self.device else ""
        raise AcceleratorError(
            f"no Edge TPU{where} could be opened through {library} ({reason}); {EDGETPU_HINT}"
        )


def _quiet_failed_delegate(previous: Any) -> Any:
    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, AttributeError) and "Delegate" in repr(unraisable.object):
            return
        previous(unraisable)

    return hook
