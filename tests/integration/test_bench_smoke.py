"""Every bench runs at a tiny size through the page generator, so that none rots.

No timing is asserted, ever: the figures of a smoke run mean nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("assets")
def test_every_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    pytest.importorskip("mediapipe")
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nkept text\n")
    cmd = [
        sys.executable,
        "bench/report.py",
        "--smoke",
        "--strict",
        "--out",
        str(page),
        "--ulvenv",
        str(tmp_path / "none"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = page.read_text()
    assert "kept text" in text and text.count("bench:begin") == 1 and "cores" in text
    for row in (
        "ImageClassifier",
        "ObjectDetector",
        "FaceDetector",
        "peak RSS",
        "pipeline, classify",
        "pipeline, detect",
        "pipeline, faces",
        "8 faces vs 1 face",
        "SDK overhead",
        "YOLOv8n vs Ultralytics",
    ):
        assert row in text, row
    assert "**differ**" not in text  # the same answers, whatever the timings


def test_vs_ultralytics_parts(tmp_path: Path) -> None:
    """Ultralytics (torch) is never installed for the tests: check the dataset maker and the IoU."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import vs_ultralytics as ul
    finally:
        sys.path.remove(str(ROOT / "bench"))
    yaml = ul.make_dataset(tmp_path, 2, 1, 64)
    assert "names:" in yaml.read_text() and len(list((tmp_path / "labels/train").glob("*.txt"))) == 2
    a = np.array([0, 0, 10, 10], np.float32)
    assert ul.iou(a, a) == pytest.approx(1.0) and ul.iou(a, a + 20) == 0.0
