"""The edge-sdk CLI as users script it: JSON Lines on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], capture_output=True, text=True, timeout=timeout
    )


def test_classify_contract(assets):
    c = assets / "classification"
    out = cli(
        "classify",
        "--model",
        str(c / "mobilenet_v1_0.5_160_quant.tflite"),
        "--labels",
        str(c / "imagenet_labels.txt"),
        str(c / "images/parrot.jpg"),
        str(c / "images/burger.jpg"),
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["classes"][0]["label"] for r in lines] == ["macaw", "cheeseburger"]
    first = lines[0]
    assert set(first) == {"source", "frame", "classes", "timing_ms"}
    assert first["source"].endswith("parrot.jpg") and first["frame"] == 0
    assert set(first["classes"][0]) == {"id", "label", "score"}
    assert {"preprocess", "invoke", "postprocess", "total"} <= set(first["timing_ms"])


def test_classify_metadata_labels_and_folder(assets):
    c = assets / "classification"
    out = cli(
        "classify",
        "-m",
        str(c / "mobilenet_v1_0.25_224_quant_with_metadata.tflite"),
        "-k",
        "1",
        str(c / "images"),
    )
    assert out.returncode == 0, out.stderr
    rows = {
        json.loads(line)["source"].rsplit("/", 1)[1]: json.loads(line) for line in out.stdout.splitlines()
    }
    assert set(rows) == {"burger.jpg", "grace_hopper.bmp", "parrot.jpg", "sparrow.png"}
    assert rows["burger.jpg"]["classes"][0]["label"] == "cheeseburger"
    assert [r["frame"] for r in sorted(rows.values(), key=lambda r: r["frame"])] == [0, 1, 2, 3]


def test_labels_null_without_any_labels(assets):
    # The uint8 MobileFaceNet has one [1, 128] output and no metadata: a "classifier" without labels.
    model = assets / "face/embedders/mobilefacenet_uint8.tflite"
    out = cli("classify", "-m", str(model), "-k", "2", str(assets / "face/images/tests/obama.jpg"))
    assert out.returncode == 0, out.stderr
    classes = json.loads(out.stdout)["classes"]
    assert len(classes) == 2 and all(c["label"] is None for c in classes)


def test_labels_flag_overrides_embedded_labels(assets, tmp_path):
    labels = tmp_path / "mine.txt"
    labels.write_text("".join(f"L{i}\n" for i in range(1001)))
    c = assets / "classification"
    out = cli(
        "classify",
        "-m",
        str(c / "mobilenet_v1_0.25_224_quant_with_metadata.tflite"),
        "--labels",
        str(labels),
        "-k",
        "1",
        str(c / "images/parrot.jpg"),
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["classes"][0]["label"] == "L89"


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ("edgetpu/mobilenet_v1_0.25_128_quant_edgetpu.tflite", "Edge TPU"),
        ("misc/corrupted_blaze_face_short_range.tflite", "corrupt"),
        ("misc/model_invoking_error.tflite", "fake-op-double"),
    ],
)
def test_bad_models_exit_1_with_one_stderr_line(assets, model, needle):
    out = cli("classify", "--model", str(assets / model), str(assets / "classification/images/parrot.jpg"))
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0] and "Traceback" not in out.stderr


def test_usage_errors_exit_2(assets):
    c = assets / "classification"
    out = cli(
        "classify",
        "-m",
        str(c / "mobilenet_v1_0.5_160_quant.tflite"),
        "--threshold",
        "1.5",
        str(c / "images"),
    )
    assert out.returncode == 2 and "[0, 1]" in out.stderr


def test_missing_source_exit_1(assets):
    c = assets / "classification"
    out = cli("classify", "-m", str(c / "mobilenet_v1_0.5_160_quant.tflite"), "/no/such/photo.jpg")
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "/no/such/photo.jpg" in out.stderr


def test_info_on_ssd_lists_outputs_and_labelmap(assets):
    ssd = assets / "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
    out = cli("info", "--json", str(ssd))
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert len(info["outputs"]) == 4
    assert [o["shape"] for o in info["outputs"]] == [[1, 10, 4], [1, 10], [1, 10], [1]]
    labels = next(iter(info["labels"].values()))
    expected = (assets / "detection/coco_ssd_mobilenet_v1/labelmap.txt").read_text().splitlines()
    assert labels == expected and len(labels) == 90
    assert info["task"] == "detection" and info["needs_edgetpu"] is False
    assert info["backend"]["name"] in ("ai_edge_litert", "tflite_runtime", "tensorflow")
    text = cli("info", str(ssd))
    assert "labelmap.txt" in text.stdout and "TFLite_Detection_PostProcess:3" in text.stdout


def test_info_on_edgetpu_model_describes_it(assets):
    out = cli("info", "--json", str(assets / "edgetpu/mobilenet_v1_0.25_128_quant_edgetpu.tflite"))
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["needs_edgetpu"] is True and info["ops"] == {"edgetpu-custom-op": 1}


def test_help_everywhere():
    for args in (["--help"], ["classify", "--help"], ["info", "--help"], ["demo", "--help"]):
        out = cli(*args)
        assert out.returncode == 0 and "usage" in out.stdout
