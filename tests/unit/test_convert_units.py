"""Converter pieces without models: format detection, raw-pixel input quantization,
atomic writes, calibration sampling and errors."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from converters.calibration import CalibrationOptions, ImageSpec, load_calibration, load_labelled
from converters.errors import CalibrationError, UnknownFormatError
from converters.files import atomic_write
from converters.formats import ModelFormat, detect_format
from converters.interface import PixelQuant, pixel_quant
from converters.report import ConversionReport
from edge_sdk.metadata import ColorSpace


def test_detect_format(tmp_path: Path) -> None:
    (tmp_path / "a.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\0" * 32)
    (tmp_path / "b.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 32)
    (tmp_path / "c.onnx").write_bytes(b"\x08\x08\x12\x07pytorch" + b"\0" * 8)
    with zipfile.ZipFile(tmp_path / "d.keras", "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", b"")
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    # The name does not matter, the contents do.
    (tmp_path / "e.bin").write_bytes((tmp_path / "a.tflite").read_bytes())
    assert detect_format(tmp_path / "a.tflite") is ModelFormat.TFLITE
    assert detect_format(tmp_path / "b.h5") is ModelFormat.H5
    assert detect_format(tmp_path / "c.onnx") is ModelFormat.ONNX
    assert detect_format(tmp_path / "d.keras") is ModelFormat.KERAS
    assert detect_format(tmp_path / "sm") is ModelFormat.SAVED_MODEL
    assert detect_format(tmp_path / "e.bin") is ModelFormat.TFLITE


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello world, not a model", "expected a Keras"), (None, "does not exist")],
)
def test_detect_format_rejects(tmp_path: Path, content: bytes | None, message: str) -> None:
    p = tmp_path / "m.keras"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(UnknownFormatError, match=message):
        detect_format(p)


@pytest.mark.parametrize(
    ("mean", "std", "expected"),
    [
        ((0.0,), (1.0,), PixelQuant(1.0, 0)),
        ((127.5,), (127.5,), PixelQuant(1 / 127.5, 128)),
        ((0.0,), (255.0,), PixelQuant(1 / 255.0, 0)),
        ((123.7, 116.3, 103.5), (58.4, 57.1, 57.4), None),  # per channel: not one uint8 quantization
        ((-1.0,), (1.0,), None),
    ],
)
def test_pixel_quant(mean: tuple, std: tuple, expected: PixelQuant | None) -> None:
    got = pixel_quant(mean, std)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.zero_point == expected.zero_point
        assert got.scale == pytest.approx(expected.scale)


def test_atomic_write_leaves_nothing_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.tflite"

    def boom(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(out, b"x" * 1000)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    atomic_write(out, b"abc")
    assert out.read_bytes() == b"abc" and list(tmp_path.iterdir()) == [out]


def _write_images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.zeros((20, 30, 3), np.uint8)
        img[:, :, 2] = 10 * i  # red in BGR order
        img[:, :, 0] = 200  # blue
        cv2.imwrite(str(folder / f"{i:02d}.png"), img)


def test_calibration_sample_is_seeded_and_preprocessed(tmp_path: Path) -> None:
    _write_images(tmp_path / "imgs" / "sub", 20)
    spec = ImageSpec((8, 6), 3)
    a = load_calibration(tmp_path / "imgs", spec, CalibrationOptions(size=10, seed=3, progress=False))
    b = load_calibration(
        str(tmp_path / "imgs" / "**" / "*.png"), spec, CalibrationOptions(size=10, seed=3, progress=False)
    )
    c = load_calibration(tmp_path / "imgs", spec, CalibrationOptions(size=10, seed=4, progress=False))
    assert a.images.shape == (10, 6, 8, 3) and a.paths == b.paths and a.paths != c.paths
    np.testing.assert_array_equal(a.images, b.images)
    assert (a.images[..., 2] == 200).all()  # RGB order: blue is channel 2
    bgr = load_calibration(
        tmp_path / "imgs",
        ImageSpec((8, 6), 3, color=ColorSpace.BGR),
        CalibrationOptions(size=10, seed=3, progress=False),
    )
    assert (bgr.images[..., 0] == 200).all()
    gray = load_calibration(
        tmp_path / "imgs", ImageSpec((8, 6), 1), CalibrationOptions(size=10, seed=3, progress=False)
    )
    assert gray.images.shape == (10, 6, 8, 1)
    x = ImageSpec((8, 6), 3, mean=(127.5,), std=(127.5,)).normalize(a.images)
    assert x.dtype == np.float32 and x.max() <= 1.0 and x.min() >= -1.0


def test_calibration_counts_undecodable(tmp_path: Path) -> None:
    _write_images(tmp_path / "imgs", 9)
    for i in range(3):
        (tmp_path / "imgs" / f"bad{i}.jpg").write_bytes(b"not an image")
    s = load_calibration(tmp_path / "imgs", ImageSpec((8, 8)), CalibrationOptions(size=100, progress=False))
    assert len(s) == 9 and len(s.skipped) == 3
    with pytest.raises(CalibrationError, match=r"at least 10 decodable images, found 9.*3 of 12 files"):
        load_calibration(
            tmp_path / "imgs", ImageSpec((8, 8)), CalibrationOptions(size=100, min_images=10, progress=False)
        )
    with pytest.raises(CalibrationError, match="no such folder"):
        load_calibration(tmp_path / "nope", ImageSpec((8, 8)))


def test_labelled_folder(tmp_path: Path) -> None:
    _write_images(tmp_path / "val" / "cat", 2)
    _write_images(tmp_path / "val" / "dog", 3)
    s = load_labelled(tmp_path / "val", ImageSpec((8, 8)), ["dog", "cat", "bird"])
    assert s.labels is not None and sorted(s.labels.tolist()) == [0, 0, 0, 1, 1]
    with pytest.raises(CalibrationError, match="names no class"):
        load_labelled(tmp_path / "val", ImageSpec((8, 8)), ["bird"])


# -- the deployment report: its JSON is a contract (docs/converters.md, DESIGN.md) ------------

REPORT_KEYS = {
    "model": ["input", "format", "output", "edgetpu_output", "input_type", "output_type", "task", "labels"],
    "preprocessing": ["size", "channels", "color", "resize", "mean", "std", "normalization_in_graph"],
    "calibration": ["source", "images", "skipped", "seed", "size"],
    "size": ["float_bytes", "int8_bytes", "ratio"],
    "ops": ["table", "float_ops"],
    "fidelity": ["set", "images", "outputs"],
    "accuracy": ["images", "top1_float", "top1_int8", "agreement", "drop_points"],
    "latency_ms": ["runs", "threads", "float_median", "int8_median", "speedup"],
    "edgetpu": ["precheck", "compiler", "precheck_matches_compiler"],
    "timing_s": ["quantize", "total"],
}
COMPILER_KEYS = [
    "output",
    "log",
    "compiler_version",
    "subgraphs",
    "ops_total",
    "ops_on_tpu",
    "ops_on_cpu",
    "on_chip_memory_bytes",
    "on_chip_remaining_bytes",
    "off_chip_memory_bytes",
    "operations",
    "not_mapped",
    "cpu_ops",
    "messages",
]
PRECHECK_KEYS = [
    "compiler_version",
    "ops_total",
    "ops_mapped",
    "ops_on_cpu",
    "predicted_subgraphs",
    "fully_mapped",
    "first_unsupported",
    "cpu_ops",
    "table",
    "ops",
]


def _report(compiled: bool, accuracy: bool) -> ConversionReport:
    from converters.edgetpu import CompileResult, CompilerReport, OpLogRow
    from converters.edgetpu_precheck import OpPrediction, OpStatus, Precheck
    from converters.interface import IOType
    from converters.ops import OpRow, Precision
    from converters.report import (
        Accuracy,
        CalibrationSection,
        EdgeTpuSection,
        FidelitySection,
        LatencySection,
        ModelSection,
        OpsSection,
        OutputFidelity,
        PreprocessingSection,
        SizeSection,
        TimingSection,
    )
    from edge_sdk.preprocess import ResizeMode

    pre = Precheck(
        (
            OpPrediction(0, "CONV_2D", OpStatus.MAPPED),
            OpPrediction(1, "ELU", OpStatus.UNSUPPORTED, "no kernel"),
        )
    )
    result = None
    if compiled:
        rows = (OpLogRow("CONV_2D", 1, "Mapped to Edge TPU"), OpLogRow("ELU", 1, "Operation not supported"))
        result = CompileResult(
            Path("/work/m_edgetpu.tflite"),
            Path("/work/m_edgetpu.log"),
            CompilerReport(version="16.0.384591198", rows=rows, subgraphs=1, ops_total=2),
            "",
        )
    return ConversionReport(
        model=ModelSection(
            "m.keras",
            ModelFormat.KERAS,
            "out/m.tflite",
            "out/m_edgetpu.tflite" if compiled else None,
            IOType.UINT8,
            IOType.INT8,
            "classification",
            10,
        ),
        preprocessing=PreprocessingSection(
            ImageSpec((32, 24), 1, ColorSpace.GRAYSCALE, ResizeMode.STRETCH, (0.0,), (255.0,)), True
        ),
        calibration=CalibrationSection("cal/", 64, 2, 0, 200),
        size=SizeSection(4000, 1000),
        ops=OpsSection((OpRow("CONV_2D", 1, Precision.INT8), OpRow("ELU", 1, Precision.FLOAT)), ("ELU",)),
        fidelity=FidelitySection("validation", 50, (OutputFidelity(0, "out", 0.99, 0.9, 0.1),)),
        accuracy=Accuracy(50, 98.0, 96.0, 97.0, 2.0) if accuracy else None,
        latency_ms=LatencySection(3, 2, 2.0, 0.5),
        edgetpu=EdgeTpuSection(
            pre,
            result,
            "out/m_edgetpu.tflite" if compiled else None,
            "out/m_edgetpu.log" if compiled else None,
        ),
        timing_s=TimingSection(1.5, 4.0),
    )


def test_report_json_keys_are_pinned() -> None:
    """The keys (and their order) of ``--report``'s JSON: renaming a field breaks users' scripts."""
    import json

    from converters.report import markdown, summary

    data = _report(compiled=True, accuracy=True).to_json()
    assert json.loads(json.dumps(data)) == data  # JSON types only: no tuples, enums or paths
    assert list(data) == list(REPORT_KEYS)
    for section, keys in REPORT_KEYS.items():
        assert list(data[section]) == keys, section
    assert list(data["ops"]["table"][0]) == ["op", "count", "precision"]
    assert list(data["fidelity"]["outputs"][0]) == [
        "index",
        "name",
        "cosine_mean",
        "cosine_min",
        "max_abs_error",
    ]
    assert list(data["edgetpu"]["compiler"]) == COMPILER_KEYS
    assert list(data["edgetpu"]["precheck"]) == PRECHECK_KEYS
    # values computed from the typed sections
    assert data["model"]["format"] == "keras" and data["model"]["input_type"] == "uint8"
    assert data["preprocessing"]["size"] == [32, 24] and data["preprocessing"]["color"] == "grayscale"
    assert data["size"]["ratio"] == 4.0 and data["latency_ms"]["speedup"] == 4.0
    assert data["ops"]["float_ops"] == ["ELU"] and data["ops"]["table"][1]["precision"] == "float"
    # the compiler's own paths (in the work folder) are replaced by where its files were written
    assert data["edgetpu"]["compiler"]["output"] == "out/m_edgetpu.tflite"
    assert data["edgetpu"]["compiler"]["log"] == "out/m_edgetpu.log"
    assert data["edgetpu"]["precheck_matches_compiler"] is True  # 1 mapped, predicted and compiled
    assert "ELU" in summary(data) and "## edgetpu_compiler" in markdown(data)


def test_report_json_without_compiler_or_accuracy() -> None:
    from converters.report import markdown, summary

    data = _report(compiled=False, accuracy=False).to_json()
    assert list(data) == list(REPORT_KEYS)
    assert data["accuracy"] is None and data["model"]["edgetpu_output"] is None
    assert data["edgetpu"]["compiler"] is None and data["edgetpu"]["precheck_matches_compiler"] is None
    assert "accuracy" not in summary(data) and "## edgetpu_compiler" not in markdown(data)
