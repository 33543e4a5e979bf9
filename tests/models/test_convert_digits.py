"""``edge-sdk convert`` on a CNN trained in the test on scikit-learn's digits.

The figures of the deployment report are checked against an independent computation:
Keras for the float model, edge_sdk's Classifier (no flags: preprocessing and labels come
from the embedded metadata) and MediaPipe Tasks for the int8 one.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.convert_helpers import Digits, build_digits

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    pytest.importorskip("tensorflow")
    pytest.importorskip("sklearn")
    return build_digits(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def converted(digits: Digits, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from edge_sdk.cli.main import main

    out = tmp_path_factory.mktemp("digits_out")
    model = out / "digits_int8.tflite"
    report = out / "report.json"
    rc = main(
        [
            "convert",
            str(digits.keras_path),
            "--calibration",
            str(digits.calibration),
            "--validation",
            str(digits.validation),
            "--labels",
            str(digits.labels),
            "--mean",
            "0",
            "--std",
            "255",
            "--output",
            str(model),
            "--report",
            str(report),
            "--calibration-size",
            "150",
            "--latency-runs",
            "10",
            "--no-progress",
        ]
    )
    assert rc == 0
    return model, json.loads(report.read_text())


def _val_files(digits: Digits) -> list[tuple[Path, int]]:
    return [(p, int(p.parent.name)) for p in sorted(digits.validation.rglob("*.png"))]


def test_int8_top1_within_one_point_of_float(digits: Digits, converted: tuple[Path, dict]) -> None:
    from edge_sdk.image import load_image
    from edge_sdk.tasks.classify import Classifier

    model, report = converted
    clf = Classifier(str(model))  # no flags: everything from the metadata
    files = _val_files(digits)
    hits = 0
    for path, label in files:
        top = clf.classify(load_image(path)).categories[0]
        assert top.label == str(top.id)  # embedded labels "0".."9"
        hits += top.id == label
    int8_acc = hits / len(files) * 100.0
    assert digits.float_accuracy > 90.0
    assert abs(digits.float_accuracy - int8_acc) <= 1.0
    # The report's figures agree with this independent computation.
    acc = report["accuracy"]
    assert acc["images"] == len(files)
    assert acc["top1_int8"] == pytest.approx(int8_acc, abs=1e-6)
    assert acc["top1_float"] == pytest.approx(digits.float_accuracy, abs=0.5)
    assert acc["drop_points"] == pytest.approx(acc["top1_float"] - acc["top1_int8"])


def test_report_fidelity_size_and_ops_agree(digits: Digits, converted: tuple[Path, dict]) -> None:
    from edge_sdk.model import Model

    model_path, report = converted
    m = Model(model_path)
    assert m.input.dtype == np.uint8 and m.outputs[0].dtype == np.uint8
    assert m.input.quant.scale == 1.0 and m.input.quant.zero_point == 0  # raw pixels in
    # Fidelity: Keras float vs the int8 model, same images in the same order (sorted paths).
    files = _val_files(digits)
    probs_f = []
    probs_q = []
    import keras

    km = keras.models.load_model(digits.keras_path, compile=False)
    for path, _ in files:
        img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)[None]
        probs_f.append(km(img.astype(np.float32) / 255.0).numpy()[0])
        probs_q.append(m.run(img)[0][0])
    a, b = np.array(probs_f, np.float64), np.array(probs_q, np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    fid = report["fidelity"]["outputs"][0]
    assert report["fidelity"]["images"] == len(files)
    assert fid["cosine_mean"] == pytest.approx(cos.mean(), abs=2e-3)
    assert fid["max_abs_error"] == pytest.approx(np.abs(a - b).max(), abs=0.02)
    # Sizes.
    assert report["size"]["int8_bytes"] == model_path.stat().st_size
    assert report["size"]["ratio"] == pytest.approx(report["size"]["float_bytes"] / model_path.stat().st_size)
    # Op table: the same ops the runtime's file reader counts, all int8.
    counts = m.file.op_counts
    assert sum(r["count"] for r in report["ops"]["table"]) == sum(counts.values())
    assert {r["op"] for r in report["ops"]["table"]} == set(counts)
    assert report["ops"]["float_ops"] == []
    assert all(r["precision"] in ("int8", "conversion") for r in report["ops"]["table"])
    # Latency and the Edge TPU pre-check are there.
    assert report["latency_ms"]["float_median"] > 0 and report["latency_ms"]["int8_median"] > 0
    assert report["edgetpu"]["precheck"]["fully_mapped"] is True
    assert Path(str(model_path.with_name("report.md"))).is_file()


def test_metadata_read_by_runtime(converted: tuple[Path, dict]) -> None:
    from edge_sdk.model import Model

    meta = Model(converted[0]).metadata
    assert meta.task == "classification"
    assert meta.labels is not None and [meta.labels.get(i) for i in range(10)] == [str(i) for i in range(10)]
    assert meta.normalization is not None and meta.normalization.mean == (0.0,)
    assert meta.color_space.value == "rgb"


def test_mediapipe_image_classifier_reads_our_labels(digits: Digits, converted: tuple[Path, dict]) -> None:
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    classifier = vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(converted[0])), max_results=3
        )
    )
    files = _val_files(digits)[::25]
    hits = 0
    for path, label in files:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        result = classifier.classify(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        )
        top = result.classifications[0].categories[0]
        assert top.category_name == str(top.index)  # our labels, from our metadata
        hits += top.index == label
    classifier.close()
    assert hits >= 0.9 * len(files)


@pytest.mark.parametrize(
    ("input_type", "output_type"), [("int8", "int8"), ("float32", "float32"), ("uint8", "float32")]
)
def test_io_types(digits: Digits, tmp_path: Path, input_type: str, output_type: str) -> None:
    from converters.interface import IOType
    from converters.pipeline import ConvertOptions, convert
    from edge_sdk.image import load_image
    from edge_sdk.model import Model
    from edge_sdk.tasks.classify import Classifier

    out = tmp_path / "m.tflite"
    result = convert(
        ConvertOptions(
            model=digits.keras_path,
            calibration=str(digits.calibration),
            output=out,
            labels=str(digits.labels),
            mean=(0.0,),
            std=(255.0,),
            input_type=IOType(input_type),
            output_type=IOType(output_type),
            calibration_size=100,
            latency_runs=2,
            progress=False,
        )
    )
    m = Model(out)
    assert m.input.dtype.name == input_type and m.outputs[0].dtype.name == output_type
    assert result.report["ops"]["float_ops"] == []
    clf = Classifier(str(out))
    files = _val_files(digits)[::5]
    hits = sum(clf.classify(load_image(p)).categories[0].id == label for p, label in files)
    assert hits / len(files) * 100.0 >= digits.float_accuracy - 3.0


@pytest.mark.parametrize("fmt", ["h5", "saved_model"])
def test_h5_and_saved_model_inputs(digits: Digits, tmp_path: Path, fmt: str) -> None:
    import keras

    from converters.pipeline import ConvertOptions, convert
    from edge_sdk.image import load_image
    from edge_sdk.tasks.classify import Classifier

    km = keras.models.load_model(digits.keras_path, compile=False)
    if fmt == "h5":
        src = tmp_path / "digits.h5"
        km.save(src)
    else:
        src = tmp_path / "digits_saved_model"
        km.export(str(src), verbose=False)
    out = tmp_path / "m.tflite"
    result = convert(
        ConvertOptions(
            model=src,
            calibration=str(digits.calibration),
            output=out,
            labels=str(digits.labels),
            mean=(0.0,),
            std=(255.0,),
            calibration_size=100,
            latency_runs=2,
            progress=False,
        )
    )
    assert result.report["model"]["format"] == fmt
    clf = Classifier(str(out))
    files = _val_files(digits)[::5]
    hits = sum(clf.classify(load_image(p)).categories[0].id == label for p, label in files)
    assert hits / len(files) * 100.0 >= digits.float_accuracy - 3.0
