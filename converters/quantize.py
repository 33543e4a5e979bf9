"""Full-integer post-training quantization of a Keras model or SavedModel with TFLiteConverter.

Calibration data is a float array ``(N, H, W, C)`` of what the float model receives as
input (for edge_sdk-converted image models: RGB pixel values 0..255 after the model's own
preprocessing, see ``converters.calibration``). Weights are quantized per channel; inputs
and outputs are uint8, int8 or float32.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.errors import OptionsError

from .errors import ConversionError

__all__ = [
    "ConversionError",
    "IOType",
    "QuantizeOptions",
    "atomic_write",
    "float_tflite_from_keras",
    "quantize_keras",
    "quantize_saved_model",
]


class IOType(str, enum.Enum):
    """Type of the converted model's input and output tensors."""

    UINT8 = "uint8"
    INT8 = "int8"
    FLOAT32 = "float32"


@dataclass(frozen=True)
class QuantizeOptions:
    """Options of the integer conversion.

    ``allow_float_ops``: ops without an int8 kernel fall back to float (the converter's
    ``TFLITE_BUILTINS`` set) instead of stopping the conversion.
    """

    input_type: IOType = IOType.UINT8
    output_type: IOType = IOType.UINT8
    allow_float_ops: bool = False
    calibration_steps: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.input_type, IOType) or not isinstance(self.output_type, IOType):
            raise OptionsError(
                f"input_type/output_type must be IOType, got {self.input_type!r}/{self.output_type!r}"
            )


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
        import tensorflow as tf
    except ImportError as exc:
        # lazy: only when TensorFlow is missing, for the install hint
        from edge_sdk.errors import missing_dependency

        raise missing_dependency("tensorflow", "convert", "Converting models") from exc
    return tf


def _representative(calibration: np.ndarray) -> Any:
    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(calibration.shape[0]):
            yield [calibration[i : i + 1].astype(np.float32)]

    return gen


def _configure(converter: Any, calibration: np.ndarray, options: QuantizeOptions) -> None:
    tf = _tf()
    if calibration.ndim < 2 or calibration.shape[0] == 0:
        raise ConversionError(
            f"calibration data must be a non-empty batch (N, ...), got shape {calibration.shape}"
        )
    if not np.isfinite(calibration).all():
        raise ConversionError("calibration data contains NaN or infinite values")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(calibration)
    if options.allow_float_ops:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    dtypes = {IOType.UINT8: tf.uint8, IOType.INT8: tf.int8, IOType.FLOAT32: tf.float32}
    converter.inference_input_type = dtypes[options.input_type]
    converter.inference_output_type = dtypes[options.output_type]


def _convert(converter: Any, what: str) -> bytes:
    # Keras' export prints "Saved artifact at ..." on stdout, which is reserved for JSON Lines.
    try:
        with contextlib.redirect_stdout(sys.stderr):
            data = converter.convert()
    except Exception as exc:  # TF raises ConverterError, ValueError, RuntimeError ...
        first = next(
            (ln for ln in str(exc).splitlines() if "error" in ln.lower()),
            str(exc).splitlines()[0] if str(exc) else "",
        )
        raise ConversionError(f"TFLite conversion of {what} failed: {first.strip()}") from exc
    if not data or len(data) < 64:
        raise ConversionError(f"TFLite conversion of {what} returned {len(data or b'')} bytes, not a model")
    return bytes(data)


def float_tflite_from_keras(model: Any) -> bytes:
    """Convert a Keras model to a float32 .tflite (for size/latency/fidelity comparisons)."""
    tf = _tf()
    return _convert(tf.lite.TFLiteConverter.from_keras_model(model), "the Keras model (float)")


def quantize_keras(model: Any, calibration: np.ndarray, options: QuantizeOptions | None = None) -> bytes:
    """Full-integer quantize a Keras model; returns the .tflite bytes.

    Raises:
        ConversionError: the converter failed (the message carries its first error line).
    """
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    _configure(converter, np.asarray(calibration), options or QuantizeOptions())
    return _convert(converter, "the Keras model")


def quantize_saved_model(
    path: str | Path, calibration: np.ndarray, options: QuantizeOptions | None = None
) -> bytes:
    """Full-integer quantize a SavedModel directory; returns the .tflite bytes."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
    _configure(converter, np.asarray(calibration), options or QuantizeOptions())
    return _convert(converter, str(path))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so an interrupted run
    never leaves a partial model behind."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


@contextlib.contextmanager
def tensorflow_log(path: str | Path) -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 (TensorFlow's C++ and Keras logs)
    to ``path`` for the duration, so stdout stays JSON Lines and stderr readable."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
