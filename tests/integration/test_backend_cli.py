"""EDGE_SDK_BACKEND forces the interpreter backend of a real ``edge-sdk info`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk import backend


def _info_backend(env_value: str, assets: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, backend.ENV_VAR: env_value}
    model = assets / "classification/mobilenet_v1_0.5_160_quant.tflite"
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", "info", "--json", str(model)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_forced_unknown_backend_is_one_clear_line(assets):
    out = _info_backend("onnxruntime", assets)
    assert out.returncode == 1
    assert "EDGE_SDK_BACKEND='onnxruntime' is not a backend" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_forced_tensorflow_backend_is_used_and_reported(assets):
    pytest.importorskip("tensorflow")
    out = _info_backend("tensorflow", assets)
    assert out.returncode == 0, out.stderr[-1000:]
    assert json.loads(out.stdout)["backend"]["name"] == "tensorflow"


def test_forced_missing_backend_names_the_package(assets):
    try:
        import tflite_runtime  # noqa: F401

        pytest.skip("tflite_runtime is installed here")
    except ImportError:
        pass
    out = _info_backend("tflite_runtime", assets)
    assert out.returncode == 1 and "pip install tflite-runtime" in out.stderr
