"""Choose the TFLite interpreter backend: ai-edge-litert, else tflite-runtime, else tf.lite.

The choice can be forced with the environment variable ``EDGE_SDK_BACKEND``
(``ai_edge_litert``, ``tflite_runtime`` or ``tensorflow``). TensorFlow is only ever imported
when it is the last resort or is asked for by name.
"""

from __future__ import annotations

import enum
import functools
import importlib
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BackendError

ENV_VAR = "EDGE_SDK_BACKEND"


class BackendName(str, enum.Enum):
    """The interpreter packages edge_sdk can run on, in order of preference."""

    AI_EDGE_LITERT = "ai_edge_litert"
    TFLITE_RUNTIME = "tflite_runtime"
    TENSORFLOW = "tensorflow"


_MODULES = {
    BackendName.AI_EDGE_LITERT: ("ai_edge_litert.interpreter", "ai-edge-litert"),
    BackendName.TFLITE_RUNTIME: ("tflite_runtime.interpreter", "tflite-runtime"),
    BackendName.TENSORFLOW: ("tensorflow.lite.python.interpreter", "tensorflow"),
}


@dataclass(frozen=True)
class Backend:
    """An imported interpreter backend.

    ``interpreter_cls`` is the ``Interpreter`` class; ``load_delegate`` loads an external
    delegate library (for example ``libedgetpu.so.1``) and raises ``ValueError`` or ``OSError``
    when it cannot, like the real function.
    """

    name: BackendName
    version: str
    interpreter_cls: Any
    load_delegate: Callable[..., Any]


def _installed_version(dist: str) -> str | None:
    """The installed distribution's version, or None. ``importlib.metadata`` walks
    site-packages (~15 ms at start-up), so it is only imported when asked."""
    from importlib import (
        metadata,  # lazy: importlib.metadata costs ~15 ms of start-up; only to report versions
    )

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _distribution_version(dist: str, module_name: str) -> str:
    """The backend's version: its package's ``__version__`` (free: it is already imported),
    else the installed distribution's."""
    top = importlib.import_module(module_name.split(".")[0])
    version = getattr(top, "__version__", None)
    if isinstance(version, str) and version:
        return version
    for candidate in (dist, "tensorflow-cpu") if dist == "tensorflow" else (dist,):
        found = _installed_version(candidate)
        if found:
            return found
    return "unknown"


def arm_cpuinfo_problem() -> str | None:
    """Why ai-edge-litert >= 2.2 would crash on this machine, or None when it will not.

    Its bundled cpuinfo library segfaults while initialising XNNPACK when ``/proc/cpuinfo``
    has no ARM ``CPU implementer``/``CPU part`` lines: never on a real ARM kernel, but on
    aarch64 emulated by QEMU user mode 7.x, which shows the x86 host's file (docs/portability.md).
    """
    if platform.system() != "Linux" or platform.machine() not in ("aarch64", "arm64"):
        return None
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    if "CPU implementer" in text and "CPU part" in text:
        return None
    try:
        major, minor = (int(x) for x in (_installed_version("ai-edge-litert") or "").split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (2, 2):
        return None
    return (
        "/proc/cpuinfo has no ARM CPU entries (an x86 host seen through QEMU user mode 7.x?) and "
        "ai-edge-litert >= 2.2 crashes on that; use QEMU >= 8, give the guest an ARM /proc/cpuinfo, "
        "or pip install 'ai-edge-litert<2.2'"
    )


def _import(name: BackendName) -> Backend:
    module_name, dist = _MODULES[name]
    if name is BackendName.AI_EDGE_LITERT:
        problem = arm_cpuinfo_problem()
        if problem:
            raise ImportError(problem)
    module = importlib.import_module(module_name)
    return Backend(name, _distribution_version(dist, module_name), module.Interpreter, module.load_delegate)


@functools.cache
def get_backend() -> Backend:
    """Return the backend in use, importing it on first call.

    Raises:
        BackendError: ``EDGE_SDK_BACKEND`` names an unknown or uninstalled backend, or none
            of the three is installed.
    """
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced:
        try:
            name = BackendName(forced)
        except ValueError:
            choices = ", ".join(b.value for b in BackendName)
            raise BackendError(f"{ENV_VAR}={forced!r} is not a backend; expected one of {choices}") from None
        try:
            return _import(name)
        except ImportError as exc:
            raise BackendError(
                f"{ENV_VAR}={forced} but that backend cannot be imported ({exc}); "
                f"install it with: pip install {_MODULES[name][1]}"
            ) from exc
    errors = []
    for name in BackendName:
        try:
            return _import(name)
        except ImportError as exc:
            errors.append(f"{name.value}: {exc}")
    raise BackendError(
        "no TFLite interpreter is installed (tried " + "; ".join(errors) + "); "
        "install one with: pip install ai-edge-litert"
    )
