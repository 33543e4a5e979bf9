"""Runtime backend selection and the QEMU-7 cpuinfo guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk import backend

X86_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2\n"
PI4_CPUINFO = (
    "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n"
)


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "version", "problem"),
    [
        ("aarch64", X86_CPUINFO, "2.3.0", True),  # QEMU 7.2 user mode on an x86 host
        ("aarch64", PI4_CPUINFO, "2.3.0", False),  # a real Raspberry Pi 4
        ("aarch64", X86_CPUINFO, "2.1.6", False),  # before the cpuinfo library that crashes
        ("x86_64", X86_CPUINFO, "2.3.0", False),
    ],
)
def test_arm_cpuinfo_guard(monkeypatch, tmp_path, machine, cpuinfo, version, problem):
    fake = tmp_path / "cpuinfo"
    fake.write_text(cpuinfo)
    monkeypatch.setattr(backend.platform, "system", lambda: "Linux")
    monkeypatch.setattr(backend.platform, "machine", lambda: machine)
    monkeypatch.setattr(backend, "Path", lambda _p: fake)
    monkeypatch.setattr(backend, "_installed_version", lambda _d: version)
    result = backend.arm_cpuinfo_problem()
    assert (result is not None) == problem
    if problem:
        assert "QEMU" in result and "ai-edge-litert<2.2" in result


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
