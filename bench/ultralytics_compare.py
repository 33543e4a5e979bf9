"""Dev script (never in CI, Ultralytics is not a dependency): compare edge_sdk's detections
with Ultralytics' own predictor on the same exported .tflite and image.

    pip install ultralytics   # several GB with torch; in a separate venv
    yolo export model=yolov8n.pt format=tflite int8=True   # or format=edgetpu / plain tflite
    python bench/ultralytics_compare.py yolov8n_saved_model/yolov8n_full_integer_quant.tflite photo.jpg

Prints one JSON object: both detection lists and, per Ultralytics detection, the best edge_sdk
match (same label, IoU, score difference). Pass criteria used in issue 11: labels equal,
IoU >= 0.9, scores within 0.03.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("image")
    ap.add_argument("--threshold", type=float, default=0.25)
    args = ap.parse_args()

    from ultralytics import YOLO  # type: ignore[import-not-found]

    from edge_sdk import Detector, load_image
    from edge_sdk.nms import box_iou

    ours = Detector(args.model, threshold=args.threshold).detect(load_image(args.image))
    res = YOLO(args.model, task="detect").predict(args.image, conf=args.threshold, verbose=False)[0]
    theirs = [
        {"label": res.names[int(c)], "score": float(s), "box": [float(v) for v in b]}
        for b, s, c in zip(
            res.boxes.xyxy.tolist(), res.boxes.conf.tolist(), res.boxes.cls.tolist(), strict=True
        )
    ]
    rows = []
    for t in theirs:
        ious = box_iou(np.array([t["box"]], np.float32), ours.xyxy)[0] if len(ours) else np.zeros(0)
        i = int(np.argmax(ious)) if ious.size else -1
        rows.append(
            {
                "ultralytics": t,
                "edge_sdk": ours.as_dicts()[i] if i >= 0 else None,
                "iou": float(ious[i]) if i >= 0 else 0.0,
                "same_label": i >= 0 and ours.labels[i] == t["label"],
                "score_diff": abs(float(ours.scores[i]) - t["score"]) if i >= 0 else None,
            }
        )
    print(json.dumps({"edge_sdk": ours.as_dicts(), "ultralytics": theirs, "matches": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
