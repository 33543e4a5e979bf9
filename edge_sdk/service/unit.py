"""A systemd unit for a run config: render, install, uninstall, query.

The unit runs ``edge-sdk run --config FILE`` as a ``Type=notify`` service with a watchdog
(see :mod:`edge_sdk.service.notify`), restarts it when it fails (with a start limit), logs to
the journal and locks it down: ``NoNewPrivileges``, ``ProtectSystem=strict`` with
``ReadWritePaths`` for exactly the gallery and output folders the config names (plus a
``StateDirectory``), ``PrivateTmp``, and a closed device policy that lets through only
cameras (V4L2 and media controller, DMA heaps for libcamera), Edge TPUs (``/dev/apex_*``) and
USB devices (the Coral USB Accelerator).

Relative paths in the config are taken from the config file's folder (the unit's
``WorkingDirectory``).
"""

from __future__ import annotations

import grp
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import OptionsError, ServiceError

DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,200}$")
DEVICES = (
    "char-video4linux",  # /dev/video* (V4L2 cameras, the Pi's ISP)
    "char-media",  # /dev/media* (libcamera / picamera2)
    "char-dma_heap",  # /dev/dma_heap/* (libcamera buffers)
    "char-apex",  # /dev/apex_* (Coral PCIe / M.2 Edge TPU)
    "char-usb_device",  # /dev/bus/usb/* (Coral USB Accelerator through libusb)
)
GROUPS = ("video", "plugdev", "apex")


def check_name(name: str) -> str:
    """A unit name without ``.service``: letters, digits, ``_ . @ -``.

    Raises:
        OptionsError: anything else.
    """
    if isinstance(name, str) and name.endswith(".service"):
        name = name[: -len(".service")]
    if not isinstance(name, str) or not _NAME.match(name):
        raise OptionsError(f"a service name is letters, digits and _ . @ - (no spaces or /), got {name!r}")
    return name


def edge_sdk_command() -> list[str]:
    """The absolute command of this environment's ``edge-sdk``: the console script beside
    the running Python, else the one on PATH, else ``python -m edge_sdk.cli.main``."""
    beside = Path(sys.executable).with_name("edge-sdk")
    if beside.is_file():
        return [str(beside.absolute())]
    found = shutil.which("edge-sdk")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "edge_sdk.cli.main"]


def _exec_arg(text: str) -> str:
    """One ExecStart argument, quoted for systemd (``%`` and ``$`` escaped)."""
    if any(c in text for c in "\n\r\0"):
        raise OptionsError(f"a path in the unit must not contain newlines, got {text!r}")
    text = text.replace("%", "%%").replace("$", "$$")
    if re.search(r"[\s\"'\\;]", text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _path_setting(path: Path) -> str:
    text = str(path)
    if re.search(r"[\s\"'\\%]", text):
        raise OptionsError(f"paths the service writes must not contain spaces, quotes, \\ or %, got {text!r}")
    return text


def writable_paths(config: Any, base: Path) -> list[Path]:
    """Folders the run writes: the gallery's folder and those of ``jsonl:PATH`` and
    ``video:PATH`` sinks, absolute (relative ones from ``base``), without repeats, sorted."""
    out: set[Path] = set()

    def add(p: str) -> None:
        path = Path(p)
        out.add((path if path.is_absolute() else base / path).parent.resolve())

    if getattr(config, "gallery", None):
        add(config.gallery)
    for spec in config.sink:
        uri = spec if isinstance(spec, str) else spec.get("uri", "")
        scheme, _, rest = uri.partition(":")
        if scheme.lower() in ("jsonl", "video") and rest and rest != "-":
            add(urlsplit(rest).path if rest.startswith("//") else rest)
    return sorted(out)


@dataclass(frozen=True)
class UnitOptions:
    """What goes into the unit besides the config.

    Attributes:
        name: unit name (``NAME.service``). user: run as this user (None: root).
        watchdog_s: ``WatchdogSec`` (>= 2 s; the service pings at most every second while
            frames flow). restart_s: ``RestartSec``. start_limit: at most this many starts in
            ``start_limit_s`` seconds before systemd gives up.
        start_timeout_s: time allowed to open the source and load the model (``READY=1``).
    """

    name: str = "edge-sdk"
    user: str | None = None
    watchdog_s: int = 30
    restart_s: int = 5
    start_limit: int = 5
    start_limit_s: int = 300
    start_timeout_s: int = 180

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_name(self.name))
        if self.user is not None and not re.match(r"^[a-z_][a-z0-9_-]*\$?$", self.user or ""):
            raise OptionsError(f"user must be a system user name, got {self.user!r}")
        for field, lo in (
            ("watchdog_s", 2),
            ("restart_s", 1),
            ("start_limit", 1),
            ("start_limit_s", 1),
            ("start_timeout_s", 1),
        ):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise OptionsError(f"{field} must be an integer >= {lo}, got {v!r}")


def render_unit(config_path: str | Path, options: UnitOptions, command: list[str] | None = None) -> str:
    """The unit file text for the run config at ``config_path`` (validated first).

    Raises:
        OptionsError: the config is invalid, or a path cannot be written into a unit.
    """
    from ..pipeline.config import (
        RunConfig,
    )  # lazy: the run config pulls in the whole pipeline; only to read the paths

    path = Path(config_path).absolute()
    config = RunConfig.from_file(path)
    base = path.parent
    cmd = [*(command or edge_sdk_command()), "run", "--config", str(path)]
    rw = writable_paths(config, base)
    groups = []
    for g in GROUPS:
        try:
            grp.getgrnam(g)
            groups.append(g)
        except KeyError:
            continue
    lines = [
        f"# Written by edge-sdk service install for {path}.",
        "# Change the config and reinstall; do not edit by hand.",
        "[Unit]",
        f"Description=edge_sdk {config.task.value} on {config.source} ({options.name})",
        "After=network-online.target",
        "Wants=network-online.target",
        f"StartLimitIntervalSec={options.start_limit_s}",
        f"StartLimitBurst={options.start_limit}",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_exec_arg(a) for a in cmd),
        f"WorkingDirectory={_path_setting(base)}",
    ]
    if options.user:
        lines.append(f"User={options.user}")
        if groups:
            lines.append("SupplementaryGroups=" + " ".join(groups))
    lines += [
        "Restart=on-failure",
        f"RestartSec={options.restart_s}",
        f"WatchdogSec={options.watchdog_s}",
        f"TimeoutStartSec={options.start_timeout_s}",
        "TimeoutStopSec=30",
        "Environment=PYTHONUNBUFFERED=1",
        "StandardOutput=journal",
        "StandardError=journal",
        f"SyslogIdentifier={options.name}",
        "# hardening",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ]
    if rw:
        lines.append("ReadWritePaths=" + " ".join(_path_setting(p) for p in rw))
    lines += [
        f"StateDirectory={options.name}",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "# cameras, Edge TPUs (PCIe and USB); nothing else under /dev",
        "DevicePolicy=closed",
        *(f"DeviceAllow={d} rw" for d in DEVICES),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def unit_path(name: str, unit_dir: str | Path = DEFAULT_UNIT_DIR) -> Path:
    return Path(unit_dir) / f"{check_name(name)}.service"


def install_unit(text: str, name: str, unit_dir: str | Path = DEFAULT_UNIT_DIR) -> Path:
    """Write the unit file atomically (temporary file, then rename); returns its path.

    Raises:
        ServiceError: the folder does not exist or is not writable (run with sudo).
    """
    path = unit_path(name, unit_dir)
    if not path.parent.is_dir():
        raise ServiceError(f"unit folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        hint = " (run it with sudo)" if isinstance(exc, PermissionError) else ""
        raise ServiceError(f"cannot write {path}: {exc.strerror or exc}{hint}") from exc
    return path


def config_of_unit(path: Path) -> Path | None:
    """The ``--config`` file named by a unit's ``ExecStart``, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            import shlex  # lazy: only to quote a unit's ExecStart

            args = shlex.split(line[len("ExecStart=") :].replace("%%", "%").replace("$$", "$"))
            if "--config" in args and args.index("--config") + 1 < len(args):
                return Path(args[args.index("--config") + 1])
    return None


def systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    """Run ``systemctl ARGS`` when systemd is the init system here; None otherwise."""
    exe = shutil.which("systemctl")
    if exe is None or not Path("/run/systemd/system").is_dir():
        return None
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=30, check=False)


def verify_unit(path: Path) -> tuple[bool, str]:
    """``systemd-analyze verify PATH``: (accepted, its output).

    Raises:
        ServiceError: systemd-analyze is not installed.
    """
    exe = shutil.which("systemd-analyze")
    if exe is None:
        raise ServiceError("systemd-analyze is not installed (Debian: apt-get install systemd)")
    proc = subprocess.run([exe, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()
