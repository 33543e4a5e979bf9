"""ci/smoke_classify.py (what ci/aarch64_smoke.sh runs in every matrix cell) passes on this
machine's install, and reports SKIP rather than PASS when the assets are absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "ci" / "smoke_classify.py"


def _run(*args: str) -> tuple[int, dict[str, Any], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EDGE_SDK_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, str(SMOKE), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SMOKE_JSON ")]
    assert lines, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[-1].split(" ", 1)[1]), proc.stdout


def test_smoke_classifies_the_parrot_as_macaw(assets: Path) -> None:
    code, result, out = _run("--assets", str(assets), "--expect-prefix", str(ROOT))
    assert code == 0, out
    assert result["status"] == "PASS"
    assert result["top1"].startswith("89 macaw")
    assert result["tiny_model"] == "ok"
    assert result["tensorflow_imported"] is False
    assert result["backend"] in {"ai_edge_litert", "tflite_runtime"}


def test_smoke_fails_when_the_backend_is_not_the_expected_one(assets: Path) -> None:
    code, result, _ = _run("--assets", str(assets), "--expect-version", "0.0.0-not-installed")
    assert code == 1
    assert result["status"] == "FAIL"
    assert any("expected 0.0.0-not-installed" in f for f in result["failures"])


def test_smoke_without_assets_still_runs_the_interpreter_and_says_skip(tmp_path: Path) -> None:
    code, result, out = _run("--assets", str(tmp_path / "absent"))
    assert code == 3, out
    assert result["status"] == "SKIP"
    assert result["tiny_model"] == "ok"
    assert "SKIP classification: assets absent" in out
