"""``edge-sdk info MODEL --edgetpu``: the offline Edge TPU pre-check from the device CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge_sdk.edgetpu_precheck import compiled_cpu_ops


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], capture_output=True, text=True, timeout=timeout
    )


def _pair(assets: Path, stem: str) -> tuple[Path, Path]:
    d = assets / "edgetpu" / "compiled_pairs"
    return d / f"{stem}.tflite", d / f"{stem}_edgetpu.tflite"


def test_json_matches_what_the_compiler_kept_on_the_cpu(assets: Path) -> None:
    src, compiled = _pair(assets, "deeplabv3_mnv2_dm05_pascal_quant")
    out = cli("info", str(src), "--edgetpu", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)  # one JSON object, nothing else on stdout
    pre = d["precheck"]
    truth, subgraphs = compiled_cpu_ops(compiled.read_bytes())
    assert d["model"] == str(src) and d["compiled"] is None
    assert pre["cpu_ops"] == truth and pre["predicted_subgraphs"] == subgraphs == 1
    assert pre["ops_total"] == pre["ops_mapped"] + pre["ops_on_cpu"] == len(pre["ops"])
    assert sum(r["count"] for r in pre["table"]) == pre["ops_total"]
    cpu = [o for o in pre["ops"] if not o["mapped"]]
    assert all(o["reason"] and o["placement"] == "cpu_after" for o in cpu)
    first = pre["first_unsupported"]
    assert first["op"] == "RESIZE_BILINEAR" and "align_corners" in first["reason"]


def test_text_is_a_compiler_style_table_with_reasons(assets: Path) -> None:
    src, _ = _pair(assets, "posenet_mobilenet_v1_075_353_481_16_quant_decoder")
    out = cli("info", str(src), "--edgetpu")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(ln.split()[:3] == ["Operator", "Count", "Status"] for ln in lines)
    assert any(
        ln.startswith("PosenetDecoderOp") and ln.rstrip().endswith("Operation not supported") for ln in lines
    )
    assert "Number of Edge TPU subgraphs (predicted): 1" in lines
    assert any("PosenetDecoderOp" in ln and "not an Edge TPU operation" in ln for ln in lines)


def test_an_already_compiled_model_reports_its_real_cpu_ops(assets: Path) -> None:
    _, compiled = _pair(assets, "posenet_mobilenet_v1_075_353_481_16_quant_decoder")
    d = json.loads(cli("info", str(compiled), "--edgetpu", "--json").stdout)
    assert d["precheck"] is None
    assert d["compiled"] == {"cpu_ops": {"PosenetDecoderOp": 1}, "ops_on_cpu": 1, "subgraphs": 1}


def test_bad_input_is_one_stderr_line_and_exit_1(tmp_path: Path) -> None:
    bogus = tmp_path / "x.tflite"
    bogus.write_bytes(b"not a model at all")
    for path in (str(bogus), str(tmp_path / "missing.tflite")):
        out = cli("info", path, "--edgetpu", "--json")
        assert out.returncode == 1 and out.stdout == "" and out.stderr.count("\n") == 1, out.stderr


def test_runs_without_tensorflow_or_the_converters(assets: Path) -> None:
    src, _ = _pair(assets, "keras_lstm_mnist_ptq")
    code = (
        "import sys, io, contextlib\n"
        "from edge_sdk.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    rc = main(['info', {str(src)!r}, '--edgetpu', '--json'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'converters', 'keras'))\n"
        "print(rc, bad, buf.getvalue().count('UNIDIRECTIONAL_SEQUENCE_LSTM'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(None, 1)[0] == "0" and "[]" in out.stdout, out.stdout
