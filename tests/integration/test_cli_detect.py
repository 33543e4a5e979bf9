"""``edge-sdk detect`` end to end on the published SSD: JSON contract, annotation, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.cli.detect import annotation_path
from edge_sdk.cli.main import main

SSD = "detection/coco_ssd_mobilenet_v1/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_json_lines_and_annotation(assets: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated"
    images = [assets / "detection" / "cats_and_dogs.jpg", assets / "detection" / "multi_objects.jpg"]
    proc = run_cli("detect", "--model", str(assets / SSD), "--annotate", str(out), *map(str, images))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [rec["source"] for rec in lines] == [str(p) for p in images]
    assert [len(rec["detections"]) for rec in lines] == [4, 6]
    first = lines[0]
    assert set(first) == {"source", "frame", "detections", "timing_ms"}
    assert first["frame"] == 0
    d = first["detections"][0]
    assert set(d) == {"id", "label", "score", "box"}
    assert d["label"] == "cat" and d["id"] == 16 and abs(d["score"] - 0.65) <= 0.03
    assert np.allclose(d["box"], [55, 397, 447, 596], atol=3)
    assert {"preprocess", "invoke", "postprocess", "total"} <= set(first["timing_ms"])
    for img in images:
        drawn = cv2.imread(str(out / img.name))
        original = cv2.imread(str(img))
        assert drawn is not None and drawn.shape == original.shape
        assert np.abs(drawn.astype(int) - original.astype(int)).max() > 100  # boxes were drawn


def test_threshold_and_filters(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = str(assets / "detection" / "multi_objects.jpg")
    rc = main(["detect", "-m", str(assets / SSD), "-t", "0.53", "--classes", "chair,clock", img])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert [d["label"] for d in rec["detections"]] == ["chair", "clock"]


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc"])
def test_threshold_outside_unit_interval_is_usage_error(assets: Path, value: str) -> None:
    proc = run_cli("detect", "--model", str(assets / SSD), "--threshold", value, "x.jpg")
    assert proc.returncode == 2
    assert "--threshold" in proc.stderr and "expected a number in [0, 1]" in proc.stderr
    assert proc.stdout == ""


def test_short_label_file_is_one_line_error(assets: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("person\nbicycle\n")
    proc = run_cli(
        "detect",
        "--model",
        str(assets / SSD),
        "--labels",
        str(labels),
        str(assets / "detection" / "cats_and_dogs.jpg"),
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "2 labels" in proc.stderr and "90 classes" in proc.stderr


def test_unknown_layout_is_one_line_error(assets: Path) -> None:
    clf = assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite"
    proc = run_cli("detect", "--model", str(clf), str(assets / "detection" / "cats_and_dogs.jpg"))
    assert proc.returncode == 1
    assert "unknown detection output layout" in proc.stderr and "[1, 1001] uint8" in proc.stderr


def test_annotation_names(tmp_path: Path) -> None:
    taken: set[Path] = set()
    assert annotation_path(tmp_path, "a/cat.JPG", 0, taken) == tmp_path / "cat.jpg"
    assert annotation_path(tmp_path, "b/cat.jpg", 1, taken) == tmp_path / "cat_000001.jpg"
    assert annotation_path(tmp_path, "clip.mp4", 7, taken) == tmp_path / "clip_000007.jpg"
    assert annotation_path(tmp_path, "rtsp://cam/stream 1", 3, taken).name == "stream_1_000003.jpg"
