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
import functools
import json
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


FACE_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


def face_grid(n: int, cell: tuple[int, int] = (320, 360), cols: int = 4, rows: int = 2) -> np.ndarray:
    """A 1280x720 RGB frame (4x2 cells) with ``n`` face photos fitted into its cells, grey elsewhere."""
    cw, ch = cell
    frame = np.full((rows * ch, cols * cw, 3), 128, np.uint8)
    det = BlazeFaceDetector(ASSETS / "detectors/face_detection_full_range.tflite")
    for i in range(n):
        photo = load_image(ASSETS / "images/tests" / FACE_PHOTOS[i % len(FACE_PHOTOS)])
        # head and shoulders: a box 2.2x the face, so every face is about as large in its cell
        x0, y0, x1, y1 = det.detect(photo)[0].box
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 1.1 * max(x1 - x0, y1 - y0)
        top, left = max(0, int(cy - half)), max(0, int(cx - half))
        photo = photo[top : int(cy + half), left : int(cx + half)]
        s = min(cw / photo.shape[1], ch / photo.shape[0])
        w, h = int(photo.shape[1] * s), int(photo.shape[0] * s)
        r, c = divmod(i, cols)
        y, x = r * ch + (ch - h) // 2, c * cw + (cw - w) // 2
        frame[y : y + h, x : x + w] = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    return frame


def bench_many_faces(runs: int, threads: int | None, embedder: str = "mobilefacenet_uint8.tflite") -> dict:
    """1 face vs 8 faces in the same-sized frame: detect + align + embed + match (goal <= 5x).

    Recognizers are timed alternately on both frames: with the embedder batching (one invoke of a
    batch of 8, the default) and with one invoke per face reusing its input buffer
    (``FaceEmbedder(batch=False)``); each frame
    has its own recognizer, so a batched embedder keeps its batch size as it would on a stream
    of similar frames. Both modes must give the same identities and similarities within 1e-5.
    """
    from edge_sdk.tasks.faces import FaceRecognizer, RecognizerOptions

    one, eight = face_grid(1), face_grid(8)
    with tempfile.TemporaryDirectory() as d:
        recs = {}
        frames = {"1": one, "8": eight}
        for mode in ("batched", "per_face"):
            for k in frames:
                rec = FaceRecognizer(
                    detector=ASSETS / "detectors/face_detection_full_range.tflite",
                    embedder=ASSETS / "embedders" / embedder,
                    gallery=Path(d) / f"{mode}{k}.db",
                    num_threads=threads,
                    options=RecognizerOptions(),
                )
                assert rec.embedder is not None
                for i, name in enumerate(FACE_PHOTOS):
                    rec.enrol(f"person{i}", load_image(ASSETS / "images/tests" / name), source=name)
                rec.embedder.batching = mode == "batched"
                recs[f"{mode} {k}"] = rec
        found = {k: len(r.recognize(frames[k.split()[1]])) for k, r in recs.items()}
        a = recs["batched 8"].recognize(eight)
        b = recs["per_face 8"].recognize(eight)
        same = [x.identity for x in a] == [y.identity for y in b] and all(
            abs((x.similarity or 0) - (y.similarity or 0)) < 1e-5 for x, y in zip(a, b, strict=True)
        )
        fns = {k: functools.partial(r.recognize, frames[k.split()[1]]) for k, r in recs.items()}
        for fn in fns.values():
            for _ in range(3):
                fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(runs):
            for k, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[k].append((time.perf_counter() - t) * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        for r in recs.values():
            r.close()
    res = {
        "frame": f"{one.shape[1]}x{one.shape[0]}",
        "faces_found": found,
        "same_answers": same,
        "ms": {k: round(v, 2) for k, v in med.items()},
        "ratio_8_over_1_batched": round(med["batched 8"] / med["batched 1"], 2),
        "ratio_8_over_1_per_face": round(med["per_face 8"] / med["per_face 1"], 2),
        "goal": "8 faces <= 5x one face",
    }
    print(
        f"\nmany faces, load average {os.getloadavg()[0]:.1f} ({res['frame']} frame, BlazeFace full range + {embedder} + gallery of 4): "
        f"faces found {found}, batched and per-face answers {'agree' if same else 'DIFFER'}"
    )
    for k, v in med.items():
        print(f"  recognize, {k:<12} {v:8.2f} ms")
    print(
        f"  8 faces / 1 face: batched {res['ratio_8_over_1_batched']:.2f}x, one invoke per face "
        f"{res['ratio_8_over_1_per_face']:.2f}x (goal <= 5x)"
    )
    return res


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--only", choices=("models", "many", "matching"), action="append")
    ap.add_argument("--json", action="store_true", help="with --only many: also print its figures as JSON")
    args = ap.parse_args(argv)
    only = set(args.only or ("models", "many", "matching"))
    if "models" in only:
        bench_models(args.runs, args.threads)
    if "many" in only:
        res = bench_many_faces(args.runs, args.threads)
        if args.json:
            print(json.dumps(res))
    if "matching" in only:
        bench_matching([int(s) for s in args.sizes.split(",")], args.runs)


if __name__ == "__main__":
    main()
