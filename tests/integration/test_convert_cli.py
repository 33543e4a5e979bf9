"""``edge-sdk convert`` as a user runs it: a subprocess, stdout/stderr contracts, Edge TPU step.

The Edge TPU compiler is the stand-in from tests/convert_helpers.py (real command line and
output format); it hands back the published Edge TPU model from the assets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.convert_helpers import Digits, build_digits, write_fake_compiler

EDGE_SDK = [sys.executable, "-m", "edge_sdk"]


def test_help_lists_convert_without_importing_tensorflow() -> None:
    code = (
        "import sys, edge_sdk\n"
        "from edge_sdk.cli.main import build_parser\n"
        "p = build_parser()\n"
        "try:\n"
        "    p.parse_args(['convert', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
        "assert 'converters.pipeline' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--calibration" in r.stdout and "--edgetpu" in r.stdout and "--allow-float-ops" in r.stdout


def test_usage_error_exits_2(tmp_path: Path) -> None:
    r = subprocess.run(
        [*EDGE_SDK, "convert", "model.keras", "--output", str(tmp_path / "o.tflite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--calibration" in r.stderr


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    pytest.importorskip("tensorflow")
    pytest.importorskip("sklearn")
    return build_digits(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_convert_with_edgetpu_subprocess(digits: Digits, assets: Path, tmp_path: Path) -> None:
    exe = write_fake_compiler(tmp_path / "bin")
    env = {
        **os.environ,
        "EDGETPU_COMPILER": str(exe),
        "FAKE_EDGETPU_COMPILED": str(assets / "edgetpu" / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"),
    }
    out = tmp_path / "out" / "digits_int8.tflite"
    report = tmp_path / "out" / "report.json"
    r = subprocess.run(
        [
            *EDGE_SDK, "convert", str(digits.keras_path), "--calibration", str(digits.calibration),
            "--labels", str(digits.labels), "--mean", "0", "--std", "255", "--output", str(out),
            "--edgetpu", "--report", str(report), "--json", "--latency-runs", "3",
            "--calibration-size", "64",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1  # stdout is one JSON line; TensorFlow's chatter does not leak into it
    printed = json.loads(lines[0])
    assert printed == json.loads(report.read_text())
    assert "converted" in r.stderr and "edge tpu" in r.stderr  # the readable summary
    tpu = out.with_name("digits_int8_edgetpu.tflite")
    assert tpu.is_file() and out.is_file() and report.with_suffix(".md").is_file()
    assert out.with_name("digits_int8_edgetpu.log").is_file()
    comp = printed["edgetpu"]["compiler"]
    assert comp["output"] == str(tpu) and comp["subgraphs"] == 1
    assert comp["compiler_version"] == "16.0.384591198"
    assert comp["on_chip_memory_bytes"] == round(24.25 * 1024)
    # The stand-in's log lists the ops of the model it was given: our int8 model.
    from edge_sdk.model import Model

    assert {row["op"]: row["count"] for row in comp["operations"]} == Model(out).file.op_counts
    assert printed["edgetpu"]["precheck"]["fully_mapped"] is True
    assert printed["edgetpu"]["precheck_matches_compiler"] is True
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [
            "digits_int8.tflite",
            "digits_int8_edgetpu.tflite",
            "digits_int8_edgetpu.log",
            "report.json",
            "report.md",
        ]
    )
