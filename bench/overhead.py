"""SDK overhead: Classifier.classify(frame) vs a hand-written loop, same model and frame.

(a) raw interpreter: set_tensor + invoke + get_tensor on an input that is already resized;
(b) cv2.resize of the 640x480 frame to the input size;
(c) Classifier.classify(frame): conversion checks, resize into the tensor, invoke, dequantize, top-k.

Prints the medians and the ratio c / (a + b); the goal is <= 1.05.

    python bench/overhead.py [--model M] [--runs N] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2

from edge_sdk.backend import get_backend
from edge_sdk.tasks.classify import Classifier

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ASSETS / "classification/mobilenet_v1_0.5_160_quant.tflite")
    ap.add_argument("--image", type=Path, default=ASSETS / "classification/images/parrot.jpg")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians over all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    frame = cv2.cvtColor(cv2.resize(cv2.imread(str(args.image)), (640, 480)), cv2.COLOR_BGR2RGB)
    backend = get_backend()
    interp = backend.interpreter_cls(model_path=str(args.model), num_threads=args.threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    h, w = int(inp["shape"][1]), int(inp["shape"][2])
    resized = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)[None]

    def raw() -> None:
        interp.set_tensor(inp["index"], resized)
        interp.invoke()
        interp.get_tensor(out["index"])

    def resize() -> None:
        cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)

    clf = Classifier(args.model, num_threads=args.threads, top_k=5)

    def sdk() -> None:
        clf.classify(frame)

    for fn in (raw, resize, sdk):  # warm up
        for _ in range(20):
            fn()
    # Interleave the three per iteration, so that drift in the machine's speed (shared CPUs,
    # frequency changes) weighs on all three alike; report the medians.
    a: list[float] = []
    b: list[float] = []
    c: list[float] = []
    for _ in range(args.rounds * args.runs):
        for fn, acc in ((raw, a), (resize, b), (sdk, c)):
            t = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t) * 1e3)
    ma, mb, mc = statistics.median(a), statistics.median(b), statistics.median(c)
    print(
        f"model {args.model.name}, frame 640x480 -> {w}x{h}, {args.threads} thread(s), "
        f"{backend.name.value} {backend.version}, medians of {args.rounds * args.runs} interleaved runs"
    )
    print(f"(a) raw set_tensor+invoke+get_tensor  {ma:8.3f} ms")
    print(f"(b) cv2.resize to the input size       {mb:8.3f} ms")
    print(f"(c) Classifier.classify(frame)         {mc:8.3f} ms")
    print(f"ratio c / (a + b) = {mc / (ma + mb):.3f}   (goal <= 1.05)")
    if args.json:
        print(
            json.dumps(
                {
                    "raw_ms": round(ma, 3),
                    "resize_ms": round(mb, 3),
                    "sdk_ms": round(mc, 3),
                    "ratio": round(mc / (ma + mb), 3),
                }
            )
        )


if __name__ == "__main__":
    main()
