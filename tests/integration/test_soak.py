"""Soak at CI size (issue 17, "Proof" 3): 3,000 frames through the pipeline in a fresh process.

``bench/soak.py`` runs a synthetic source, the classification task with a real model and a
JSON-lines file sink; this test runs it with a CI-sized count and checks its figures: every
frame written, RSS growth after warm-up under 5 MB, thread and fd counts flat. The full
100,000-frame run is the same script without ``--frames``; its figures are in
docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.soak


def test_soak_memory_threads_and_fds_stay_flat(assets: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGE_SDK_ASSETS": str(assets), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--frames", "3000", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no figures (exit {proc.returncode}): {proc.stderr[-2000:]}"
    fig = json.loads(lines[-1])
    print(fig)
    assert fig["written"] == fig["frames"] == 3000
    assert fig["samples_after_warmup"] >= 8
    assert fig["rss_growth_mb"] < 5.0, fig
    assert fig["threads"][0] == fig["threads"][1], fig
    assert fig["fds"][0] == fig["fds"][1], fig
    assert proc.returncode == 0
