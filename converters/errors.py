"""Typed errors of the converters. All derive from :class:`ConversionError` (an
:class:`~edge_sdk.errors.EdgeSdkError`), so the CLI prints them as one line and exits 1.

Every message says what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_sdk.errors import EdgeSdkError


class ConversionError(EdgeSdkError):
    """The float model could not be converted or quantized."""


class UnknownFormatError(ConversionError):
    """The input is not a Keras, SavedModel, TFLite or ONNX model."""


class CalibrationError(ConversionError):
    """The calibration set is empty, too small, or has no decodable images."""


class NonFiniteOutputError(ConversionError):
    """The float model produces NaN or infinite values on the calibration images."""


class UnsupportedOpsError(ConversionError):
    """Ops that cannot be quantized to int8; ``.ops`` names them (pass --allow-float-ops to keep them float)."""

    def __init__(self, message: str, ops: Sequence[str]) -> None:
        super().__init__(message)
        self.ops = tuple(ops)


class EdgeTpuCompilerError(ConversionError):
    """``edgetpu_compiler`` failed; the message carries the compiler's own output."""


class EdgeTpuCompilerNotFoundError(EdgeTpuCompilerError):
    """``edgetpu_compiler`` is not installed (it exists for x86-64 Linux only)."""
