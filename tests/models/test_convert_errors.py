"""Bad input to ``edge-sdk convert``: a clear, typed error, and no output file left behind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from converters.errors import (
    CalibrationError,
    ConversionError,
    EdgeTpuCompilerError,
    EdgeTpuCompilerNotFoundError,
    NonFiniteOutputError,
    UnsupportedOpsError,
)
from converters.pipeline import ConvertOptions, convert
from tests.convert_helpers import write_fake_compiler

pytestmark = pytest.mark.slow
SIZE = 16


@dataclass(frozen=True)
class Models:
    good: Path  # .keras, 16x16x3 -> 3 classes
    nan: Path  # .keras whose conv kernel is NaN
    minimum: Path  # float .tflite with a MINIMUM op (rewritten to MAXIMUM/ADD/SUB before quantizing)
    elu: Path  # float .tflite with an ELU op (ai-edge-quantizer has no int8 rule: stays float)
    erf: Path  # SavedModel with tf.math.erf (no TFLite builtin)
    images: Path  # 12 decodable images


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    from converters.quantize_keras import float_tflite_from_keras

    root = tmp_path_factory.mktemp("bad_models")
    keras.utils.set_random_seed(0)

    def small() -> keras.Model:
        inp = keras.Input((SIZE, SIZE, 3))
        x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))

    good = small()
    good.save(root / "good.keras")
    nan = small()
    conv = nan.layers[1]
    conv.kernel.assign(np.full(conv.kernel.shape, np.nan, np.float32))
    nan.save(root / "nan.keras")

    inp = keras.Input((SIZE, SIZE, 3), batch_size=1)
    a = keras.layers.Conv2D(4, 3)(inp)
    b = keras.layers.Conv2D(4, 3)(inp)
    x = keras.layers.Minimum()([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    (root / "minimum.tflite").write_bytes(float_tflite_from_keras(keras.Model(inp, keras.layers.Dense(3)(x))))
    inp = keras.Input((SIZE, SIZE, 3), batch_size=1)
    x = keras.layers.Activation("elu")(keras.layers.Conv2D(4, 3)(inp))
    x = keras.layers.GlobalAveragePooling2D()(x)
    (root / "elu.tflite").write_bytes(float_tflite_from_keras(keras.Model(inp, keras.layers.Dense(3)(x))))

    class Erf(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32)])
        def __call__(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            y = tf.math.erf(tf.nn.conv2d(x, self.w, 1, "VALID"))
            return {"out": tf.reduce_mean(y, axis=[1, 2])}

    module = Erf()
    tf.saved_model.save(
        module, str(root / "erf_saved_model"), signatures={"serving_default": module.__call__}
    )

    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(1)
    for i in range(12):
        cv2.imwrite(str(images / f"{i}.png"), rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    return Models(
        root / "good.keras",
        root / "nan.keras",
        root / "minimum.tflite",
        root / "elu.tflite",
        root / "erf_saved_model",
        images,
    )


def _folder(tmp: Path, n_good: int, n_bad: int, models: Models) -> Path:
    d = tmp / "cal"
    d.mkdir()
    for p in sorted(models.images.iterdir())[:n_good]:
        (d / p.name).write_bytes(p.read_bytes())
    for i in range(n_bad):
        (d / f"broken{i}.jpg").write_bytes(b"\xff\xd8 this is not a JPEG " * 4)
    return d


# (name, model attribute, good images, undecodable images, extra options, error, message)
CASES: list[tuple[str, str, int, int, dict, type[Exception], str]] = [
    ("empty calibration folder", "good", 0, 0, {}, CalibrationError, "holds no image files"),
    ("too few images", "good", 3, 0, {}, CalibrationError, "at least 8 decodable images, found 3"),
    ("only undecodable images", "good", 0, 9, {}, CalibrationError, "9 of 9 files could not be decoded"),
    ("model produces NaN", "nan", 12, 0, {}, NonFiniteOutputError, "NaN or infinite values in output 0"),
    ("op without int8 rule (.tflite)", "elu", 12, 0, {}, UnsupportedOpsError, "ELU"),
    ("op without TFLite builtin (SavedModel)", "erf", 12, 0, {}, UnsupportedOpsError, "Erf"),
    ("missing compiler", "good", 12, 0, {"edgetpu": True}, EdgeTpuCompilerNotFoundError, "edgetpu_compiler"),
    (
        "compiler exits non-zero",
        "good",
        12,
        0,
        {"edgetpu": True},
        EdgeTpuCompilerError,
        "static-sized tensors",
    ),
]


@pytest.mark.parametrize(
    ("name", "attr", "good", "bad", "extra", "error", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_raises_and_leaves_nothing(
    name: str,
    attr: str,
    good: int,
    bad: int,
    extra: dict,
    error: type[Exception],
    message: str,
    models: Models,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EDGETPU_COMPILER", raising=False)
    if name == "missing compiler":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    if name == "compiler exits non-zero":
        monkeypatch.setenv("EDGETPU_COMPILER", str(write_fake_compiler(tmp_path / "bin")))
        monkeypatch.setenv("FAKE_EDGETPU_MODE", "fail")
    cal = _folder(tmp_path, good, bad, models)
    out = tmp_path / "out"
    opts = ConvertOptions(
        model=getattr(models, attr),
        calibration=str(cal),
        output=out / "model.tflite",
        report=out / "report.json",
        progress=False,
        latency_runs=2,
        **extra,
    )
    with pytest.raises(error, match=message) as info:
        convert(opts)
    assert isinstance(info.value, ConversionError)
    assert "\n" not in str(info.value)
    assert not out.exists() or list(out.iterdir()) == []
    if isinstance(info.value, UnsupportedOpsError):
        assert info.value.ops


def test_allow_float_ops_keeps_them_and_reports_them(models: Models, tmp_path: Path) -> None:
    out = tmp_path / "m.tflite"
    result = convert(
        ConvertOptions(
            model=models.elu,
            calibration=str(models.images),
            output=out,
            allow_float_ops=True,
            progress=False,
            latency_runs=2,
        )
    )
    assert out.is_file()
    assert result.report["ops"]["float_ops"] == ["ELU"]
    rows = {(r["op"], r["precision"]) for r in result.report["ops"]["table"]}
    assert ("ELU", "float") in rows and ("CONV_2D", "int8") in rows
    # The pre-check sees the float boundary: the Edge TPU stops there.
    first = result.report["edgetpu"]["precheck"]["first_unsupported"]
    assert first is not None and first["op"] in ("DEQUANTIZE", "ELU")


def test_minimum_is_rewritten_and_fully_int8(models: Models, tmp_path: Path) -> None:
    from edge_sdk.model import Model

    out = tmp_path / "m.tflite"
    report = convert(
        ConvertOptions(
            model=models.minimum, calibration=str(models.images), output=out, progress=False, latency_runs=2
        )
    ).report
    assert report["ops"]["float_ops"] == []
    assert "MINIMUM" not in Model(out).file.op_counts and "MINIMUM" in Model(models.minimum).file.op_counts
    assert report["fidelity"]["outputs"][0]["cosine_mean"] > 0.99


def test_cli_reports_one_line_and_exit_1(
    models: Models, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_sdk.cli.main import main

    cal = _folder(tmp_path, 2, 3, models)
    out = tmp_path / "o" / "m.tflite"
    rc = main(["convert", str(models.good), "--calibration", str(cal), "--output", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1].startswith("edge-sdk: error: calibration needs at least 8 decodable images, found 2")
    assert "3 of 5 files could not be decoded" in err[-1]
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean": (0.0,)}, "--mean and --std together"),
        ({"output": Path("model.bin")}, "must end in .tflite"),
        ({"task": "segmentation"}, "task must be one of"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    from edge_sdk.errors import OptionsError

    base: dict = {"model": Path("m.keras"), "calibration": "cal", "output": Path("out.tflite")}
    with pytest.raises(OptionsError, match=message):
        ConvertOptions(**{**base, **kwargs})


def test_unknown_format(tmp_path: Path, models: Models) -> None:
    from converters.errors import UnknownFormatError

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x02 a pickle, not a model")
    with pytest.raises(UnknownFormatError, match="expected a Keras"):
        convert(
            ConvertOptions(
                model=bad, calibration=str(models.images), output=tmp_path / "o.tflite", progress=False
            )
        )
    assert not (tmp_path / "o.tflite").exists()
