import json
import subprocess
import sys


def test_bench_contract(assets):
    model = assets / "classification/mobilenet_v1_0.5_160_quant.tflite"
    out = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "bench", "--model", str(model), "--runs", "20", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    lat = r["latency_ms"]
    assert set(lat) == {"p50", "p90", "p99", "mean"}
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert r["first_invoke_ms"] > 0 and r["load_ms"] > 0 and r["rss_mb"] > 10
    assert r["accelerator"] == "cpu:1" and r["runs"] == 20


def test_bench_edgetpu_without_tpu_is_one_line(assets):
    model = assets / "classification/mobilenet_v1_0.5_160_quant.tflite"
    out = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "bench", "--model", str(model), "--accelerator", "edgetpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1 and "Edge TPU" in out.stderr
