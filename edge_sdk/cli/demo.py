"""``edge-sdk demo``: the main job on an embedded default (no camera, network or files needed).

Trains a small CNN on scikit-learn's digits, converts it to int8 and runs the on-device
runtime on held-back images. Needs the workstation extra: ``pip install 'edge-sdk[convert,dev]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="train, convert and run a digits classifier end to end (workstation)",
        description="Train a small CNN on scikit-learn's handwritten digits, convert it to full-integer "
        "int8 with embedded labels, and classify held-back images with the on-device runtime. "
        "Prints JSON lines for the first --show images on stdout and a summary on stderr.",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("edge-sdk-demo"),
        help="where the images, models and TensorFlow's log go (default: ./edge-sdk-demo)",
    )
    p.add_argument("--show", type=int, default=10, help="JSON lines to print (default 10)")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    from ..errors import missing_dependency

    try:
        # lazy: CLI start-up imports only the subcommand that runs
        from converters.demo import format_summary, run_demo, summary_dict
    except ImportError as exc:
        raise missing_dependency(exc.name or "tensorflow", "convert,dev", "The demo") from exc

    def go(workdir: Path) -> int:
        summary = run_demo(workdir, show=args.show)
        print(format_summary(summary), file=sys.stderr)
        if args.json:
            print(json.dumps(summary_dict(summary)))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    return go(args.workdir)
