"""``converters.edgetpu``: the checked compiler subprocess and the parsing of what it says.

The compiler is replaced by a stand-in executable (tests/convert_helpers.py) that takes the
real command line and prints the real output format; the real operation log in the assets
is parsed as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from converters.edgetpu import compile_model, find_compiler, parse_compiler_output, parse_size
from converters.errors import EdgeTpuCompilerError, EdgeTpuCompilerNotFoundError
from tests.convert_helpers import write_fake_compiler

REAL_STDOUT = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 1185 ms.

Input model: model.tflite
Input size: 3.97MiB
Output model: model_edgetpu.tflite
Output size: 4.45MiB
On-chip memory used for caching model parameters: 4.33MiB
On-chip memory remaining for caching model parameters: 2.25MiB
Off-chip memory used for streaming uncached model parameters: 512.00KiB
Number of Edge TPU subgraphs: 1
Total number of operations: 31
Operation log: model_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 28
Number of operations that will run on CPU: 3
See the operation log file for individual operation details.
Compilation child process completed within timeout period.
Compilation succeeded!
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4.33MiB", round(4.33 * 1024**2)), ("0.00B", 0), ("512.00KiB", 512 * 1024), ("n/a", None)],
)
def test_parse_size(text: str, expected: int | None) -> None:
    assert parse_size(text) == expected


def test_parse_stdout_summary() -> None:
    r = parse_compiler_output(REAL_STDOUT)
    assert r.version == "16.0.384591198"
    assert r.subgraphs == 1 and r.ops_total == 31 and r.ops_on_tpu == 28 and r.ops_on_cpu == 3
    assert r.on_chip_memory_bytes == round(4.33 * 1024**2)
    assert r.on_chip_remaining_bytes == round(2.25 * 1024**2)
    assert r.off_chip_memory_bytes == 512 * 1024
    assert any("not all operations" in m for m in r.messages)


def test_parse_real_operation_log(assets: Path) -> None:
    text = (assets / "edgetpu" / "edgetpu_compiler_sample.log").read_text()
    r = parse_compiler_output(text)
    assert r.version == "16.0.384591198"
    assert r.input_path == "yolov8n_saved_model/yolov8n_full_integer_quant.tflite"
    assert r.output_path == "yolov8n_saved_model/yolov8n_full_integer_quant_edgetpu.tflite"
    rows = [line for line in text.splitlines()[5:] if line.strip()]
    assert len(r.rows) == len(rows) == 25
    assert sum(x.count for x in r.rows) == sum(int(line.split()[1]) for line in rows)
    assert r.mapped_ops == 3 + 6 + 57 + 7 + 1 + 1 + 16 + 57 + 16 + 2 + 63 + 1
    reasons = {x.status for x in r.rows if not x.mapped}
    assert reasons == {
        "More than one subgraph is not supported",
        "Operation is otherwise supported, but not mapped due to some unspecified limitation",
    }
    conv = [x for x in r.rows if x.op == "CONV_2D"]
    assert [(x.count, x.mapped) for x in conv] == [(63, True), (1, False)]


def _model(assets: Path, tmp_path: Path) -> Path:
    # A real int8 model as the compiler's input: the CPU twin of the compiled one.
    src = assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite"
    dst = tmp_path / "in" / "model.tflite"
    dst.parent.mkdir()
    dst.write_bytes(src.read_bytes())
    return dst


@pytest.mark.subprocess  # the subject: running the compiler (a stand-in) as a child process
def test_compile_with_stand_in(assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = write_fake_compiler(tmp_path / "bin")
    monkeypatch.setenv("EDGETPU_COMPILER", str(exe))
    monkeypatch.setenv(
        "FAKE_EDGETPU_COMPILED", str(assets / "edgetpu" / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    )
    model = _model(assets, tmp_path)
    result = compile_model(model, tmp_path / "out")
    assert result.output == tmp_path / "out" / "model_edgetpu.tflite"
    assert result.log == tmp_path / "out" / "model_edgetpu.log"
    r = result.report
    assert r.version == "16.0.384591198" and r.subgraphs == 1
    assert r.on_chip_memory_bytes == round(24.25 * 1024) and r.off_chip_memory_bytes == 0
    from edge_sdk.modelfile import read_model_file

    counts = read_model_file(model.read_bytes()).op_counts
    assert {x.op: x.count for x in r.rows} == counts  # the log's table, parsed
    assert r.ops_total == sum(counts.values()) == r.mapped_ops
    d = result.as_dict()
    assert d["ops_on_tpu"] == r.mapped_ops and d["not_mapped"] == []


@pytest.mark.subprocess  # the subject: running the compiler (a stand-in) as a child process
def test_compiler_failure_raises_with_its_message(
    assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGETPU_COMPILER", str(write_fake_compiler(tmp_path / "bin")))
    monkeypatch.setenv("FAKE_EDGETPU_MODE", "fail")
    with pytest.raises(EdgeTpuCompilerError, match=r"exit 1.*static-sized tensors"):
        compile_model(_model(assets, tmp_path), tmp_path / "out")
    assert not (tmp_path / "out" / "model_edgetpu.tflite").exists()


@pytest.mark.subprocess  # the subject: running the compiler (a stand-in) as a child process
def test_compiler_stub_output_is_rejected(
    assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGETPU_COMPILER", str(write_fake_compiler(tmp_path / "bin")))
    monkeypatch.setenv("FAKE_EDGETPU_MODE", "stub")
    with pytest.raises(EdgeTpuCompilerError, match="invalid model"):
        compile_model(_model(assets, tmp_path), tmp_path / "out")


def test_missing_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGETPU_COMPILER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgeTpuCompilerNotFoundError, match="apt-get install edgetpu-compiler"):
        find_compiler()
    monkeypatch.setenv("EDGETPU_COMPILER", str(tmp_path / "nope"))
    with pytest.raises(EdgeTpuCompilerNotFoundError, match="not an executable"):
        find_compiler()


@pytest.mark.subprocess  # the subject: running the compiler (a stand-in) as a child process
def test_a_stale_output_from_an_earlier_run_is_not_taken(
    assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A compiler that says it succeeded but writes nothing, next to a valid file from before.
    exe = tmp_path / "bin" / "edgetpu_compiler"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\necho 'Edge TPU Compiler version 16.0.384591198'\nexit 0\n")
    exe.chmod(0o755)
    monkeypatch.setenv("EDGETPU_COMPILER", str(exe))
    out = tmp_path / "out"
    out.mkdir()
    stale = out / "model_edgetpu.tflite"
    stale.write_bytes((assets / "edgetpu" / "mobilenet_v1_0.25_128_quant_edgetpu.tflite").read_bytes())
    with pytest.raises(EdgeTpuCompilerError, match=r"wrote no model_edgetpu\.tflite"):
        compile_model(_model(assets, tmp_path), out)
    assert not stale.exists()
