"""``edge-sdk devices``: cameras, Edge TPUs, the board and the interpreter backend."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "devices",
        help="list cameras, Edge TPUs, the board and the runtime backend",
        description="List what edge_sdk can use here: cameras (V4L2 and picamera2), Edge TPUs "
        "(found from USB ids and /dev/apex_*, nothing is loaded), the board, and the TFLite "
        'backend. With --json, one object: {"board", "cameras", "edgetpus", "backend"}.',
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def collect() -> dict[str, Any]:
    """What ``edge-sdk devices --json`` prints."""
    # lazy: CLI start-up imports only the subcommand that runs
    from devices.accelerators import list_edgetpus
    from devices.board import detect_board
    from devices.cameras import list_cameras

    # lazy: CLI start-up imports only the subcommand that runs
    from ..backend import get_backend
    from ..errors import BackendError

    try:
        b = get_backend()
        backend: dict[str, Any] = {"name": b.name.value, "version": b.version}
    except BackendError as exc:
        backend = {"name": None, "version": None, "error": str(exc)}
    return {
        "board": detect_board().as_dict(),
        "cameras": [c.as_dict() for c in list_cameras()],
        "edgetpus": [t.as_dict() for t in list_edgetpus()],
        "backend": backend,
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
        return 0
    board = info["board"]
    lines = [f"board:    {board['model']} ({board['kind']}, {board['cpus']} cores, {board['machine']})"]
    backend = info["backend"]
    lines.append(
        f"backend:  {backend['name']} {backend['version']}"
        if backend["name"]
        else f"backend:  none ({backend.get('error')})"
    )
    lines.append(f"edge tpu: {'none found' if not info['edgetpus'] else ''}")
    lines += [
        f"  {t['device']:8s} {t['path']}" + (f" ({t['usb_id']})" if t["usb_id"] else "")
        for t in info["edgetpus"]
    ]
    lines.append(f"cameras:  {'none found' if not info['cameras'] else ''}")
    for c in info["cameras"]:
        desc = c["error"] or " ".join(
            x for x in (c["name"], f"[{c['driver']}]" if c["driver"] else None) if x
        )
        lines.append(f"  {c['uri']:12s} {desc}")
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")
    return 0
