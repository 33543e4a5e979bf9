"""The published YuNet face detector (ONNX, dynamic input size) through ``edge-sdk convert``
(onnx2tf, then int8), decoded by hand: the int8 model still finds Obama where the assets'
reference run puts him (YuNet box x, y, w, h = 373, 94, 231, 321 on obama.jpg)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow
SIDE = 640


def _decode_best(outputs: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """OpenCV's YuNet decoding (face_detect.cpp) of the best anchor: score = sqrt(cls * obj);
    centre = (col, row) + offset, size = exp(...) , all times the stride. Outputs are told
    apart by shape (names do not survive the conversion); cls and obj enter symmetrically."""
    by_n: dict[int, dict[int, list[np.ndarray]]] = {}
    for o in outputs:
        n, c = o.shape[-2], o.shape[-1]
        by_n.setdefault(n, {}).setdefault(c, []).append(o.reshape(n, c))
    best = (-1.0, np.zeros(4))
    for n, group in by_n.items():
        cols = math.isqrt(n)
        stride = SIDE // cols
        cls, obj = (np.clip(x[:, 0], 0, 1) for x in group[1])
        score = np.sqrt(cls * obj)
        i = int(score.argmax())
        if score[i] > best[0]:
            r, c = divmod(i, cols)
            b = group[4][0][i]
            cx, cy = (c + b[0]) * stride, (r + b[1]) * stride
            w, h = np.exp(b[2]) * stride, np.exp(b[3]) * stride
            best = (float(score[i]), np.array([cx - w / 2, cy - h / 2, w, h]))
    return best


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_yunet_onnx_converts_and_still_detects(assets: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx2tf")
    from edge_sdk.cli.main import main
    from edge_sdk.model import Model

    out = tmp_path / "yunet_int8.tflite"
    report_path = tmp_path / "report.json"
    rc = main(
        [
            "convert", str(assets / "face" / "detectors" / "face_detection_yunet_2026may.onnx"),
            "--calibration", str(assets / "face" / "images"), "--size", f"{SIDE}x{SIDE}", "--color", "bgr",
            "--task", "face_detection", "--output", str(out), "--report", str(report_path),
            "--latency-runs", "2", "--no-progress",
        ]
    )  # fmt: skip
    assert rc == 0
    report = json.loads(report_path.read_text())
    assert report["model"]["format"] == "onnx" and report["ops"]["float_ops"] == []
    assert report["edgetpu"]["precheck"]["fully_mapped"] is True

    model = Model(out)
    assert model.input.shape == (1, SIDE, SIDE, 3) and model.input.dtype == np.uint8
    assert model.metadata.color_space.value == "bgr"
    bgr = cv2.imread(str(assets / "face" / "images" / "tests" / "obama.jpg"))
    h, w = bgr.shape[:2]
    model.set_input(cv2.resize(bgr, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)[None])
    model.invoke()
    score, box = _decode_best([model.output_float(i) for i in range(len(model.outputs))])
    box = box * np.array([w / SIDE, h / SIDE, w / SIDE, h / SIDE])
    assert score > 0.6
    assert _iou(box, np.array([373.0, 94.0, 231.0, 321.0])) > 0.8, box
