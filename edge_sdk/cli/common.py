"""Argument helpers and output shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..frame import Frame


def probability(text: str) -> float:
    """argparse type for a score or IoU in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def cosine(text: str) -> float:
    """argparse type for a cosine similarity threshold in [-1, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {text!r}") from None
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type for an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def floats(text: str) -> tuple[float, ...]:
    """argparse type for ``--mean``/``--std``: one number or three, comma or space separated."""
    try:
        values = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected one number or 'a,b,c', got {text!r}") from None
    if len(values) not in (1, 3):
        raise argparse.ArgumentTypeError(f"expected 1 or 3 numbers, got {len(values)} in {text!r}")
    return values


def add_normalization_args(p: Any) -> None:
    """``--mean``/``--std``: the float range the model's input expects, ``(pixel - mean) / std``."""
    p.add_argument(
        "--mean",
        type=floats,
        default=None,
        help="input normalization (pixel - mean) / std: mean, 1 value or 3 (per channel); "
        "overrides the model's metadata (e.g. 127 with --std 128 for Coral's EfficientNet-EdgeTPU)",
    )
    p.add_argument("--std", type=floats, default=None, help="input normalization std (> 0), 1 or 3 values")


def normalization_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~edge_sdk.metadata.Normalization` of ``--mean``/``--std``, or None.

    Raises:
        OptionsError: only one is given, or a std is not > 0.
    """
    from ..metadata import Normalization  # lazy: CLI start-up

    return Normalization.from_options(getattr(args, "mean", None), getattr(args, "std", None))


def add_model_args(p: argparse.ArgumentParser, *, labels: bool = True, normalization: bool = True) -> None:
    p.add_argument("--model", "-m", required=True, help="path to the .tflite model")
    if normalization:
        add_normalization_args(p)
    if labels:
        p.add_argument(
            "--labels",
            help="label file: one label per line, or 'id label' pairs "
            "(default: labels embedded in the model, else none)",
        )
    p.add_argument(
        "--accelerator",
        "-a",
        default=None,
        help="cpu, cpu:N, edgetpu, edgetpu:usb[:N] or edgetpu:pci:N (default: the Edge TPU twin "
        "model_edgetpu.tflite when an Edge TPU is present, else the CPU)",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: every core)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail instead of falling back to the CPU model when the Edge TPU is missing",
    )


def resolve_model_args(args: argparse.Namespace) -> tuple[Path, Any]:
    """The model file and accelerator to run for ``--model``/``--accelerator``/``--strict``:
    the ``_edgetpu`` twin when a TPU is present, else the CPU model (see devices.pairing)."""
    # lazy: CLI start-up imports only the subcommand that runs
    from devices.pairing import resolve_model

    return resolve_model(args.model, args.accelerator, strict=args.strict)


def emit(obj: dict[str, Any]) -> None:
    """Write one JSON Lines record to stdout and flush, so pipes see results as they come."""
    sys.stdout.write(json.dumps(obj, separators=(", ", ": "), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def iter_frames(sources: list[str]) -> Iterator[Frame]:
    """Frames of every SOURCE argument in order (files, folders, globs, device URIs)."""
    # lazy: CLI start-up imports only the subcommand that runs
    from devices.sources import open_source

    for uri in sources:
        with open_source(uri) as src:
            yield from src
