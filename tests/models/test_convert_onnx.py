"""An ONNX CNN (NCHW, built here with the onnx helper API) through ``edge-sdk convert`` (onnx2tf).

The int8 model (NHWC, uint8 raw pixels in) is compared with onnxruntime running the float
ONNX model on the same normalized images.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow
H = W = 24


def _onnx_cnn(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b2"),
        numpy_helper.from_array(rng.normal(0, 0.5, (8, 4)).astype(np.float32), "wf"),
        numpy_helper.from_array(np.zeros(4, np.float32), "bf"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, H, W])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnx_cnn_converts_and_matches_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnx2tf")
    ort = pytest.importorskip("onnxruntime")
    from converters.formats import ModelFormat, detect_format
    from edge_sdk.cli.main import main
    from edge_sdk.model import Model

    onnx_path = tmp_path / "cnn.onnx"
    _onnx_cnn(onnx_path)
    assert detect_format(onnx_path) is ModelFormat.ONNX
    cal = tmp_path / "cal"
    cal.mkdir()
    rng = np.random.default_rng(1)
    images = []
    for i in range(24):
        # smooth random images: blurred noise, so activations look like natural ones
        img = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(cal / f"{i:02d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        images.append(img)
    out = tmp_path / "cnn_int8.tflite"
    report_path = tmp_path / "report.json"
    rc = main(
        [
            "convert", str(onnx_path), "--calibration", str(cal), "--output", str(out),
            "--mean", "127.5", "--std", "127.5", "--report", str(report_path),
            "--latency-runs", "3", "--no-progress",
        ]
    )  # fmt: skip
    assert rc == 0
    report = json.loads(report_path.read_text())
    assert report["model"]["format"] == "onnx" and report["ops"]["float_ops"] == []

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    model = Model(out)
    assert model.input.shape == (1, H, W, 3) and model.input.dtype == np.uint8
    cos = []
    for img in images:
        x = ((img.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        ref = sess.run(None, {"input": x})[0][0]
        got = model.run(img[None])[0].reshape(-1)
        assert int(got.argmax()) == int(ref.argmax()) or abs(ref.max() - ref[got.argmax()]) < 0.02
        cos.append(float(ref @ got / np.linalg.norm(ref) / np.linalg.norm(got)))
    assert np.mean(cos) > 0.99
    assert report["fidelity"]["outputs"][0]["cosine_mean"] == pytest.approx(np.mean(cos), abs=0.01)
