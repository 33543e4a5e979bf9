"""``edge-sdk convert`` on models in other tools' layouts (issue 11): a float .tflite with an
NCHW input and Ultralytics' ``metadata.json`` (as LiteRT's PyTorch converter writes it), and an
ONNX file in Ultralytics' YOLOv8 export layout (NCHW ``images``, DFL box branch ending in
``/model.22/Mul_2``, ``output0 [1, 4+nc, N]``). Both become full int8 and must detect what the
float model detects (the constructed detector's objects, see ``detect_yolo_builder``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.nms import box_iou
from edge_sdk.preprocess import ResizeMode
from edge_sdk.tasks.detect import Detector

from . import detect_yolo_builder as yb
from . import onnx_yolo_builder as ob
from .test_model_zoo import OBJECTS, SOURCE_SIZE, _keras_yolo, _ultra_meta, _with_json_metadata

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cal")
    for i, im in enumerate((yb.calibration(12) * 255).round().astype(np.uint8)):
        cv2.imwrite(str(folder / f"{i:02d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    return folder


def _check(dets, want, score_tol: float, min_iou: float = 0.9) -> None:
    """Same objects as ``want`` (``Detections`` or the constructed objects): labels, IoU, scores."""
    assert len(dets) == len(OBJECTS), dets.as_dicts()
    for cls, box in OBJECTS:
        ious = box_iou(np.array([box], np.float32), dets.xyxy)[0]
        i = int(np.argmax(ious))
        assert ious[i] >= min_iou and dets.class_ids[i] == cls, dets.as_dicts()
        if want is not None:
            j = int(np.argmax(box_iou(np.array([box], np.float32), want.xyxy)[0]))
            assert (
                want.class_ids[j] == cls and abs(float(dets.scores[i]) - float(want.scores[j])) <= score_tol
            )
        else:
            assert float(dets.scores[i]) >= 1.0 - score_tol


def test_nchw_float_tflite_converts_to_full_int8(tmp_path: Path, calibration: Path) -> None:
    pytest.importorskip("tensorflow")
    from converters.pipeline import ConvertOptions, convert
    from converters.quantize_keras import IOType, float_tflite_from_keras

    src = tmp_path / "best_float32.tflite"  # as `yolo export format=tflite` names it
    src.write_bytes(_with_json_metadata(float_tflite_from_keras(_keras_yolo(True)), _ultra_meta()))
    out = tmp_path / "best_int8.tflite"
    convert(ConvertOptions(src, str(calibration), out, input_type=IOType.INT8, output_type=IOType.INT8,
                           latency_runs=1, progress=False, min_calibration=4))  # fmt: skip
    image = yb.draw(OBJECTS, SOURCE_SIZE)
    float_dets = Detector(src, threshold=0.5).detect(image)
    det = Detector(
        out, threshold=0.5
    )  # names, [0, 1] input and letterbox come from the float model's metadata
    assert det.model.input.dtype == np.int8 and det.model.input.shape == (1, 3, yb.SIZE, yb.SIZE)
    assert det.resize is ResizeMode.LETTERBOX and det.labels is not None
    got = det.detect(image)
    assert sorted(got.labels) == sorted(float_dets.labels) == ["blue", "green", "red", "red"]
    _check(got, float_dets, 0.03)


def test_ultralytics_layout_onnx_converts_to_full_int8(tmp_path: Path, calibration: Path) -> None:
    pytest.importorskip("onnx2tf")
    ort = pytest.importorskip("onnxruntime")
    from converters.pipeline import ConvertOptions, convert
    from converters.quantize_keras import IOType

    src = tmp_path / "best.onnx"
    ob.build_onnx(src)
    # the float ONNX model scores each object 1.0 at its exact box (input pixels)
    img = yb.draw([(0, (8, 8, 24, 24))], (yb.SIZE, yb.SIZE)).astype(np.float32) / 255
    raw = ort.InferenceSession(str(src)).run(None, {"images": img.transpose(2, 0, 1)[None]})[0][0]
    k = int(raw[4].argmax())
    assert raw[4, k] == pytest.approx(1.0) and raw[:4, k] == pytest.approx([16, 16, 16, 16])
    out = tmp_path / "best_int8.tflite"
    limit = sys.getrecursionlimit()
    convert(ConvertOptions(src, str(calibration), out, input_type=IOType.INT8, output_type=IOType.INT8,
                           mean=(0.0,), std=(255.0,), resize=ResizeMode.LETTERBOX, latency_runs=1,
                           progress=False, min_calibration=4))  # fmt: skip
    # onnx2tf raises the recursion limit to INT_MAX at import; the converter puts it back
    assert sys.getrecursionlimit() == limit
    det = Detector(out, threshold=0.5)
    assert det.model.input.dtype == np.int8 and det.resize is ResizeMode.LETTERBOX
    # boxes in pixels (up to 64) share the int8 output scale (~0.24) with the scores: a score of 1
    # comes back within a few steps of it, and a 16-pixel box within a step per side (IoU >= 0.85)
    step = det.model.outputs[0].quant.scale
    _check(det.detect(yb.draw(OBJECTS, SOURCE_SIZE)), None, 1.5 * step, min_iou=0.85)
