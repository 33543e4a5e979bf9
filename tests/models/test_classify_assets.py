"""Classification on real published models, against the answers in shared/assets/README.md."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edge_sdk.errors import (
    CorruptModelError,
    EdgeTpuRequiredError,
    LabelsError,
    ModelNotFoundError,
    NotATfliteModelError,
    OptionsError,
    UnresolvedOpsError,
    UnsupportedModelError,
)
from edge_sdk.image import load_image
from edge_sdk.model import Model
from edge_sdk.tasks.classify import Classifier, ClassifierOptions


@pytest.fixture(scope="module")
def mobilenet(assets):
    c = assets / "classification"
    return Classifier(c / "mobilenet_v1_0.5_160_quant.tflite", labels=c / "imagenet_labels.txt", top_k=3)


@pytest.mark.parametrize(
    ("image", "top_id", "label", "score"),
    [("parrot.jpg", 89, "macaw", 0.99), ("burger.jpg", 934, "cheeseburger", 1.00)],
)
def test_published_top1(assets, mobilenet, image, top_id, label, score):
    result = mobilenet.classify(load_image(assets / "classification/images" / image))
    assert result.top is not None
    assert (result.top.id, result.top.label) == (top_id, label)
    assert result.top.score == pytest.approx(score, abs=0.03)


def test_grace_hopper_top3_set(assets, mobilenet):
    result = mobilenet.classify(load_image(assets / "classification/images/grace_hopper.bmp"))
    assert {c.id for c in result} == {668, 458, 401}


def test_metadata_labels_without_flag(assets):
    c = assets / "classification"
    clf = Classifier(c / "mobilenet_v1_0.25_224_quant_with_metadata.tflite", top_k=1)
    assert clf.labels is not None and clf.labels.source.endswith("(embedded)")
    for image, top_id, label, score in [
        ("burger.jpg", 934, "cheeseburger", 0.96),
        ("parrot.jpg", 89, "macaw", 0.81),
    ]:
        top = clf.classify(load_image(c / "images" / image)).top
        assert top is not None and (top.id, top.label) == (top_id, label)
        assert top.score == pytest.approx(score, abs=0.04)


def test_automl_flowers_embedded_labels(assets):
    d = assets / "classification/flowers_automl"
    clf = Classifier(d / "automl_labeler_model.tflite")
    expected = (d / "labels_from_metadata.txt").read_text().split()
    assert clf.labels is not None
    assert [clf.labels.get(i) for i in range(5)] == expected


def test_rgba_png_is_accepted(assets, mobilenet):
    raw = load_image(assets / "classification/images/sparrow.png")
    assert raw.shape[2] == 3
    import cv2

    rgba = cv2.imread(str(assets / "classification/images/sparrow.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4  # the asset really is RGBA
    a = mobilenet.classify(raw)
    b = mobilenet.classify(cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA))  # RGBA array straight in
    assert [c.id for c in a] == [c.id for c in b]


def test_model_from_bytes_equals_model_from_path(assets, mobilenet):
    path = assets / "classification/mobilenet_v1_0.5_160_quant.tflite"
    clf = Classifier(path.read_bytes(), labels=assets / "classification/imagenet_labels.txt", top_k=3)
    img = load_image(assets / "classification/images/parrot.jpg")
    assert [(c.id, c.score) for c in clf.classify(img)] == [(c.id, c.score) for c in mobilenet.classify(img)]


def test_specs_and_quantization(assets):
    m = Model(assets / "classification/mobilenet_v1_0.5_160_quant.tflite")
    assert m.input.shape == (1, 160, 160, 3) and m.input.dtype == np.uint8
    assert m.input.quant.scale == pytest.approx(0.0078125) and m.input.quant.zero_point == 128
    assert m.outputs[0].quant.scale == pytest.approx(1 / 256)


def test_threshold_and_top_k(assets, mobilenet):
    clf = Classifier(
        mobilenet.model, labels=mobilenet.labels, options=ClassifierOptions(top_k=5, threshold=0.5)
    )
    result = clf.classify(load_image(assets / "classification/images/parrot.jpg"))
    assert [c.id for c in result] == [89]


@pytest.mark.parametrize(("kwargs", "message"), [({"top_k": 0}, "top_k"), ({"threshold": 1.5}, "threshold")])
def test_options_checked_when_built(kwargs, message):
    with pytest.raises(OptionsError, match=message):
        ClassifierOptions(**kwargs)


def test_wrong_label_file_is_an_error_at_load(assets, tmp_path):
    short = tmp_path / "labels.txt"
    lines = (assets / "classification/imagenet_labels.txt").read_text().splitlines()
    short.write_text("\n".join(lines[1:]) + "\n")  # drop "background": 1000 labels
    with pytest.raises(LabelsError, match=r"1000 labels.*1001 classes"):
        Classifier(assets / "classification/mobilenet_v1_0.5_160_quant.tflite", labels=short)


@pytest.mark.parametrize(
    ("relpath", "error", "message"),
    [
        ("edgetpu/mobilenet_v1_0.25_128_quant_edgetpu.tflite", EdgeTpuRequiredError, "Edge TPU"),
        ("misc/corrupted_blaze_face_short_range.tflite", CorruptModelError, "corrupt or truncated"),
        ("misc/model_invoking_error.tflite", UnresolvedOpsError, "fake-op-double"),
        ("classification/images/parrot.jpg", NotATfliteModelError, "TFL3"),
        ("no/such/model.tflite", ModelNotFoundError, "does not exist"),
        ("face/detectors/face_detection_yunet_2026may.onnx", NotATfliteModelError, "ONNX"),
    ],
)
def test_bad_models_raise_typed_one_line_errors(assets, relpath, error, message):
    with pytest.raises(error, match=message) as info:
        Model(assets / relpath)
    assert "\n" not in str(info.value)


def test_truncated_model(assets, tmp_path):
    data = (assets / "classification/mobilenet_v1_0.5_160_quant.tflite").read_bytes()
    for cut in (8, 1000, len(data) // 2):
        p = tmp_path / f"cut{cut}.tflite"
        p.write_bytes(data[:cut])
        with pytest.raises((CorruptModelError, NotATfliteModelError)):
            Model(p)


def test_detector_is_not_a_classifier(assets):
    ssd = assets / "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
    with pytest.raises(UnsupportedModelError, match="TFLite_Detection_PostProcess"):
        Classifier(ssd)


def test_import_and_classify_never_import_tensorflow(assets):
    code = (
        "import sys, edge_sdk\n"
        "from edge_sdk import Classifier, load_image\n"
        f"c = Classifier({str(assets / 'classification/mobilenet_v1_0.5_160_quant.tflite')!r})\n"
        f"r = c.classify(load_image({str(assets / 'classification/images/parrot.jpg')!r}))\n"
        "assert r.top.id == 89, r\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'converters', 'keras'))\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
