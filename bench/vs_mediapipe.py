"""edge_sdk vs MediaPipe Tasks on the same models, frames and thread count.

1. Image classification: ``mobilenet_v1_0.25_224_quant_with_metadata.tflite`` (standard
   metadata, so MediaPipe's ImageClassifier accepts it) on a 640x480 frame:
   ``Classifier.classify`` vs ``ImageClassifier.classify``.
2. Face detection: BlazeFace short range (with normalization metadata written by our
   converter, which MediaPipe needs) on the same frame: ``BlazeFaceDetector.detect`` vs
   ``FaceDetector.detect``.

Both run on the CPU with the same model bytes; timings are medians of interleaved rounds, and
the top-1 / face count of both are printed so the comparison is like for like.

    python bench/vs_mediapipe.py [--runs N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def compare(
    name: str, ours: Callable[[], object], theirs: Callable[[], object], runs: int, rounds: int
) -> None:
    for fn in (ours, theirs):
        for _ in range(10):
            fn()
    a, b = [], []
    for _ in range(rounds):
        a.append(median_ms(ours, runs))
        b.append(median_ms(theirs, runs))
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        f"{name:<34} edge_sdk {ma:7.3f} ms   MediaPipe {mb:7.3f} ms   ratio edge_sdk/MediaPipe {ma / mb:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--image", type=Path, default=ASSETS / "classification/images/parrot.jpg")
    ap.add_argument("--face-image", type=Path, default=ASSETS / "face/images/tests/obama.jpg")
    args = ap.parse_args()

    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from converters.metadata_writer import write_metadata
    from edge_sdk.tasks.classify import Classifier
    from edge_sdk.tasks.faces.blazeface import BlazeFaceDetector

    def load(path: Path) -> tuple:
        rgb = cv2.cvtColor(cv2.resize(cv2.imread(str(path)), (640, 480)), cv2.COLOR_BGR2RGB)
        return rgb, mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)

    frame, mp_image = load(args.image)

    clf_path = ASSETS / "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
    ours_clf = Classifier(clf_path, top_k=1, num_threads=1)
    theirs_clf = vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(clf_path)), max_results=1)
    )
    top_ours = ours_clf.classify(frame).top
    top_theirs = theirs_clf.classify(mp_image).classifications[0].categories[0]
    print(
        f"classification top-1: edge_sdk {top_ours.label} {top_ours.score:.3f} / "
        f"MediaPipe {top_theirs.category_name} {top_theirs.score:.3f}"
    )
    compare(
        "classify, mobilenet_v1 0.25 224",
        lambda: ours_clf.classify(frame),
        lambda: theirs_clf.classify(mp_image),
        args.runs,
        args.rounds,
    )
    theirs_clf.close()

    frame, mp_image = load(args.face_image)

    with tempfile.TemporaryDirectory() as tmp:
        src = ASSETS / "face/detectors/face_detection_short_range.tflite"
        with_md = Path(tmp) / "short_md.tflite"
        with_md.write_bytes(
            write_metadata(src.read_bytes(), task="detection", mean=(127.5,), std=(127.5,), num_outputs=2)
        )
        ours_face = BlazeFaceDetector(src, num_threads=1)
        theirs_face = vision.FaceDetector.create_from_options(
            vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(with_md)))
        )
        n_ours = len(ours_face.detect(frame))
        n_theirs = len(theirs_face.detect(mp_image).detections)
        print(f"faces found: edge_sdk {n_ours} / MediaPipe {n_theirs}")
        compare(
            "face detect, BlazeFace short range",
            lambda: ours_face.detect(frame),
            lambda: theirs_face.detect(mp_image),
            args.runs,
            args.rounds,
        )
        theirs_face.close()


if __name__ == "__main__":
    main()
