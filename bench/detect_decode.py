"""Decode + NMS time of a YOLOv8 head next to the invoke time of a YOLOv8n-sized model.

Usage: .venv/bin/python bench/detect_decode.py [--runs 50] [--threads 2]

What it builds (needs TensorFlow, i.e. the ``convert`` extra):

1. A YOLOv8n-shaped Keras network at 320x320 with random weights: the YOLOv8n backbone
   (Conv-BN-SiLU, C2f blocks with widths 16/32/64/128/256, SPPF), the PAN neck and the
   decoupled Detect head with DFL box decoding and sigmoid class scores, emitting the
   Ultralytics TFLite layout ``[1, 84, 2100]`` (normalized cx, cy, w, h + 80 scores).
   Converted to full int8 with ``converters.quantize_keras.quantize_keras``; its invoke time is
   the reference. (Random weights change no timing: the cost is in the shapes.)
2. A pass-through model ``[1, 84, 8400] -> [1, 84, 8400]`` (float32 and int8), so the decode
   reads a real interpreter output of the 640-input size (8400 candidates x 80 classes).
   The head values are synthetic: 12 objects, each with a cluster of ~30 overlapping
   candidates, the rest low background scores, as a trained YOLOv8 emits.

It then times ``YoloDecoder.decode`` + ``edge_sdk.tasks.detect._finish`` (NMS, max_detections,
mapping to source pixels): the exact per-frame post-processing of ``Detector.detect``.
Prints one JSON object with medians in milliseconds and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

NC = 80
SIZE = 320


def yolov8n(size: int = SIZE, nc: int = NC) -> Any:
    """A YOLOv8n-shaped network (random weights) ending in the Ultralytics TFLite head layout."""
    import keras
    from keras import layers, ops

    def conv(x: Any, c: int, k: int = 1, s: int = 1) -> Any:
        x = layers.Conv2D(c, k, s, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("swish")(x)

    def c2f(x: Any, c: int, n: int, shortcut: bool = True) -> Any:
        y = conv(x, c, 1)
        a, b = layers.Lambda(lambda t: ops.split(t, 2, axis=-1))(y)
        outs = [a, b]
        for _ in range(n):
            z = conv(conv(outs[-1], c // 2, 3), c // 2, 3)
            outs.append(layers.Add()([outs[-1], z]) if shortcut else z)
        return conv(layers.Concatenate()(outs), c, 1)

    def sppf(x: Any, c: int) -> Any:
        x = conv(x, c // 2, 1)
        p1 = layers.MaxPooling2D(5, 1, padding="same")(x)
        p2 = layers.MaxPooling2D(5, 1, padding="same")(p1)
        p3 = layers.MaxPooling2D(5, 1, padding="same")(p2)
        return conv(layers.Concatenate()([x, p1, p2, p3]), c, 1)

    inp = keras.Input((size, size, 3), batch_size=1)
    x = conv(inp, 16, 3, 2)
    x = conv(x, 32, 3, 2)
    x = c2f(x, 32, 1)
    x = conv(x, 64, 3, 2)
    p3 = c2f(x, 64, 2)
    x = conv(p3, 128, 3, 2)
    p4 = c2f(x, 128, 2)
    x = conv(p4, 256, 3, 2)
    x = c2f(x, 256, 1)
    p5 = sppf(x, 256)
    # PAN neck
    x = layers.Concatenate()([layers.UpSampling2D()(p5), p4])
    n4 = c2f(x, 128, 1, False)
    x = layers.Concatenate()([layers.UpSampling2D()(n4), p3])
    o3 = c2f(x, 64, 1, False)
    x = layers.Concatenate()([conv(o3, 64, 3, 2), n4])
    o4 = c2f(x, 128, 1, False)
    x = layers.Concatenate()([conv(o4, 128, 3, 2), p5])
    o5 = c2f(x, 256, 1, False)
    # Decoupled head with DFL (reg_max 16)
    boxes, scores, anchors, strides = [], [], [], []
    for feat, stride in ((o3, 8), (o4, 16), (o5, 32)):
        g = size // stride
        b = layers.Conv2D(64, 1)(conv(conv(feat, 64, 3), 64, 3))
        c = layers.Conv2D(nc, 1)(conv(conv(feat, max(nc, 64), 3), max(nc, 64), 3))
        boxes.append(layers.Reshape((g * g, 64))(b))
        scores.append(layers.Reshape((g * g, nc))(c))
        ys, xs = np.mgrid[0:g, 0:g]
        anchors.append(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1))
        strides.append(np.full((g * g, 1), stride))
    box = layers.Concatenate(axis=1)(boxes)
    cls = layers.Concatenate(axis=1)(scores)
    anc = np.concatenate(anchors).astype(np.float32)
    std = np.concatenate(strides).astype(np.float32)

    def decode(t: Any) -> Any:
        b, c = t
        n = anc.shape[0]
        dist = ops.softmax(ops.reshape(b, (1, n, 4, 16)), axis=-1)
        dist = ops.sum(dist * np.arange(16, dtype=np.float32), axis=-1)  # (1, n, 4) ltrb
        lt, rb = dist[..., :2], dist[..., 2:]
        xy = (anc + (rb - lt) / 2) * std / size
        wh = (lt + rb) * std / size
        out = ops.concatenate([xy, wh, ops.sigmoid(c)], axis=-1)
        return ops.transpose(out, (0, 2, 1))

    out = layers.Lambda(decode)([box, cls])
    return keras.Model(inp, out)


def passthrough(n: int = 8400, nc: int = NC) -> Any:
    import keras

    inp = keras.Input((4 + nc, n), batch_size=1)
    return keras.Model(inp, keras.layers.ReLU()(inp))


def synthetic_head(rng: np.random.Generator, n: int = 8400, nc: int = NC, objects: int = 12) -> np.ndarray:
    """``(4 + nc, n)`` YOLOv8 head: normalized boxes, sigmoid scores, clustered detections."""
    head = np.empty((4 + nc, n), np.float32)
    head[0:2] = rng.uniform(0, 1, (2, n))
    head[2:4] = rng.uniform(0.01, 0.3, (2, n))
    head[4:] = rng.beta(0.5, 60, (nc, n))  # background: mostly < 0.02
    for _ in range(objects):
        idx = rng.choice(n, 30, replace=False)
        cx, cy, w, h = (
            rng.uniform(0.1, 0.9),
            rng.uniform(0.1, 0.9),
            rng.uniform(0.05, 0.3),
            rng.uniform(0.05, 0.3),
        )
        head[0, idx] = cx + rng.normal(0, 0.01, 30)
        head[1, idx] = cy + rng.normal(0, 0.01, 30)
        head[2, idx] = w * rng.uniform(0.9, 1.1, 30)
        head[3, idx] = h * rng.uniform(0.9, 1.1, 30)
        head[4 + rng.integers(nc), idx] = rng.uniform(0.3, 0.95, 30)
    return head


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from converters.quantize_keras import IOType, QuantizeOptions, float_tflite_from_keras, quantize_keras
    from edge_sdk.model import Model
    from edge_sdk.preprocess import ResizeMode, Transform
    from edge_sdk.tasks.decoders import BoxCoordinates, DetectorHead
    from edge_sdk.tasks.decoders.yolo import YoloDecoder
    from edge_sdk.tasks.detect import DEFAULT_IOU, Detector, _finish

    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="detect_bench_"))
    int8 = QuantizeOptions(input_type=IOType.UINT8, output_type=IOType.INT8)

    # 1. The YOLOv8n-sized model, int8, through the full Detector.
    net = yolov8n()
    calib = rng.uniform(0, 1, (8, SIZE, SIZE, 3)).astype(np.float32)
    (tmp / "yolov8n_like.tflite").write_bytes(quantize_keras(net, calib, int8))
    det = Detector(
        tmp / "yolov8n_like.tflite", threshold=0.25, head=DetectorHead.YOLOV8, num_threads=args.threads
    )
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)

    def run_model() -> None:
        det.model.invoke()

    det.detect(frame)
    invoke_ms = median_ms(run_model, args.runs)
    full = []
    for _ in range(args.runs):
        det.detect(frame)
        full.append(det.last_timing)
    model_post_ms = statistics.median(t.postprocess_ms for t in full)
    pre_ms = statistics.median(t.preprocess_ms for t in full)

    # 2. Decode + NMS of 2100 x 80 (the 320-input head) and 8400 x 80 (the 640-input head)
    #    YOLOv8 heads read from a real interpreter output.
    results: dict[str, dict[str, float]] = {}
    for n, size in ((2100, 320), (8400, 640)):
        heads = [synthetic_head(rng, n=n) for _ in range(4)]
        transform = Transform.plan((640, 480), (size, size), ResizeMode.LETTERBOX)
        for kind in ("float32", "int8"):
            keras_model = passthrough(n=n)
            if kind == "int8":
                data = quantize_keras(
                    keras_model,
                    np.stack(heads),
                    QuantizeOptions(input_type=IOType.FLOAT32, output_type=IOType.INT8),
                )
            else:
                data = float_tflite_from_keras(keras_model)
            model = Model(data, num_threads=args.threads)
            model.set_input(heads[0][None])
            model.invoke()
            dec = YoloDecoder.from_model(
                model, head=DetectorHead.YOLOV8, coordinates=BoxCoordinates.NORMALIZED
            )
            assert dec is not None
            dec.input_size = (size, size)  # the pass-through input is not an image
            for thr in (0.25, 0.01):

                def post(
                    dec: Any = dec, model: Any = model, thr: float = thr, transform: Any = transform
                ) -> Any:
                    cand = dec.decode(model, thr)
                    return _finish(
                        cand,
                        transform,
                        iou=DEFAULT_IOU,
                        class_agnostic=False,
                        max_detections=300,
                        labels=None,
                    )

                n_out = len(post())
                results[f"{n}x{NC} {kind}@{thr}"] = {
                    "decode_nms_ms": round(median_ms(post, args.runs), 3),
                    "detections": n_out,
                }

    report = {
        "machine": f"{os.cpu_count()} cores, threads={det.model.accelerator.threads}",
        "yolov8n_like_320_int8": {
            "params": int(net.count_params()),
            "output": list(det.model.outputs[0].shape),
            "invoke_ms": round(invoke_ms, 3),
            "preprocess_ms": round(pre_ms, 3),
            "postprocess_ms_random_weights": round(model_post_ms, 3),
        },
        "decode_nms": results,
        "ratio_decode_nms_to_invoke": {
            k: round(v["decode_nms_ms"] / invoke_ms, 4) for k, v in results.items()
        },
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
