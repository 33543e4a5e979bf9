"""Entry point of ``edge-sdk``.

Exit codes: 0 on success; 2 on a usage error (argparse); 1 on any other error, with one line
on stderr (a traceback only with ``--debug``). Machine-readable output is JSON Lines on
stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ..errors import EdgeSdkError

# Subcommand modules, in the order ``--help`` lists them. Each defines ``register(subparsers)``
# and sets ``func`` on its parser; they are imported when the parser is built, and import
# their heavy dependencies (TensorFlow for convert) only when run.
SUBCOMMANDS = (
    "info", "classify", "demo", "devices", "faces", "bench", "convert", "detect", "segment", "pose", "run",
    "service", "bundle",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-sdk",
        description="Run and convert TFLite CNNs on small devices, offline.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


def _version() -> str:
    # lazy: CLI start-up imports only the subcommand that runs
    from importlib import metadata

    try:
        return metadata.version("edge-sdk")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="edge-sdk: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    # lazy: CLI start-up imports only the subcommand that runs
    from .. import native_log
    from ..redact import install_log_redaction, redact

    install_log_redaction()

    native_log.enable(not args.debug)
    try:
        rc = args.func(args)
        sys.stdout.flush()
        return int(rc or 0)
    except KeyboardInterrupt:
        print("edge-sdk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except EdgeSdkError as exc:
        if args.debug:
            raise
        print(f"edge-sdk: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # unexpected: still one line, unless --debug
        if args.debug:
            raise
        print(
            f"edge-sdk: error: {type(exc).__name__}: {redact(str(exc))} (rerun with --debug for a traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
