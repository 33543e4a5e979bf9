"""``edge-sdk convert MODEL --calibration DIR --output OUT.tflite``: float model -> int8 .tflite.

The converters (TensorFlow, ai-edge-quantizer, onnx2tf) are imported inside :func:`run`, so
``edge-sdk --help`` and ``import edge_sdk`` never import TensorFlow. The readable summary
goes to stderr; with ``--json`` the report is also printed as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import emit, positive_int

_RESIZE = ("stretch", "letterbox", "center_crop")
_COLOR = ("rgb", "bgr", "grayscale")
_TYPES = ("uint8", "int8", "float32")


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected one number or 'a,b,c', got {text!r}") from None
    if len(values) not in (1, 3):
        raise argparse.ArgumentTypeError(f"expected 1 or 3 numbers, got {len(values)} in {text!r}")
    return values


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 224x224, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return w, h


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "convert",
        help="quantize a trained float model to an int8 .tflite (+ report, + Edge TPU)",
        description="Convert a Keras (.keras/.h5), SavedModel, float .tflite or ONNX model (format read "
        "from the file) to a full-integer int8 .tflite calibrated on your images, with labels and "
        "preprocessing embedded as standard TFLite Metadata, and a deployment report.",
    )
    p.add_argument("model", help="the trained float model: .keras, .h5, SavedModel folder, .tflite or .onnx")
    p.add_argument("--calibration", "-c", required=True, help="folder (recursive) or glob of your images")
    p.add_argument("--output", "-o", required=True, help="the int8 model to write (.tflite)")
    p.add_argument("--validation", help="labelled folder, one sub-folder per class, for accuracy figures")
    p.add_argument("--labels", help="label file (one per line, or 'id label'); embedded in the model")
    p.add_argument("--input-type", choices=_TYPES, default="uint8", help="input tensor type (default uint8)")
    p.add_argument(
        "--output-type", choices=_TYPES, default=None, help="output tensor type (default: --input-type)"
    )
    p.add_argument(
        "--edgetpu", action="store_true", help="also compile with edgetpu_compiler -> *_edgetpu.tflite"
    )
    p.add_argument("--report", help="write the deployment report as JSON here (and Markdown beside it)")
    p.add_argument("--allow-float-ops", action="store_true", help="let ops without an int8 kernel stay float")
    p.add_argument("--calibration-size", type=positive_int, default=200, help="images sampled (default 200)")
    p.add_argument("--min-calibration", type=positive_int, default=8, help="fewest usable images (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration sample (default 0)")
    p.add_argument("--mean", type=_floats, help="normalization mean: (pixel - mean) / std; 1 or 3 values")
    p.add_argument("--std", type=_floats, help="normalization std; 1 or 3 values")
    p.add_argument(
        "--resize", choices=_RESIZE, help="how images are fitted (default: metadata, else stretch)"
    )
    p.add_argument("--color", choices=_COLOR, help="input channel order (default: metadata, else rgb)")
    p.add_argument("--size", type=_size, help="input WIDTHxHEIGHT when the model's is dynamic")
    p.add_argument(
        "--task",
        choices=("classification", "detection", "face_detection", "embedding", "unknown"),
        help="task written into the metadata (default: classification when labels are known)",
    )
    p.add_argument(
        "--latency-runs", type=positive_int, default=30, help="runs per latency median (default 30)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--json", action="store_true", help="also print the report as one JSON line on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: CLI start-up imports only the subcommand that runs
    import sys
    from pathlib import Path

    from converters.interface import IOType
    from converters.pipeline import ConvertOptions, convert
    from converters.report import summary

    # lazy: CLI start-up imports only the subcommand that runs
    from ..metadata import ColorSpace
    from ..preprocess import ResizeMode

    opts = ConvertOptions(
        model=Path(args.model),
        calibration=args.calibration,
        output=Path(args.output),
        validation=args.validation,
        labels=args.labels,
        input_type=IOType(args.input_type),
        output_type=IOType(args.output_type) if args.output_type else None,
        edgetpu=args.edgetpu,
        report=Path(args.report) if args.report else None,
        allow_float_ops=args.allow_float_ops,
        calibration_size=args.calibration_size,
        min_calibration=args.min_calibration,
        seed=args.seed,
        mean=args.mean,
        std=args.std,
        color=ColorSpace(args.color) if args.color else None,
        resize=ResizeMode(args.resize) if args.resize else None,
        size=args.size,
        task=args.task,
        latency_runs=args.latency_runs,
        progress=not args.no_progress,
    )
    result = convert(opts)
    print(summary(result.report), file=sys.stderr)
    if args.json:
        emit(result.report)
    return 0
