"""Give an int8 model the input/output types the user asked for, by editing its flatbuffer.

Both quantizers here (TFLiteConverter and ai-edge-quantizer) are run to produce a model whose
input and output tensors are int8. This module then adds the boundary ops:

- input uint8 or float32: a new input tensor and a ``QUANTIZE`` op into the old int8 input
  (``QUANTIZE`` converts float->int8 and requantizes uint8->int8 / int8->int8);
- output uint8: ``QUANTIZE`` int8->uint8 (same scale, zero point + 128); output float32:
  ``DEQUANTIZE``.

When the float model's input normalization is known, integer inputs get exactly
``scale = 1/std, zero_point = mean`` (uint8) so that raw pixels can be fed without a float
round trip (the TFLite Task Library / MediaPipe / edge_sdk convention). New boundary tensors
keep the original tensor names, so SignatureDefs and users see the same names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConversionError


class IOType(str, enum.Enum):
    """Type of the converted model's input and output tensors."""

    UINT8 = "uint8"
    INT8 = "int8"
    FLOAT32 = "float32"


_QUANTIZE, _DEQUANTIZE = 114, 6
_INT8, _UINT8, _FLOAT32 = 9, 3, 0
_TYPE_CODE = {IOType.INT8: _INT8, IOType.UINT8: _UINT8, IOType.FLOAT32: _FLOAT32}


@dataclass(frozen=True)
class PixelQuant:
    """Input quantization for raw pixels: ``real = (pixel - zero_point) * scale`` for uint8."""

    scale: float
    zero_point: int


def pixel_quant(mean: tuple[float, ...], std: tuple[float, ...]) -> PixelQuant | None:
    """The uint8 input quantization equal to ``(pixel - mean) / std``, when one exists.

    It exists when one mean/std holds for every channel and the mean is a whole number in
    0..255 (within 0.5, the rounding every uint8 model makes, e.g. mean 127.5 -> 128).
    """
    if len(set(mean)) != 1 or len(set(std)) != 1:
        return None
    m, s = float(mean[0]), float(std[0])
    if not 0.0 <= m <= 255.0 or s <= 0:
        return None
    return PixelQuant(1.0 / s, round(m))


def _schema() -> Any:
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def normalize_opcodes(obj: Any) -> None:
    """Fill both opcode fields the way current TFLite writers do.

    Old models (MobileFaceNet in the assets) only set ``deprecated_builtin_code``; tools that
    read ``builtin_code`` alone then take every op for ADD. New writers (ai-edge-quantizer)
    only set ``builtin_code``; old readers then do the same. Set both.
    """
    for oc in obj.operatorCodes or []:
        code = max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0))
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)


def _load(model: bytes) -> Any:
    """The model as a mutable object tree, with buffers stored past the flatbuffer (the
    ``offset``/``size`` layout ai-edge-quantizer writes) moved inline, so that re-serializing
    keeps their data."""
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    from tensorflow.lite.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    for buf in obj.buffers or []:
        if (buf.offset or 0) > 1 and (buf.size or 0) > 0:
            buf.data = np.frombuffer(model, np.uint8, count=int(buf.size), offset=int(buf.offset)).copy()
            buf.offset = 0
            buf.size = 0
    return obj


def _ints(values: Any) -> list[int]:
    return [] if values is None else [int(v) for v in values]


def drop_unused_buffers(obj: Any) -> int:
    """Empty the constant buffers no op, subgraph input/output or metadata entry uses (the
    float originals quantizers leave behind); returns the bytes freed."""
    used: set[int] = {int(m.buffer) for m in obj.metadata or []}
    for sg in obj.subgraphs or []:
        idx = set(_ints(sg.inputs)) | set(_ints(sg.outputs))
        for op in sg.operators or []:
            idx |= {i for i in _ints(op.inputs) + _ints(op.outputs) + _ints(op.intermediates) if i >= 0}
        used |= {int(sg.tensors[i].buffer) for i in idx}
    freed = 0
    for i, buf in enumerate(obj.buffers or []):
        if i not in used and buf.data is not None and len(buf.data):
            freed += len(buf.data)
            buf.data = None
    return freed


def _dump(obj: Any) -> bytes:
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    from tensorflow.lite.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def opcode_index(obj: Any, code: int) -> int:
    """Index of builtin op ``code`` in the model object's op table, adding it when absent."""
    schema = _schema()
    for i, oc in enumerate(obj.operatorCodes):
        if max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0)) == code:
            return i
    oc = schema.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1
    obj.operatorCodes.append(oc)
    return len(obj.operatorCodes) - 1


def _qparams(scale: float, zero_point: int) -> Any:
    q = _schema().QuantizationParametersT()
    q.scale = [float(scale)]
    q.zeroPoint = [int(zero_point)]
    q.quantizedDimension = 0
    return q


def _scale_zp(t: Any) -> tuple[float, int]:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        raise ConversionError(f"tensor {_name(t)} is not per-tensor quantized; cannot change its type")
    return float(q.scale[0]), int(q.zeroPoint[0])


def _name(t: Any) -> str:
    n = t.name
    return n.decode() if isinstance(n, bytes) else str(n)


def _clone(obj: Any, sg: Any, t: Any, type_code: int, quant: Any) -> int:
    schema = _schema()
    new = schema.TensorT()
    new.shape = t.shape
    new.shapeSignature = t.shapeSignature
    new.type = type_code
    buf = schema.BufferT()
    obj.buffers.append(buf)
    new.buffer = len(obj.buffers) - 1
    new.name = _name(t)
    new.quantization = quant
    t.name = _name(t) + "_int8"
    sg.tensors.append(new)
    return len(sg.tensors) - 1


def _op(opcode: int, inputs: list[int], outputs: list[int]) -> Any:
    op = _schema().OperatorT()
    op.opcodeIndex = opcode
    op.inputs = inputs
    op.outputs = outputs
    return op


def set_interface(
    model: bytes,
    input_type: IOType,
    output_type: IOType,
    input_quant: PixelQuant | None = None,
) -> bytes:
    """Return ``model`` (int8 inputs and outputs) with the requested boundary types.

    Args:
        input_quant: exact uint8 input quantization (from :func:`pixel_quant`); int8 inputs
            use the same scale and ``zero_point - 128``. None keeps the calibrated one.

    Raises:
        ConversionError: an input or output is float already (an op before it stayed float)
            and an integer type was asked for, or a tensor is per-channel quantized.
    """
    obj = _load(model)
    normalize_opcodes(obj)
    sg = obj.subgraphs[0]
    remap: dict[int, int] = {}
    head: list[Any] = []
    tail: list[Any] = []
    for pos, i in enumerate(list(sg.inputs)):
        t = sg.tensors[i]
        if t.type == _FLOAT32:
            if input_type is not IOType.FLOAT32:
                raise ConversionError(
                    f"input {_name(t)} feeds an op that stayed float; expected an int8 input, "
                    "found float32 (use --input-type float32)"
                )
            continue
        if t.type != _INT8:
            continue
        s, z = _scale_zp(t)
        if input_type is IOType.FLOAT32:
            new = _clone(obj, sg, t, _FLOAT32, None)
        else:
            if input_quant is not None:
                ns, nz = input_quant.scale, input_quant.zero_point
            else:
                ns, nz = s, z + 128
            if input_type is IOType.INT8:
                nz -= 128
                if abs(ns - s) <= 1e-6 * s and nz == z:
                    continue
            new = _clone(obj, sg, t, _TYPE_CODE[input_type], _qparams(ns, nz))
        head.append(_op(opcode_index(obj, _QUANTIZE), [new], [i]))
        sg.inputs[pos] = new
        remap[i] = new
    for pos, i in enumerate(list(sg.outputs)):
        t = sg.tensors[i]
        if t.type == _FLOAT32:
            if output_type is not IOType.FLOAT32:
                raise ConversionError(
                    f"output {_name(t)} comes from an op that stayed float; expected an int8 output, "
                    "found float32 (use --output-type float32)"
                )
            continue
        if t.type != _INT8 or output_type is IOType.INT8:
            continue
        s, z = _scale_zp(t)
        if output_type is IOType.FLOAT32:
            new = _clone(obj, sg, t, _FLOAT32, None)
            tail.append(_op(opcode_index(obj, _DEQUANTIZE), [i], [new]))
        else:
            new = _clone(obj, sg, t, _UINT8, _qparams(s, z + 128))
            tail.append(_op(opcode_index(obj, _QUANTIZE), [i], [new]))
        sg.outputs[pos] = new
        remap[i] = new
    sg.operators = [*head, *sg.operators, *tail]
    for sd in obj.signatureDefs or []:
        for tm in [*(sd.inputs or []), *(sd.outputs or [])]:
            tm.tensorIndex = remap.get(tm.tensorIndex, tm.tensorIndex)
    drop_unused_buffers(obj)
    return _dump(obj)


def fold_fp16_weights(obj: Any) -> int:
    """Replace ``DEQUANTIZE`` ops that expand float16 constant weights (the layout of
    "float16-quantized" models such as BlazeFace) with float32 constants. Returns how many.

    ai-edge-quantizer expects float32 weights directly on the ops it quantizes.
    """

    schema = _schema()
    n = 0
    for sg in obj.subgraphs or []:
        kept = []
        for op in sg.operators or []:
            oc = obj.operatorCodes[op.opcodeIndex]
            code = max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0))
            src = sg.tensors[op.inputs[0]] if code == _DEQUANTIZE and len(op.inputs) == 1 else None
            buf = obj.buffers[src.buffer] if src is not None else None
            if (
                src is not None
                and buf is not None
                and src.type == 1
                and buf.data is not None
                and len(buf.data)
            ):
                values = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.float16).astype(
                    np.float32
                )
                new = schema.BufferT()
                new.data = np.frombuffer(values.tobytes(), np.uint8)
                obj.buffers.append(new)
                sg.tensors[op.outputs[0]].buffer = len(obj.buffers) - 1
                n += 1
                continue
            kept.append(op)
        sg.operators = kept
    return n


def add_signature(model: bytes) -> bytes:
    """Prepare a float .tflite for ai-edge-quantizer.

    Gives a model without a SignatureDef a ``serving_default`` one (tensor names as keys):
    ai-edge-quantizer calibrates through signature runners, and old models such as
    MobileFaceNet have none. Also normalizes the opcode table (see :func:`normalize_opcodes`),
    turns float16 weights into float32 ones (:func:`fold_fp16_weights`) and rewrites MINIMUM
    into quantizable ops (:func:`converters.rewrites.rewrite_minimum`).
    """
    # lazy: TensorFlow/ONNX tooling (heavy), loaded only when converting
    from .rewrites import rewrite_minimum

    schema = _schema()
    obj = _load(model)
    normalize_opcodes(obj)
    fold_fp16_weights(obj)
    rewrite_minimum(obj)
    if not obj.signatureDefs:
        sg = obj.subgraphs[0]

        def tmap(i: int) -> Any:
            tm = schema.TensorMapT()
            tm.name = _name(sg.tensors[i])
            tm.tensorIndex = i
            return tm

        sd = schema.SignatureDefT()
        sd.signatureKey = "serving_default"
        sd.subgraphIndex = 0
        sd.inputs = [tmap(i) for i in sg.inputs]
        sd.outputs = [tmap(i) for i in sg.outputs]
        obj.signatureDefs = [sd]
    return _dump(obj)
