"""Device-install smoke test: import edge_sdk, classify a real photo, check the answer.

Run by ``ci/aarch64_smoke.sh`` with the interpreter of each matrix cell (an aarch64 Debian
root under ``qemu-aarch64-static``, or a fresh x86-64 venv), against the project's *base*
install (no extras). It checks:

* ``edge_sdk`` is imported from the install under test, not from the source checkout
  (``--expect-prefix``);
* the interpreter backend in use is the one the cell asked for (``--expect-backend``,
  ``--expect-version``);
* MobileNet v1 0.5/160 (uint8) on ``parrot.jpg`` gives top-1 id 89 ``macaw``, the answer the
  model's publishers give (see ``../shared/assets/README.md``);
* TensorFlow was never imported.

It prints one human-readable line per stage (flushed, so a native crash shows where it
happened) and a final ``SMOKE_JSON {...}`` line that the shell driver turns into its summary
table. Exit status: 0 passed, 1 a check failed, 3 assets absent (import checks still ran).
A native crash (for example SIGSEGV inside the interpreter) ends the process with the signal.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

MODEL = "classification/mobilenet_v1_0.5_160_quant.tflite"
LABELS = "classification/imagenet_labels.txt"
IMAGE = "classification/images/parrot.jpg"
EXPECTED_ID = 89
EXPECTED_LABEL = "macaw"
EXIT_FAILED = 1
EXIT_NO_ASSETS = 3


def _default_assets() -> Path:
    env = os.environ.get("EDGE_SDK_ASSETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "assets"


def tiny_add_model() -> bytes:
    """A 312-byte TFLite model, ``y = x + x`` on float32 ``[1, 4]``, built with ``flatbuffers``.

    ``flatbuffers`` comes with the base install (through ``tflite``), so the interpreter's
    allocate/invoke path (XNNPACK, and its CPU detection) is exercised even without assets.
    Field slots follow the TFLite schema (``tensorflow/compiler/mlir/lite/schema/schema.fbs``).
    """
    import flatbuffers

    b = flatbuffers.Builder(256)

    def vec_i32(vals: list[int]) -> int:
        b.StartVector(4, len(vals), 4)
        for v in reversed(vals):
            b.PrependInt32(v)
        return int(b.EndVector())

    def vec_off(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return int(b.EndVector())

    def table(fields: list[tuple[int, str, int]]) -> int:
        b.StartObject(max((slot for slot, _, _ in fields), default=-1) + 1)
        for slot, kind, value in fields:
            if kind == "off":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "i32":
                b.PrependInt32Slot(slot, value, -1)
            elif kind == "u32":
                b.PrependUint32Slot(slot, value, 0xFFFFFFFF)
            else:
                b.PrependInt8Slot(slot, value, -1)
        return int(b.EndObject())

    names = [b.CreateString(n) for n in ("x", "y")]
    shapes = [vec_i32([1, 4]) for _ in names]
    # Tensor: shape(0), type(1: 0 = FLOAT32), buffer(2: 0 = empty), name(3)
    tensors = [
        table([(0, "off", s), (1, "i8", 0), (2, "u32", 0), (3, "off", n)])
        for s, n in zip(shapes, names, strict=True)
    ]
    # Operator: opcode_index(0), inputs(1), outputs(2)
    op = table([(0, "u32", 0), (1, "off", vec_i32([0, 0])), (2, "off", vec_i32([1]))])
    # SubGraph: tensors(0), inputs(1), outputs(2), operators(3)
    subgraph = table(
        [
            (0, "off", vec_off(tensors)),
            (1, "off", vec_i32([0])),
            (2, "off", vec_i32([1])),
            (3, "off", vec_off([op])),
        ]
    )
    # OperatorCode: deprecated_builtin_code(0), version(2), builtin_code(3); 0 = ADD
    code = table([(0, "i8", 0), (2, "i32", 1), (3, "i32", 0)])
    empty_buffer = table([])
    # Model: version(0) = 3, operator_codes(1), subgraphs(2), buffers(4)
    model = table(
        [
            (0, "u32", 3),
            (1, "off", vec_off([code])),
            (2, "off", vec_off([subgraph])),
            (4, "off", vec_off([empty_buffer])),
        ]
    )
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def _cli_devices() -> dict[str, Any]:
    """Run ``edge-sdk devices --json`` in-process and return its JSON object.

    Building the parser imports every subcommand module, so this also proves that none of them
    needs an optional extra (TensorFlow, paho-mqtt, picamera2, ...) just to start.
    """
    import contextlib
    import io

    from edge_sdk.cli.main import main as cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["devices", "--json"])
    if code != 0:
        raise SystemExit(f"edge-sdk devices --json exited {code}")
    parsed: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])
    return parsed


def _stage(msg: str) -> None:
    print(f"smoke: {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=None, help="conformance assets folder")
    parser.add_argument("--expect-backend", default=None, help="ai_edge_litert|tflite_runtime|tensorflow")
    parser.add_argument("--expect-version", default=None, help="exact backend distribution version")
    parser.add_argument("--expect-prefix", default=None, help="edge_sdk must be imported from under here")
    parser.add_argument("--label", default="", help="matrix cell name, echoed in the JSON line")
    args = parser.parse_args(argv)
    faulthandler.enable()
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "cell": args.label,
        "arch": platform.machine(),
        "python": platform.python_version(),
        "status": "FAIL",
    }
    failures: list[str] = []

    def finish(code: int) -> int:
        result["elapsed_s"] = round(time.perf_counter() - t0, 2)
        result["tensorflow_imported"] = "tensorflow" in sys.modules
        result["failures"] = failures
        print("SMOKE_JSON " + json.dumps(result, sort_keys=True), flush=True)
        return code

    _stage(f"{result['arch']} Python {result['python']} ({sys.executable})")
    import numpy as np

    import edge_sdk
    from edge_sdk.backend import get_backend

    where = Path(edge_sdk.__file__).resolve()
    result["edge_sdk"] = f"{edge_sdk.__version__} from {where.parent}"
    result["numpy"] = np.__version__
    import cv2

    result["opencv"] = cv2.__version__
    _stage(f"edge_sdk {result['edge_sdk']}; numpy {np.__version__}; opencv {cv2.__version__}")
    if args.expect_prefix and not str(where).startswith(str(Path(args.expect_prefix).resolve())):
        failures.append(f"edge_sdk imported from {where}, expected under {args.expect_prefix}")

    backend = get_backend()
    result["backend"] = backend.name.value
    result["backend_version"] = backend.version
    _stage(f"backend {backend.name.value} {backend.version}")
    if args.expect_backend and backend.name.value != args.expect_backend:
        failures.append(f"backend is {backend.name.value}, expected {args.expect_backend}")
    if args.expect_version and backend.version != args.expect_version:
        failures.append(f"{backend.name.value} is version {backend.version}, expected {args.expect_version}")

    _stage("edge-sdk devices --json (builds the whole CLI on the base install)")
    try:
        devices = _cli_devices()
    except (Exception, SystemExit) as exc:  # report it in the table, then go on to classify
        devices = {}
        failures.append(f"edge-sdk devices --json failed: {exc!r}")
    result["cli_devices_backend"] = devices.get("backend")
    want = {"name": backend.name.value, "version": backend.version}
    if devices and devices.get("backend") != want:
        failures.append(f"edge-sdk devices reports backend {devices.get('backend')}, expected {want}")

    from edge_sdk.model import Model

    _stage("tiny self-built model (y = x + x): allocate tensors and invoke")
    tiny = Model(tiny_add_model())
    x = np.array([[1.0, 2.0, 3.0, 4.5]], dtype=np.float32)
    tiny.set_input(x)
    tiny.invoke()
    if not np.array_equal(tiny.output(0), x + x):
        failures.append(f"tiny model gave {tiny.output(0).tolist()}, expected {(x + x).tolist()}")
    result["tiny_model"] = "ok" if not failures else "wrong"

    assets = args.assets or _default_assets()
    paths = [assets / MODEL, assets / LABELS, assets / IMAGE]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        _stage(f"SKIP classification: assets absent ({', '.join(missing)}); import checks only")
        result["status"] = "SKIP" if not failures else "FAIL"
        if "tensorflow" in sys.modules:
            failures.append("tensorflow was imported")
            result["status"] = "FAIL"
        return finish(EXIT_FAILED if failures else EXIT_NO_ASSETS)

    from edge_sdk import Classifier, load_image

    _stage("loading model and allocating tensors")
    classifier = Classifier(paths[0], labels=paths[1], top_k=3)
    _stage("classifying parrot.jpg")
    t_classify = time.perf_counter()
    classification = classifier.classify(load_image(paths[2]))
    result["classify_ms"] = round((time.perf_counter() - t_classify) * 1e3, 1)
    top = classification.top
    if top is None:
        failures.append("no categories returned")
    else:
        result["top1"] = f"{top.id} {top.label} {top.score:.2f}"
        _stage(f"top-1 {result['top1']} (top-3 {[c.as_dict() for c in classification.categories]})")
        if top.id != EXPECTED_ID or top.label != EXPECTED_LABEL:
            failures.append(f"top-1 is {top.id} {top.label!r}, expected {EXPECTED_ID} {EXPECTED_LABEL!r}")
    if "tensorflow" in sys.modules:
        failures.append("tensorflow was imported")
    for failure in failures:
        _stage(f"FAIL {failure}")
    result["status"] = "FAIL" if failures else "PASS"
    code = finish(EXIT_FAILED if failures else 0)
    _stage(
        f"{result['status']}: arch {result['arch']}, Python {result['python']}, "
        f"{result['backend']} {result['backend_version']}, top-1 {result.get('top1')}, "
        f"{result['elapsed_s']} s"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
