"""Benchmark of ``edge-sdk convert``: MobileNetV2 int8 vs float, and the digits accuracy drop.

Run:  .venv/bin/python bench/convert.py [--runs 50] [--calibration 64]

MobileNetV2 (keras.applications, weights=None: random weights are enough for speed and size,
224x224x3, ImageNet normalization (x - 127.5) / 127.5) is converted by the same pipeline as
``edge-sdk convert``, calibrated on synthetic smooth images (no data set download). Latency is
the median ``invoke()`` time over N runs on this machine's CPU, every core, through
edge_sdk.model.Model. The digits CNN is trained as in the tests and its int8 top-1 drop is
measured on held-back images. Prints one JSON object with the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _images(folder: Path, n: int, size: int = 256) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--calibration", type=int, default=64)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from converters.pipeline import ConvertOptions, convert
    from tests.convert_helpers import build_digits

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        keras.utils.set_random_seed(0)
        mnv2 = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        mnv2.save(root / "mobilenet_v2.keras")
        _images(root / "cal", args.calibration)
        t0 = time.perf_counter()
        res = convert(
            ConvertOptions(
                model=root / "mobilenet_v2.keras",
                calibration=str(root / "cal"),
                output=root / "mobilenet_v2_int8.tflite",
                mean=(127.5,),
                std=(127.5,),
                calibration_size=args.calibration,
                latency_runs=args.runs,
                progress=False,
            )
        )
        conversion_s = time.perf_counter() - t0
        r = res.report
        # Float vs int8 at 1 and 2 threads, measured alternately (robust to other load).
        from converters.measure import Feed, latency_pair
        from converters.quantize_keras import float_tflite_from_keras
        from edge_sdk.model import Model

        float_path = root / "mobilenet_v2_float.tflite"
        float_path.write_bytes(
            float_tflite_from_keras(keras.Sequential([keras.Input((224, 224, 3), batch_size=1), mnv2]))
        )
        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        threads = {}
        for n in (1, 2):
            f_ms, q_ms = latency_pair(
                Model(float_path, num_threads=n),
                Feed((127.5,), (127.5,)),
                Model(res.output, num_threads=n),
                Feed((0.0,), (1.0,)),
                image,
                args.runs,
            )
            threads[str(n)] = {
                "float_ms": round(f_ms, 3),
                "int8_ms": round(q_ms, 3),
                "speedup": round(f_ms / q_ms, 3),
            }

        digits = build_digits(root)
        d = convert(
            ConvertOptions(
                model=digits.keras_path,
                calibration=str(digits.calibration),
                output=root / "digits_int8.tflite",
                validation=str(digits.validation),
                labels=str(digits.labels),
                mean=(0.0,),
                std=(255.0,),
                latency_runs=args.runs,
                progress=False,
            )
        ).report

    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or platform.system()}",
        "mobilenet_v2": {
            "float_bytes": r["size"]["float_bytes"],
            "int8_bytes": r["size"]["int8_bytes"],
            "size_ratio": round(r["size"]["ratio"], 3),
            "float_ms": round(r["latency_ms"]["float_median"], 3),
            "int8_ms": round(r["latency_ms"]["int8_median"], 3),
            "speedup": round(r["latency_ms"]["speedup"], 3),
            "threads": r["latency_ms"]["threads"],
            "by_threads": threads,
            "conversion_s": round(conversion_s, 2),
            "quantize_s": round(r["timing_s"]["quantize"], 2),
            "float_ops": r["ops"]["float_ops"],
            "edgetpu_precheck_mapped": f"{r['edgetpu']['precheck']['ops_mapped']}/{r['edgetpu']['precheck']['ops_total']}",
        },
        "digits": {
            "images": d["accuracy"]["images"],
            "top1_float": round(d["accuracy"]["top1_float"], 2),
            "top1_int8": round(d["accuracy"]["top1_int8"], 2),
            "drop_points": round(d["accuracy"]["drop_points"], 2),
            "agreement": round(d["accuracy"]["agreement"], 2),
            "size_ratio": round(d["size"]["ratio"], 3),
        },
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
