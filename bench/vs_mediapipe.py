"""edge_sdk vs MediaPipe Tasks on the same model bytes, frames and answers.

Three comparisons, each timed in interleaved rounds in one run (the ratio is what to read):

1. ImageClassifier: ``mobilenet_v1_0.25_224_quant_with_metadata.tflite`` (standard metadata).
2. ObjectDetector: the shared COCO SSD MobileNet v1, with metadata rewritten by our own
   ``converters/metadata_writer.py`` (written to a temporary file: MediaPipe needs a tensor
   layout it recognises, and this proves the writer in MediaPipe's hands).
3. FaceDetector: BlazeFace short range, with normalization metadata written by our writer.

Answers are compared on a frame already resized to the model's input size, so both runtimes
sample the same pixels (their resizers differ: MediaPipe resamples on its own path, which moves
scores by a few hundredths and boxes by pixels): same top-1 class; for detection the same
classes with box IoU >= 0.9. Throughput is timed on a 640x480 frame (each runtime resizes it
itself) and on the pre-resized frame. Both run on the CPU with XNNPACK; edge_sdk with its
default threads (the cores), as MediaPipe does. Goal: >= 1.2x MediaPipe's throughput.

    python bench/vs_mediapipe.py [--runs N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EDGE_SDK_ASSETS", ROOT.parent / "shared" / "assets"))


def interleaved_ms(
    ours: Callable[[], object], theirs: Callable[[], object], runs: int, rounds: int
) -> tuple[float, float]:
    """Medians (ms) of both, timed call by call alternately after a warm-up."""
    for fn in (ours, theirs):
        for _ in range(5):
            fn()
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds * runs):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        theirs()
        t2 = time.perf_counter()
        a.append((t1 - t0) * 1e3)
        b.append((t2 - t1) * 1e3)
    return statistics.median(a), statistics.median(b)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_boxes(
    ours: list[tuple[int, np.ndarray]], theirs: list[tuple[int, np.ndarray]]
) -> tuple[bool, float]:
    """Same count, each of ours paired with an unused one of theirs of the same class, IoU >= 0.9.

    Returns (all matched, the lowest IoU of the pairs).
    """
    if len(ours) != len(theirs):
        return False, 0.0
    used: set[int] = set()
    worst = 1.0
    for cls, box in ours:
        best, best_j = 0.0, -1
        for j, (c2, b2) in enumerate(theirs):
            if j not in used and c2 == cls and iou(box, b2) > best:
                best, best_j = iou(box, b2), j
        if best_j < 0 or best < 0.9:
            return False, best
        used.add(best_j)
        worst = min(worst, best)
    return True, worst


def load_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    return cv2.cvtColor(
        cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100, help="calls per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from converters.metadata_writer import write_metadata
    from edge_sdk.tasks.classify import Classifier
    from edge_sdk.tasks.detect import Detector
    from edge_sdk.tasks.faces.blazeface import BlazeFaceDetector
    from edge_sdk.tasks.faces.options import FaceDetectorOptions

    def mp_image(rgb: np.ndarray) -> Any:
        return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))

    results: dict[str, Any] = {"load_average": round(os.getloadavg()[0], 1), "rows": []}

    def report(
        name: str,
        same: bool,
        detail: str,
        frames: dict[str, tuple[Callable[[], object], Callable[[], object]]],
        invoke: Callable[[], object],
    ) -> None:
        row: dict[str, Any] = {"what": name, "same_answers": same, "answers": detail}
        # The model's bare invoke (same XNNPACK in both runtimes): MediaPipe's time / this is the
        # most any wrapper could reach if its own pre- and post-processing cost nothing.
        inv, _ = interleaved_ms(invoke, lambda: None, args.runs, args.rounds)
        row["invoke_ms"] = round(inv, 3)
        for label, (ours, theirs) in frames.items():
            a, b = interleaved_ms(ours, theirs, args.runs, args.rounds)
            row[label] = {
                "edge_sdk_ms": round(a, 3),
                "mediapipe_ms": round(b, 3),
                "throughput_ratio": round(b / a, 2),
                "ceiling_ratio": round(b / inv, 2),
            }
        results["rows"].append(row)
        if not args.json:
            print(f"{name}: answers {'agree' if same else 'DIFFER'} ({detail})")
            for label in frames:
                r = row[label]
                print(
                    f"  {label:<22} edge_sdk {r['edge_sdk_ms']:7.3f} ms   MediaPipe {r['mediapipe_ms']:7.3f} ms   "
                    f"throughput x{r['throughput_ratio']:.2f} (goal >= 1.2; ceiling at a free wrapper "
                    f"x{r['ceiling_ratio']:.2f}, invoke alone {row['invoke_ms']:.3f} ms)"
                )

    with tempfile.TemporaryDirectory() as tmp:
        # 1. classification --------------------------------------------------------------------
        clf_path = ASSETS / "classification/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
        big = load_frame(ASSETS / "classification/images/parrot.jpg", (640, 480))
        small = cv2.resize(big, (224, 224), interpolation=cv2.INTER_AREA)
        ours_c = Classifier(clf_path, top_k=1)
        theirs_c = vision.ImageClassifier.create_from_options(
            vision.ImageClassifierOptions(
                base_options=BaseOptions(model_asset_path=str(clf_path)), max_results=1
            )
        )
        a = ours_c.classify(small).top
        b = theirs_c.classify(mp_image(small)).classifications[0].categories[0]
        assert a is not None
        same = a.id == b.index
        mb, ms = mp_image(big), mp_image(small)
        report(
            "ImageClassifier, mobilenet_v1 0.25/224 quant",
            same,
            f"top-1 {a.label} {a.score:.3f} / {b.category_name} {b.score:.3f}",
            {
                "640x480 frame": (lambda: ours_c.classify(big), lambda: theirs_c.classify(mb)),
                "224x224 (input size)": (lambda: ours_c.classify(small), lambda: theirs_c.classify(ms)),
            },
            ours_c.model.invoke,
        )
        theirs_c.close()

        # 2. object detection --------------------------------------------------------------------
        ssd = ASSETS / "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
        labels = (ssd.parent / "labelmap.txt").read_text().splitlines()
        ssd_md = Path(tmp) / "ssd_md.tflite"
        ssd_md.write_bytes(
            write_metadata(
                ssd.read_bytes(),
                task="detection",
                labels=labels,
                mean=(127.5,),
                std=(127.5,),
                num_outputs=4,
                labelled_output=1,
            )
        )
        big = load_frame(ASSETS / "detection/cats_and_dogs.jpg", (640, 480))
        small = cv2.resize(big, (300, 300), interpolation=cv2.INTER_AREA)
        ours_d = Detector(ssd_md, threshold=0.5)
        theirs_d = vision.ObjectDetector.create_from_options(
            vision.ObjectDetectorOptions(
                base_options=BaseOptions(model_asset_path=str(ssd_md)), score_threshold=0.5, max_results=10
            )
        )
        d_ours = ours_d.detect(small)
        d_theirs = theirs_d.detect(mp_image(small)).detections
        ours_boxes = [
            (int(c), np.asarray(b, float)) for c, b in zip(d_ours.class_ids, d_ours.xyxy, strict=True)
        ]
        theirs_boxes = [
            (
                # MediaPipe gives the label (and no index) when the model has labels
                int(d.categories[0].index)
                if d.categories[0].index is not None
                else labels.index(d.categories[0].category_name),
                np.array(
                    [
                        d.bounding_box.origin_x,
                        d.bounding_box.origin_y,
                        d.bounding_box.origin_x + d.bounding_box.width,
                        d.bounding_box.origin_y + d.bounding_box.height,
                    ],
                    float,
                ),
            )
            for d in d_theirs
        ]
        same, worst = match_boxes(ours_boxes, theirs_boxes)
        mb, ms = mp_image(big), mp_image(small)
        report(
            "ObjectDetector, COCO SSD MobileNet v1 quant (metadata by converters/metadata_writer.py)",
            same,
            f"{len(ours_boxes)} / {len(theirs_boxes)} objects at score >= 0.5, lowest IoU {worst:.3f}",
            {
                "640x480 frame": (lambda: ours_d.detect(big), lambda: theirs_d.detect(mb)),
                "300x300 (input size)": (lambda: ours_d.detect(small), lambda: theirs_d.detect(ms)),
            },
            ours_d.model.invoke,
        )
        theirs_d.close()

        # 3. face detection ----------------------------------------------------------------------
        src = ASSETS / "face/detectors/face_detection_short_range.tflite"
        face_md = Path(tmp) / "short_md.tflite"
        face_md.write_bytes(
            write_metadata(src.read_bytes(), task="detection", mean=(127.5,), std=(127.5,), num_outputs=2)
        )
        big = load_frame(ASSETS / "face/images/tests/obama.jpg", (640, 480))
        square = cv2.resize(
            cv2.cvtColor(cv2.imread(str(ASSETS / "face/images/tests/obama.jpg")), cv2.COLOR_BGR2RGB),
            (128, 128),
            interpolation=cv2.INTER_AREA,
        )
        ours_f = BlazeFaceDetector(src, FaceDetectorOptions(score_threshold=0.5))
        theirs_f = vision.FaceDetector.create_from_options(
            vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_path=str(face_md)), min_detection_confidence=0.5
            )
        )
        f_ours = ours_f.detect(square)
        f_theirs = theirs_f.detect(mp_image(square)).detections
        same, worst = match_boxes(
            [(0, np.asarray(f.box, float)) for f in f_ours],
            [
                (
                    0,
                    np.array(
                        [
                            d.bounding_box.origin_x,
                            d.bounding_box.origin_y,
                            d.bounding_box.origin_x + d.bounding_box.width,
                            d.bounding_box.origin_y + d.bounding_box.height,
                        ],
                        float,
                    ),
                )
                for d in f_theirs
            ],
        )
        mb, ms = mp_image(big), mp_image(square)
        report(
            "FaceDetector, BlazeFace short range",
            same,
            f"{len(f_ours)} / {len(f_theirs)} faces, lowest IoU {worst:.3f}",
            {
                "640x480 frame": (lambda: ours_f.detect(big), lambda: theirs_f.detect(mb)),
                "128x128 (input size)": (lambda: ours_f.detect(square), lambda: theirs_f.detect(ms)),
            },
            ours_f.model.invoke,
        )
        theirs_f.close()

    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
