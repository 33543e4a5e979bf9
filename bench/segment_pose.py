"""Segmentation and pose overhead: the SDK call vs the bare interpreter, on the same frames.

Segmentation: Coral's DeepLab v3 (513x513, class ids in the model) on a 640x480 frame.
(a) bare: ``cv2.resize`` to the input + ``set_tensor`` + ``invoke`` + ``get_tensor``;
(b) bare + mask back at source size: (a) + ``cv2.resize(..., INTER_NEAREST_EXACT)`` of the
    class map to 640x480 (what a hand-written loop needs to match the SDK's result);
(c) ``Segmenter.segment(frame)``: resize into the tensor, invoke, mask at 640x480, class areas.

Pose: a MoveNet single-pose layout model (192x192 float, built with Keras by
tests/models/segment_pose_builder.py; needs TensorFlow) on a 640x480 frame, letterboxed.
(a) bare: letterbox with ``cv2.resize`` + ``copyMakeBorder``, ``set_tensor``, ``invoke``,
``get_tensor``; (c) ``PoseEstimator.estimate(frame)``.

Prints medians and the ratios c / a (and c / b for segmentation).

    python bench/segment_pose.py [--runs N] [--threads T] [--no-pose]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.backend import get_backend
from edge_sdk.tasks.pose import PoseEstimator
from edge_sdk.tasks.segment import Segmenter

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"


def median_ms(fns: dict[str, Callable[[], object]], runs: int, rounds: int) -> dict[str, float]:
    """Interleaved rounds; the median over every call, in milliseconds."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(10):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(runs // rounds):
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_segment(frame: np.ndarray, runs: int, rounds: int, threads: int) -> None:
    d = ASSETS / "segmentation"
    model = d / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    interp = get_backend().interpreter_cls(model_path=str(model), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    h, w = int(inp["shape"][1]), int(inp["shape"][2])
    sh, sw = frame.shape[:2]

    def bare() -> np.ndarray:
        interp.set_tensor(inp["index"], cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)[None])
        interp.invoke()
        return interp.get_tensor(out["index"])

    def bare_mask() -> np.ndarray:
        ids = bare()[0].astype(np.uint8)
        return cv2.resize(ids, (sw, sh), interpolation=cv2.INTER_NEAREST_EXACT)

    seg = Segmenter(model, labels=d / "pascal_voc_segmentation_labels.txt", num_threads=threads)
    agree = float((seg.segment(frame).mask == bare_mask()).mean())
    m = median_ms({"bare": bare, "bare+mask": bare_mask, "sdk": lambda: seg.segment(frame)}, runs, rounds)
    print(
        f"segment  DeepLab v3 513, 640x480: bare {m['bare']:.2f} ms, bare+mask {m['bare+mask']:.2f} ms, "
        f"Segmenter {m['sdk']:.2f} ms; ratio {m['sdk'] / m['bare']:.3f} (vs bare), "
        f"{m['sdk'] / m['bare+mask']:.3f} (vs bare+mask); masks agree on {100 * agree:.2f} % of pixels"
    )


def bench_pose(frame: np.ndarray, runs: int, rounds: int, threads: int) -> None:
    sys.path.insert(0, str(ROOT))
    from converters.quantize_keras import float_tflite_from_keras
    from tests.models import segment_pose_builder as b

    b.SIZE = 192  # a Lightning-sized input
    path = Path(tempfile.mkdtemp()) / "movenet_layout.tflite"
    path.write_bytes(float_tflite_from_keras(b.build_pose("single")))
    interp = get_backend().interpreter_cls(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    s = min(192 / frame.shape[1], 192 / frame.shape[0])
    nw, nh = round(frame.shape[1] * s), round(frame.shape[0] * s)
    top = (192 - nh) // 2

    def bare() -> np.ndarray:
        small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        boxed = cv2.copyMakeBorder(small, top, 192 - nh - top, 0, 192 - nw, cv2.BORDER_CONSTANT, value=0)
        interp.set_tensor(inp["index"], boxed[None].astype(np.float32))
        interp.invoke()
        return interp.get_tensor(out["index"])

    est = PoseEstimator(path, num_threads=threads)
    m = median_ms({"bare": bare, "sdk": lambda: est.estimate(frame)}, runs, rounds)
    print(
        f"pose     MoveNet-layout 192 float, 640x480: bare {m['bare']:.3f} ms, PoseEstimator {m['sdk']:.3f} ms; "
        f"ratio {m['sdk'] / m['bare']:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=ASSETS / "segmentation/bird_segmentation.bmp")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--no-pose", action="store_true", help="skip pose (it needs TensorFlow to build its model)"
    )
    args = ap.parse_args()
    frame = cv2.cvtColor(cv2.resize(cv2.imread(str(args.image)), (640, 480)), cv2.COLOR_BGR2RGB)
    bench_segment(frame, args.runs, args.rounds, args.threads)
    if not args.no_pose:
        bench_pose(frame, args.runs * 5, args.rounds, args.threads)


if __name__ == "__main__":
    main()
