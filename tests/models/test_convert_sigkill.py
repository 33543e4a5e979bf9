"""SIGKILL during ``edge-sdk convert`` leaves no partial output, and the next run cleans up.

A killed conversion cannot remove its work folder (``$TMPDIR/edge_sdk_convert_*``); outputs are
written through ``.NAME.PID.XXXX.part`` files and a rename, so the output path is either absent
or complete. The next conversion removes work folders and ``.part`` files whose process is gone
(``converters/workdir.py``) and leaves those of live processes alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow
SIZE = 24
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def float_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a small float .tflite classifier, a folder of 12 calibration images)."""
    pytest.importorskip("tensorflow")
    import keras

    from converters.quantize_keras import float_tflite_from_keras

    root = tmp_path_factory.mktemp("sigkill")
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    path = root / "m.tflite"
    path.write_bytes(float_tflite_from_keras(model))
    cal = root / "cal"
    cal.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        cv2.imwrite(str(cal / f"{i:02d}.png"), rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    return path, cal


def test_sigkill_during_conversion_leaves_no_partial_files(
    float_model: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, cal = float_model
    tmpdir, outdir = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    outdir.mkdir()
    out = outdir / "m_int8.tflite"
    # a .part left by an earlier killed write (a dead pid) and one of a live process (ours)
    dead_part = outdir / f".{out.name}.999999999.abcd.part"
    live_part = outdir / f".{out.name}.{os.getpid()}.abcd.part"
    dead_part.write_bytes(b"partial")
    live_part.write_bytes(b"in progress")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_sdk", "convert", str(model), "--calibration", str(cal), "--output", str(out),
         "--no-progress"],
        env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any((w / "input").exists() for w in tmpdir.glob("edge_sdk_convert_*")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the conversion never started its work"
            time.sleep(0.02)
        time.sleep(0.3)  # mid-conversion
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # never a partial output
    stale = list(tmpdir.glob("edge_sdk_convert_*"))
    assert len(stale) == 1 and (stale[0] / "owner").read_text().split()[0] == str(proc.pid)

    # the next conversion (here, in this process) cleans up after the killed one, then succeeds
    from converters.pipeline import ConvertOptions, convert
    from edge_sdk import Model

    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    convert(ConvertOptions(model=model, calibration=cal, output=out))
    assert list(tmpdir.iterdir()) == []  # the stale folder and this run's own are gone
    assert not dead_part.exists() and live_part.exists()  # a live process's file is left alone
    assert sorted(p.name for p in outdir.iterdir()) == sorted([out.name, live_part.name])
    with Model(out) as m:
        assert m.input.dtype == np.uint8 or m.input.dtype == np.int8
