"""The float MobileFaceNet from the assets, quantized by ``edge-sdk convert`` with calibration on
the face photos, still separates identities after 5-point ArcFace alignment.

ai-edge-quantizer (0.10) has no int8 rule for MINIMUM (half of MobileFaceNet's PReLUs);
``converters.rewrites`` turns it into MAXIMUM and SUB, so the model becomes fully int8.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _detect_keypoints(detector_path: Path, bgr: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    det = cv2.FaceDetectorYN.create(str(detector_path), "", (w, h), 0.6, 0.3)
    _, faces = det.detect(bgr)
    assert faces is not None and len(faces) >= 1
    best = faces[np.argmax(faces[:, -1])]
    return best[4:14].reshape(5, 2)


def _aligned(assets: Path, name: str) -> np.ndarray:
    from edge_sdk.tasks.faces.align import align_face

    bgr = cv2.imread(str(assets / "face" / "images" / "tests" / name))
    kps = _detect_keypoints(assets / "face" / "detectors" / "face_detection_yunet_2026may.onnx", bgr)
    return align_face(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), kps, (112, 112))


def _embed(model: object, rgb: np.ndarray) -> np.ndarray:
    from edge_sdk.model import Model

    assert isinstance(model, Model)
    e = model.run(rgb[None].astype(model.input.dtype))[0].reshape(-1)
    return e / np.linalg.norm(e)


def test_quantized_mobilefacenet_separates_identities(assets: Path, tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_quantizer")
    from edge_sdk.cli.main import main
    from edge_sdk.model import Model

    out = tmp_path / "mobilefacenet_int8.tflite"
    report_path = tmp_path / "report.json"
    rc = main(
        [
            "convert",
            str(assets / "face" / "embedders" / "mobilefacenet.tflite"),
            "--calibration",
            str(assets / "face" / "images"),
            "--output",
            str(out),
            "--report",
            str(report_path),
            "--task",
            "embedding",
            "--latency-runs",
            "5",
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads(report_path.read_text())
    assert report["model"]["format"] == "tflite"
    assert report["ops"]["float_ops"] == []
    assert report["edgetpu"]["precheck"]["fully_mapped"] is True
    assert report["size"]["ratio"] > 2.5

    model = Model(out)
    assert model.input.dtype == np.uint8 and model.metadata.task == "embedding"
    emb = {n: _embed(model, _aligned(assets, f"{n}.jpg")) for n in ("obama", "obama2", "obama3", "biden")}
    same2 = float(emb["obama"] @ emb["obama2"])
    same3 = float(emb["obama"] @ emb["obama3"])
    diff = float(emb["obama"] @ emb["biden"])
    # Published (float / uint8 reference): 0.76/0.75, 0.78/0.70, 0.07/0.17; threshold band 0.40-0.52.
    print(f"cos obama-obama2 {same2:.3f} obama-obama3 {same3:.3f} obama-biden {diff:.3f}")
    assert same2 > diff + 0.3 and same3 > diff + 0.3, (same2, same3, diff)
    assert min(same2, same3) >= 0.5 and diff <= 0.4, (same2, same3, diff)


def test_float16_weight_model_converts(assets: Path, tmp_path: Path) -> None:
    """BlazeFace keeps its weights in float16 behind DEQUANTIZE ops; they are folded to float32
    before ai-edge-quantizer, and the original buffers are not carried into the int8 file."""
    pytest.importorskip("ai_edge_quantizer")
    from converters.pipeline import ConvertOptions, convert
    from edge_sdk.model import Model

    src = assets / "face" / "detectors" / "face_detection_short_range.tflite"
    assert "DEQUANTIZE" in Model(src).file.op_counts
    out = tmp_path / "blazeface_int8.tflite"
    report = convert(
        ConvertOptions(
            model=src,
            calibration=str(assets / "face" / "images"),
            output=out,
            mean=(127.5,),
            std=(127.5,),
            task="face_detection",
            latency_runs=2,
            progress=False,
        )
    ).report
    m = Model(out)
    assert "DEQUANTIZE" not in m.file.op_counts and report["ops"]["float_ops"] == []
    assert m.input.dtype == np.uint8 and m.input.quant.zero_point == 128
    assert out.stat().st_size < src.stat().st_size  # int8 weights, float16 originals dropped
    assert [o["name"] for o in report["fidelity"]["outputs"]] == ["regressors", "classificators"]
    assert out.stat().st_mode & 0o777 != 0o600
