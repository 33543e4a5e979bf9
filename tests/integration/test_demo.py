"""The main job end to end: train on scikit-learn digits, convert to int8, classify on device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.slow


def test_demo_trains_converts_and_classifies(tmp_path: Path):
    work = tmp_path / "demo"
    out = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "demo", "--workdir", str(work), "--show", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4, out.stdout  # 3 JSON results, then the summary object
    rows = [json.loads(line) for line in lines[:3]]
    assert all(r["classes"][0]["label"] == str(r["classes"][0]["id"]) for r in rows)
    summary = json.loads(lines[3])
    assert summary["heldback_images"] == 360
    assert summary["float_accuracy"] > 0.9
    assert abs(summary["int8_accuracy"] - summary["float_accuracy"]) <= 0.01
    assert summary["int8_bytes"] * 3 < summary["float_bytes"]
    assert "top-1 accuracy" in out.stderr

    # Recompute the int8 accuracy independently, through the classify command on the folder.
    model = Path(summary["model_path"])
    res = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "classify", "-m", str(model), "-k", "1", str(work / "heldback")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    results = [json.loads(line) for line in res.stdout.splitlines()]
    correct = sum(int(Path(r["source"]).stem.split("_")[1]) == r["classes"][0]["id"] for r in results)
    assert correct / len(results) == pytest.approx(summary["int8_accuracy"], abs=1e-9)

    info = json.loads(
        subprocess.run(
            [sys.executable, "-m", "edge_sdk", "info", "--json", str(model)],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert info["inputs"][0]["shape"] == [1, 32, 32, 1] and info["inputs"][0]["dtype"] == "uint8"
    assert info["metadata"]["color_space"] == "grayscale" and info["task"] == "classification"
    assert next(iter(info["labels"].values())) == [str(i) for i in range(10)]
