"""YOLO decoding on real YOLO-format .tflite models built by the test (see detect_yolo_builder).

Every layout (YOLOv8 [1,4+nc,N], transposed [1,N,4+nc], YOLOv5 [1,N,5+nc]) runs as float and
as full int8 (converted with converters.quantize_keras), with boxes in input pixels or normalized.
The correct boxes are known by construction, so the test checks the whole chain: layout and
coordinate detection, dequantization, NMS, and undoing the letterbox to source pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.errors import LabelsError, UnsupportedModelError
from edge_sdk.labels import LabelMap
from edge_sdk.nms import box_iou
from edge_sdk.preprocess import ResizeMode
from edge_sdk.tasks.decoders import BoxCoordinates, DetectorHead
from edge_sdk.tasks.detect import Detector, DetectorOptions

from . import detect_yolo_builder as yb

pytestmark = pytest.mark.slow

LABELS = LabelMap({0: "red", 1: "green", 2: "blue"}, "test labels")

# A 128x96 source letterboxes to 64x48 at y offset 8 (scale 0.5), so these source boxes land
# exactly on the model's 4-pixel candidate grid.
SOURCE_SIZE = (128, 96)
OBJECTS = [
    (0, (8, 8, 40, 40)),  # red 16x16 input px
    (1, (56, 16, 104, 48)),  # green 24x16
    (2, (16, 48, 48, 96)),  # blue 16x24, touching the bottom edge
    (0, (96, 64, 112, 80)),  # red 8x8
]

CASES = [
    ("v8", False, True),
    ("v8", True, False),
    ("v8t", False, False),
    ("v8t", True, True),
    ("v5", False, True),
    ("v5", True, False),
]


@pytest.fixture(scope="session")
def yolo_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool, bool], Path]:
    """Build (once per session) the .tflite for (layout, int8, normalized)."""
    pytest.importorskip("tensorflow")
    from converters.quantize_keras import IOType, QuantizeOptions, float_tflite_from_keras, quantize_keras

    cache: dict[tuple[str, bool, bool], Path] = {}
    root = tmp_path_factory.mktemp("yolo")

    def get(layout: str, int8: bool, normalized: bool) -> Path:
        key = (layout, int8, normalized)
        if key not in cache:
            keras_model = yb.build_keras(layout, normalized)
            if int8:
                opts = QuantizeOptions(input_type=IOType.INT8, output_type=IOType.INT8)
                data = quantize_keras(keras_model, yb.calibration(), opts)
            else:
                data = float_tflite_from_keras(keras_model)
            path = root / f"{layout}_{'int8' if int8 else 'float'}_{'norm' if normalized else 'px'}.tflite"
            path.write_bytes(data)
            cache[key] = path
        return cache[key]

    return get


def check_objects(dets, objects, min_score: float = 0.9) -> None:
    assert len(dets) == len(objects), dets.as_dicts()
    for cls, box in objects:
        ious = box_iou(np.array([box], np.float32), dets.xyxy)[0]
        i = int(np.argmax(ious))
        assert ious[i] >= 0.95, (box, dets.as_dicts())
        np.testing.assert_allclose(dets.xyxy[i], box, atol=1.0)
        assert dets.class_ids[i] == cls and dets.labels[i] == LABELS.get(cls)
        assert dets.scores[i] >= min_score


@pytest.mark.parametrize(("layout", "int8", "normalized"), CASES)
def test_known_boxes(yolo_model, layout: str, int8: bool, normalized: bool) -> None:
    det = Detector(yolo_model(layout, int8, normalized), labels=LABELS, threshold=0.5)
    assert det.decoder.head is (DetectorHead.YOLOV5 if layout == "v5" else DetectorHead.YOLOV8)
    assert det.num_classes == 3
    assert det.resize is ResizeMode.LETTERBOX
    units = BoxCoordinates.NORMALIZED if normalized else BoxCoordinates.PIXELS
    if int8:  # decided at load from the output's quantization range
        assert det.model.outputs[0].dtype == np.int8
        assert det.decoder.coordinates is units  # type: ignore[attr-defined]
    image = yb.draw(OBJECTS, SOURCE_SIZE)
    dets = det.detect(image)
    assert det.decoder.coordinates is units  # type: ignore[attr-defined]
    # An int8 head in pixels shares one scale (~64/255) between coordinates and scores, so a
    # score of 1 comes back within a couple of quantization steps (squared for YOLOv5).
    out_q = det.model.outputs[0].quant
    min_score = 1 - 2 * (2 if layout == "v5" else 1) * out_q.scale if int8 else 0.99
    check_objects(dets, OBJECTS, min_score)
    assert list(dets.scores) == sorted(dets.scores, reverse=True)


def test_stretch_and_nms_off(yolo_model) -> None:
    """Stretch resize maps boxes back with two scales; iou=1 keeps the overlapping candidates."""
    path = yolo_model("v8", False, True)
    objects = [(1, (0, 0, 64, 32)), (2, (128, 64, 224, 96))]  # 256x128 source -> 64x64 input
    image = yb.draw(objects, (256, 128))
    det = Detector(path, labels=LABELS, options=DetectorOptions(threshold=0.5, resize=ResizeMode.STRETCH))
    check_objects(det.detect(image), objects)
    raw = Detector(
        path, labels=LABELS, options=DetectorOptions(threshold=0.5, iou=1.0, resize=ResizeMode.STRETCH)
    )
    assert len(raw.detect(image)) > len(objects)


def test_allow_deny_and_max(yolo_model) -> None:
    path = yolo_model("v8t", True, True)
    image = yb.draw(OBJECTS, SOURCE_SIZE)
    reds = Detector(path, labels=LABELS, classes=["red"]).detect(image)
    check_objects(reds, [o for o in OBJECTS if o[0] == 0])
    no_red = Detector(path, labels=LABELS, exclude=[0]).detect(image)
    check_objects(no_red, [o for o in OBJECTS if o[0] != 0])
    assert len(Detector(path, labels=LABELS, max_detections=2).detect(image)) == 2


def test_empty_image(yolo_model) -> None:
    det = Detector(yolo_model("v5", True, False), labels=LABELS)
    dets = det.detect(np.zeros((96, 128, 3), np.uint8))
    assert len(dets) == 0 and dets.xyxy.shape == (0, 4)


def test_ambiguous_layout_needs_labels_or_head(yolo_model) -> None:
    path = yolo_model("v8t", False, False)  # [1, 680, 7]: v8 with 3 classes or v5 with 2
    with pytest.raises(
        UnsupportedModelError, match=r"YOLOv8 \(3 classes\) or YOLOv5 \(2 classes\).*\[1, 680, 7\]"
    ):
        Detector(path)
    det = Detector(path, head=DetectorHead.YOLOV8)
    dets = det.detect(yb.draw(OBJECTS, SOURCE_SIZE))
    assert len(dets) == 4 and all(label is None for label in dets.labels)


def test_channels_first_defaults_to_v8(yolo_model) -> None:
    det = Detector(yolo_model("v8", True, False))
    assert det.decoder.head is DetectorHead.YOLOV8 and det.labels is None


def test_labels_from_metadata(yolo_model, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from converters.metadata_writer import write_metadata

    data = yolo_model("v5", False, False).read_bytes()
    path = tmp_path / "v5_meta.tflite"
    path.write_bytes(
        write_metadata(
            data, task="detection", labels=["red", "green", "blue"], resize="letterbox", std=(255.0,)
        )
    )
    det = Detector(path)
    assert det.decoder.head is DetectorHead.YOLOV5  # told apart by the 3 embedded labels
    check_objects(det.detect(yb.draw(OBJECTS, SOURCE_SIZE)), OBJECTS)


def test_label_file_shorter_than_classes(yolo_model, tmp_path: Path) -> None:
    short = tmp_path / "labels.txt"
    short.write_text("red\ngreen\n")
    with pytest.raises(LabelsError, match=r"2 labels.*3 classes"):
        Detector(yolo_model("v8", True, False), labels=short)


def test_unknown_layout_lists_outputs(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    import keras

    from converters.quantize_keras import float_tflite_from_keras

    inp = keras.Input((32, 32, 3), batch_size=1)
    x = keras.layers.GlobalAveragePooling2D()(inp)
    model = keras.Model(inp, [keras.layers.Dense(10)(x), keras.layers.Dense(4)(x)])
    path = tmp_path / "two_heads.tflite"
    path.write_bytes(float_tflite_from_keras(model))
    with pytest.raises(UnsupportedModelError, match=r"unknown detection output layout") as info:
        Detector(path)
    assert "[1, 10] float32" in str(info.value) and "[1, 4] float32" in str(info.value)


def test_head_and_units_from_edge_sdk_metadata(yolo_model, tmp_path: Path) -> None:
    """edge_sdk.json can name the head and the box units; both are then fixed at load."""
    pytest.importorskip("tensorflow")
    import json

    from converters.metadata_writer import pack_files
    from edge_sdk.metadata import EDGE_SDK_FILE

    data = yolo_model("v8t", False, False).read_bytes()  # ambiguous without help
    info = {"task": "detection", "head": "yolov8", "box_coordinates": "pixels", "resize": "letterbox"}
    path = tmp_path / "v8t_meta.tflite"
    path.write_bytes(pack_files(data, {EDGE_SDK_FILE: json.dumps(info).encode()}))
    det = Detector(path)
    assert det.decoder.head is DetectorHead.YOLOV8
    assert det.decoder.coordinates is BoxCoordinates.PIXELS  # type: ignore[attr-defined]
    dets = det.detect(yb.draw(OBJECTS, SOURCE_SIZE))
    assert len(dets) == len(OBJECTS)
    assert box_iou(np.array([OBJECTS[0][1]], np.float32), dets.xyxy).max() >= 0.95


def test_forced_head_that_does_not_fit(yolo_model) -> None:
    with pytest.raises(UnsupportedModelError, match="post-process"):
        Detector(yolo_model("v8", False, True), head=DetectorHead.SSD)
