"""Detect a model's format from the file itself (magic bytes, archive contents), never from a flag.

Raises :class:`~converters.errors.UnknownFormatError` with what was found.
"""

from __future__ import annotations

import enum
import zipfile
from pathlib import Path

from .errors import UnknownFormatError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class ModelFormat(str, enum.Enum):
    """Input formats ``edge-sdk convert`` accepts."""

    KERAS = "keras"  # Keras v3 zip archive (.keras)
    H5 = "h5"  # legacy Keras HDF5 (.h5)
    SAVED_MODEL = "saved_model"  # TensorFlow SavedModel directory
    TFLITE = "tflite"  # float .tflite flatbuffer
    ONNX = "onnx"  # ONNX protobuf


def _looks_like_onnx(head: bytes) -> bool:
    # ModelProto starts with field 1 (ir_version, varint: 0x08) and carries small field
    # numbers; a protobuf of another kind would not name an opset.
    return head[:1] == b"\x08" and 0 < head[1] < 0x20


def detect_format(path: str | Path) -> ModelFormat:
    """Return the format of ``path`` from its contents.

    Raises:
        UnknownFormatError: missing path, or contents of none of the supported formats.
    """
    p = Path(path)
    if not p.exists():
        raise UnknownFormatError(f"model {p} does not exist")
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return ModelFormat.SAVED_MODEL
        raise UnknownFormatError(
            f"{p} is a directory without saved_model.pb; expected a SavedModel directory "
            "or a .keras/.h5/.tflite/.onnx file"
        )
    with p.open("rb") as fh:
        head = fh.read(16)
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return ModelFormat.TFLITE
    if head[:8] == _HDF5_MAGIC:
        return ModelFormat.H5
    if head[:2] == b"PK" and zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
        if "config.json" in names and ("model.weights.h5" in names or "metadata.json" in names):
            return ModelFormat.KERAS
        raise UnknownFormatError(
            f"{p} is a zip archive but not a Keras v3 .keras file (no config.json/model.weights.h5)"
        )
    if len(head) >= 2 and _looks_like_onnx(head):
        return ModelFormat.ONNX
    found = "an empty file" if not head else f"a file starting {head[:8]!r}"
    raise UnknownFormatError(
        f"{p}: expected a Keras (.keras/.h5), SavedModel directory, TFLite or ONNX model, found {found}"
    )
