"""``edge-sdk convert`` never writes its input (issue 17, defect 8).

onnx2tf's simplifier saved over the ONNX file it was given, even when the conversion then
failed. For every input format (Keras, SavedModel, float .tflite, ONNX), built here, the
input's bytes (every file of a SavedModel folder) hash the same after a successful and after a
failed conversion. The inputs are also made read-only, as ``../shared`` is in CI.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from converters.errors import CalibrationError
from converters.pipeline import ConvertOptions, convert
from tests.models.test_convert_onnx import _onnx_cnn

pytestmark = pytest.mark.slow
SIZE = 24


def tree_hash(path: Path) -> str:
    """SHA-256 over every file's relative name, mode and bytes (a file, or a folder's tree)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path.parent)).encode())
        h.update(oct(f.stat().st_mode).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    if path.is_dir():
        h.update("|".join(sorted(str(p.relative_to(path)) for p in path.rglob("*"))).encode())
    return h.hexdigest()


def read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    from converters.quantize_keras import float_tflite_from_keras

    root = tmp_path_factory.mktemp("inputs")
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    model.save(root / "m.keras")
    model.export(str(root / "saved_model"), verbose=False)
    (root / "m.tflite").write_bytes(float_tflite_from_keras(model))
    out: dict[str, Path] = {
        "keras": root / "m.keras",
        "saved_model": root / "saved_model",
        "tflite": root / "m.tflite",
    }
    if _has("onnx2tf") and _has("onnx"):
        _onnx_cnn(root / "m.onnx")
        out["onnx"] = root / "m.onnx"
    for p in out.values():
        read_only(p)
    del tf
    return out


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a folder of 12 images, a folder of 3: too few, so the conversion fails after loading)."""
    root = tmp_path_factory.mktemp("cal")
    rng = np.random.default_rng(0)
    good, few = root / "good", root / "few"
    good.mkdir()
    few.mkdir()
    for i in range(12):
        img = cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(good / f"{i:02d}.png"), img)
        if i < 3:
            cv2.imwrite(str(few / f"{i:02d}.png"), img)
    return good, few


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "tflite", "onnx"])
def test_input_unchanged_after_success_and_failure(
    fmt: str, inputs: dict[str, Path], calibration: tuple[Path, Path], tmp_path: Path
) -> None:
    if fmt not in inputs:
        pytest.skip("onnx2tf is not installed")
    model = inputs[fmt]
    before = tree_hash(model)
    mtime = os.stat(model).st_mtime_ns
    good, few = calibration
    opts = dict(mean=(127.5,), std=(127.5,), progress=False, latency_runs=1)
    with pytest.raises(CalibrationError, match="at least 8 decodable images, found 3"):
        convert(
            ConvertOptions(model=model, calibration=str(few), output=tmp_path / "bad" / "m.tflite", **opts)
        )
    assert tree_hash(model) == before, "a failed conversion changed its input"
    result = convert(
        ConvertOptions(model=model, calibration=str(good), output=tmp_path / "ok" / "m.tflite", **opts)
    )
    assert (tmp_path / "ok" / "m.tflite").is_file() and result is not None
    assert tree_hash(model) == before, "a successful conversion changed its input"
    assert os.stat(model).st_mtime_ns == mtime
    assert sorted(p.name for p in model.parent.iterdir()) == sorted(
        [p.name for p in inputs.values() if p.parent == model.parent]
    ), "nothing was written beside the input"


def test_onnx2tf_helper_copies_a_file_outside_its_workdir(inputs: dict[str, Path], tmp_path: Path) -> None:
    if "onnx" not in inputs:
        pytest.skip("onnx2tf is not installed")
    from converters.tf_models import onnx_to_saved_model

    before = tree_hash(inputs["onnx"])
    out = onnx_to_saved_model(inputs["onnx"], tmp_path)
    assert (out / "saved_model.pb").is_file()
    assert tree_hash(inputs["onnx"]) == before
