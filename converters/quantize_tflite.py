"""Full-integer quantization of a float ``.tflite`` with ai-edge-quantizer.

TensorFlow's converter needs the original TF graph; a float .tflite goes through Google's
ai-edge-quantizer instead (static int8 activations, per-channel int8 weights, min/max
calibration). It calibrates through signature runners, so a model without a SignatureDef
(MobileFaceNet in the assets) first gets one (:func:`converters.interface.add_signature`).
The result has int8 inputs and outputs; :func:`converters.interface.set_interface` then
gives it the requested types.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from edge_sdk.errors import missing_dependency

from .errors import ConversionError
from .interface import add_signature
from .tf_models import quiet_stdout


def _aeq() -> Any:
    try:
        with quiet_stdout():
            # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
            from ai_edge_quantizer import quantizer, recipe
    except ImportError as exc:
        raise missing_dependency("ai_edge_quantizer", "convert", "Quantizing a float .tflite") from exc
    return quantizer, recipe


def quantize_tflite(model: bytes, calibration: np.ndarray) -> bytes:
    """Quantize a float .tflite to int8 (weights per channel, activations per tensor).

    Args:
        model: the float model's bytes; one input.
        calibration: ``(N, ...)`` float32 batches of exactly what the float model takes as
            input (after its normalization).

    Returns:
        the int8 model, with int8 input and output tensors. Ops ai-edge-quantizer cannot
        quantize stay float between QUANTIZE/DEQUANTIZE ops (see ``converters.ops``).

    Raises:
        ConversionError: ai-edge-quantizer failed (its message is carried).
    """
    quantizer, recipe = _aeq()
    if calibration.ndim < 2 or calibration.shape[0] == 0:
        raise ConversionError(f"calibration data must be a non-empty batch, got shape {calibration.shape}")
    prepared = add_signature(model)
    try:
        with quiet_stdout(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            q = quantizer.Quantizer(bytearray(prepared), recipe.static_wi8_ai8())
            # lazy: the interpreter, only to check the result
            from ai_edge_litert.interpreter import Interpreter

            interp = Interpreter(model_content=prepared)
            runner = interp.get_signature_runner("serving_default")
            names = list(runner.get_input_details())
            if len(names) != 1:
                raise ConversionError(f"expected a model with one input, found {len(names)}: {names}")
            samples = [
                {names[0]: calibration[i : i + 1].astype(np.float32)} for i in range(calibration.shape[0])
            ]
            result = q.calibrate({"serving_default": samples}, num_threads=os.cpu_count() or 1)
            out = q.quantize(result, enable_progress_report=False).quantized_model
    except ConversionError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConversionError(f"ai-edge-quantizer failed: {first}") from exc
    if out is None or len(out) < 64:
        raise ConversionError("ai-edge-quantizer returned no model")
    return bytes(out)
