"""Face recognition timings: per-face detect / align / embed next to bare invokes, and gallery matching.

Part 1, one face (obama.jpg, 910x1137): median ms of
  - detect: BlazeFaceDetector.detect / YuNetDetector.detect on the full frame, next to the
    bare model.invoke() (BlazeFace) or cv2.FaceDetectorYN.detect (YuNet, preprocessing included
    by OpenCV) on an input that is already prepared;
  - align: align_face (Umeyama fit + cv2.warpAffine to 112x112);
  - embed: FaceEmbedder.embed(aligned crop), next to the bare invoke of the embedder.
Part 2, matching: Gallery.match of 1 and of 8 query faces against galleries of 1k, 10k and
100k 128-d embeddings (100 per identity), matrix cached; plus the cold load of the matrix and
the open time (PRAGMA quick_check) of the file. Goal: < 5 ms per face at 100k.

    python bench/faces.py [--runs N] [--threads T] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.image import load_image
from edge_sdk.model import Model
from edge_sdk.tasks.faces import (
    BlazeFaceDetector,
    FaceDetectorOptions,
    FaceEmbedder,
    Gallery,
    YuNetDetector,
    align_face,
)
from edge_sdk.tasks.faces.embedder import EmbedderIdentity

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets" / "face"


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def paired_ms(a: Callable[[], object], b: Callable[[], object], runs: int) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` timed alternately, so both see the same machine load."""
    for _ in range(3):
        a()
        b()
    ta, tb = [], []
    for _ in range(runs):
        t = time.perf_counter()
        a()
        t1 = time.perf_counter()
        b()
        t2 = time.perf_counter()
        ta.append((t1 - t) * 1e3)
        tb.append((t2 - t1) * 1e3)
    return statistics.median(ta), statistics.median(tb)


def bench_models(runs: int, threads: int | None) -> None:
    img = load_image(ASSETS / "images/tests/obama.jpg")
    load = os.getloadavg()[0]
    print(
        f"image obama.jpg {img.shape[1]}x{img.shape[0]}, {runs} runs, medians in ms, load average {load:.1f}"
    )
    print(f"{'stage':<34} {'sdk':>8} {'bare':>8} {'ratio':>6}")
    face = None
    for name in ("face_detection_full_range.tflite", "face_detection_short_range.tflite"):
        model = Model(ASSETS / "detectors" / name, num_threads=threads)
        det = BlazeFaceDetector(model)
        # the bare invoke re-runs whatever input the last detect() left in the tensor
        sdk, bare = paired_ms(lambda det=det: det.detect(img), model.invoke, runs)
        print(
            f"{'detect ' + name.removeprefix('face_detection_').removesuffix('.tflite'):<34} {sdk:8.2f} {bare:8.2f} {sdk / bare:6.2f}"
        )
        pre, post = [], []
        for _ in range(runs):
            det.detect(img)
            pre.append(det.last_timing.preprocess_ms)
            post.append(det.last_timing.postprocess_ms)
        print(
            f"{'  of which letterbox+normalise':<34} {statistics.median(pre):8.2f}\n"
            f"{'  of which decode+weighted NMS':<34} {statistics.median(post):8.2f}"
        )
        if face is None:
            face = det.detect(img)[0]
    yunet = YuNetDetector(ASSETS / "detectors/face_detection_yunet_2026may.onnx")
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    raw = yunet._ensure((img.shape[1], img.shape[0]))
    sdk, bare = paired_ms(lambda: yunet.detect(img), lambda: raw.detect(bgr), runs)
    print(f"{'detect yunet (OpenCV DNN)':<34} {sdk:8.2f} {bare:8.2f} {sdk / bare:6.2f}")
    yface = yunet.detect(img)[0]
    small = YuNetDetector(
        ASSETS / "detectors/face_detection_yunet_2026may.onnx", FaceDetectorOptions(max_side=640)
    )
    t_small = median_ms(lambda: small.detect(img), runs)
    print(f"{'detect yunet, max_side=640':<34} {t_small:8.2f}")

    assert face is not None
    t_align6 = median_ms(lambda: align_face(img, face.keypoints), runs)
    t_align5 = median_ms(lambda: align_face(img, yface.keypoints), runs)
    print(f"{'align (BlazeFace 4 pts)':<34} {t_align6:8.3f}")
    print(f"{'align (YuNet 5 pts)':<34} {t_align5:8.3f}")
    crop = align_face(img, yface.keypoints)
    for name in ("mobilefacenet.tflite", "mobilefacenet_uint8.tflite"):
        model = Model(ASSETS / "embedders" / name, num_threads=threads)
        emb = FaceEmbedder(model)
        sdk, bare = paired_ms(lambda emb=emb: emb.embed(crop), model.invoke, runs)
        print(f"{'embed ' + name.removesuffix('.tflite'):<34} {sdk:8.2f} {bare:8.2f} {sdk / bare:6.2f}")


def bench_matching(sizes: list[int], runs: int) -> None:
    rng = np.random.default_rng(0)
    ident = EmbedderIdentity("0" * 64, 128)
    per_identity = 100
    print(f"\nmatching, 128-d, {per_identity} embeddings per identity, medians in ms")
    print(f"{'embeddings':>10} {'1 face':>8} {'8 faces':>8} {'per face':>9} {'load':>8} {'open':>8}")
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            path = Path(d) / f"g{n}.db"
            g = Gallery(path)
            g._conn.execute("PRAGMA synchronous = OFF")  # building only: fast inserts
            vecs = rng.normal(size=(n, 128)).astype(np.float32)
            for i in range(0, n, per_identity):
                g.enrol(f"id{i // per_identity:06d}", vecs[i : i + per_identity], ident)
            g.close()
            t = time.perf_counter()
            g = Gallery(path)
            t_open = (time.perf_counter() - t) * 1e3
            t = time.perf_counter()
            g.matrix()
            t_load = (time.perf_counter() - t) * 1e3
            q1 = vecs[n // 2] + 0.1 * rng.normal(size=128).astype(np.float32)
            q8 = vecs[:: max(1, n // 8)][:8] + 0.1 * rng.normal(size=(8, 128)).astype(np.float32)
            m1 = median_ms(lambda g=g, q1=q1: g.match(q1, ident, 0.45), runs)
            m8 = median_ms(lambda g=g, q8=q8: g.match(q8, ident, 0.45), runs)
            assert g.match(q1, ident, 0.45)[0].identity == f"id{(n // 2) // per_identity:06d}"
            print(f"{n:>10} {m1:8.3f} {m8:8.3f} {m8 / 8:9.3f} {t_load:8.1f} {t_open:8.1f}")
            g.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    bench_models(args.runs, args.threads)
    bench_matching([int(s) for s in args.sizes.split(",")], args.runs)


if __name__ == "__main__":
    main()
