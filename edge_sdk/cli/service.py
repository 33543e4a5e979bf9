"""``edge-sdk service install|uninstall|status``: run a config as a systemd service.

``install`` checks the config, writes ``NAME.service`` (``--dry-run``: prints it instead) and
says how to enable it. ``uninstall`` removes the unit and the Home Assistant discovery
configs the run published (empty retained messages). ``status`` shows the unit and, under
systemd, its state. See :mod:`edge_sdk.service.unit`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ServiceError


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 seconds, got {value}")
    return value


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "service",
        help="install a run config as a systemd service (watchdog, journal, hardening)",
        description="Install, remove or query a systemd unit that runs `edge-sdk run --config FILE` "
        "with Type=notify, a watchdog that fires when frames stop, restarts on failure, journal "
        "logging and a locked-down sandbox.",
    )
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    i = ss.add_parser("install", help="write the unit (or print it with --dry-run)")
    i.add_argument("--config", "-c", required=True, help="the run config (JSON) the service runs")
    i.add_argument("--name", default="edge-sdk", help="unit name (default edge-sdk)")
    i.add_argument("--user", default=None, help="run as this user (default root)")
    i.add_argument("--unit-dir", default="/etc/systemd/system", help="where the unit goes")
    i.add_argument("--watchdog", type=_seconds, default=30, help="WatchdogSec, seconds (30)")
    i.add_argument("--dry-run", action="store_true", help="print the unit on stdout, write nothing")
    u = ss.add_parser("uninstall", help="remove the unit and the Home Assistant discovery configs")
    u.add_argument("name", help="unit name")
    u.add_argument("--unit-dir", default="/etc/systemd/system")
    u.add_argument("--config", "-c", default=None, help="the run config (default: the one the unit names)")
    u.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    s = ss.add_parser("status", help="the unit file and, under systemd, its state")
    s.add_argument("name", help="unit name")
    s.add_argument("--unit-dir", default="/etc/systemd/system")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return {"install": _install, "uninstall": _uninstall, "status": _status}[args.action](args)


def _install(args: argparse.Namespace) -> int:
    from ..service.unit import UnitOptions, install_unit, render_unit  # lazy: CLI start-up

    opts = UnitOptions(name=args.name, user=args.user, watchdog_s=args.watchdog)
    text = render_unit(args.config, opts)
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    path = install_unit(text, opts.name, args.unit_dir)
    print(f"edge-sdk: wrote {path}", file=sys.stderr)
    print(
        f"edge-sdk: enable and start it with: sudo systemctl daemon-reload && "
        f"sudo systemctl enable --now {opts.name}\n"
        f"edge-sdk: follow it with: journalctl -u {opts.name} -f",
        file=sys.stderr,
    )
    print(str(path))
    return 0


def _discovery_to_clear(config_path: Path) -> tuple[Any, str, list[str]] | None:
    """(broker, wildcard pattern, known topics) of the config's Home Assistant configs, or
    None when the config publishes none."""
    from ..pipeline.config import RunConfig  # lazy: CLI start-up
    from ..pipeline.service_options import node_id  # lazy: CLI start-up
    from ..service.homeassistant import discovery_configs  # lazy: CLI start-up

    config = RunConfig.from_file(config_path)
    svc = config.service_options()
    if not svc.home_assistant or svc.broker is None:
        return None
    known: list[str] = []
    for task in ("classify", "detect", "faces"):
        known += list(discovery_configs(svc, task, None, "").keys())
    pattern = f"{svc.discovery_prefix}/+/{node_id(svc.host)}/+/config"
    return svc.broker, pattern, sorted(set(known))


def _uninstall(args: argparse.Namespace) -> int:
    from ..service.unit import config_of_unit, systemctl, unit_path  # lazy: CLI start-up

    path = unit_path(args.name, args.unit_dir)
    config_path = Path(args.config) if args.config else config_of_unit(path)
    if not path.exists() and config_path is None:
        raise ServiceError(f"no unit {path}; give --config to remove its Home Assistant configs anyway")
    clear = _discovery_to_clear(config_path) if config_path is not None else None
    if args.dry_run:
        if path.exists():
            print(f"would remove {path}")
        if clear is not None:
            broker, pattern, known = clear
            print(f"would clear retained Home Assistant configs on {broker.host}:{broker.port}: {pattern}")
        return 0
    if path.exists():
        if systemctl("disable", "--now", path.name) is not None:
            print(f"edge-sdk: disabled and stopped {path.name}", file=sys.stderr)
        try:
            path.unlink()
        except OSError as exc:
            hint = " (run it with sudo)" if isinstance(exc, PermissionError) else ""
            raise ServiceError(f"cannot remove {path}: {exc.strerror or exc}{hint}") from exc
        print(f"edge-sdk: removed {path}", file=sys.stderr)
        systemctl("daemon-reload")
    if clear is not None:
        from ..service.status import clear_retained  # lazy: CLI start-up; MQTT only to clear discovery

        broker, pattern, known = clear
        topics = clear_retained(broker, pattern, known)
        print(f"edge-sdk: cleared {len(topics)} Home Assistant discovery config(s)", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from ..service.unit import config_of_unit, systemctl, unit_path  # lazy: CLI start-up

    path = unit_path(args.name, args.unit_dir)
    info: dict[str, Any] = {
        "name": path.stem,
        "unit": str(path),
        "installed": path.exists(),
        "config": None,
        "systemd": None,
    }
    if path.exists():
        cfg = config_of_unit(path)
        info["config"] = None if cfg is None else str(cfg)
        proc = systemctl(
            "show", path.name, "--property=ActiveState,SubState,MainPID,StatusText,NRestarts,UnitFileState"
        )
        if proc is not None and proc.returncode == 0:
            info["systemd"] = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    if args.json:
        print(json.dumps(info))
    else:
        print(f"{info['name']}: {'installed at ' + info['unit'] if info['installed'] else 'not installed'}")
        if info["config"]:
            print(f"  config: {info['config']}")
        if info["systemd"]:
            sd = info["systemd"]
            print(
                f"  state: {sd.get('ActiveState')} ({sd.get('SubState')}), pid {sd.get('MainPID')}, "
                f"restarts {sd.get('NRestarts')}, enabled: {sd.get('UnitFileState')}"
            )
            if sd.get("StatusText"):
                print(f"  status: {sd['StatusText']}")
        elif info["installed"]:
            print("  systemd is not running here: no live state")
    return 0 if info["installed"] else 3
