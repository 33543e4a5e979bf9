"""The graph check as it was before it moved onto ``edge_sdk.modelfile._Reader``.

It walked the model with the ``tflite`` schema package; the new checker must take the same
accept/reject decision (``tests/unit/test_modelfile_graph_check.py``). Kept verbatim, apart
from the imports, as the reference.
"""

from __future__ import annotations

import mmap

from edge_sdk.errors import CorruptModelError
from edge_sdk.modelfile import REQUIRED_OPTIONS, _check_arity


def _builtin_code(opcode: object) -> int:
    """The op's code as TFLite computes it: max(builtin_code, deprecated_builtin_code).

    The ``tflite`` package's ``BuiltinCode()`` returns the deprecated field whenever the real one
    is below 127, which misnames ops in files that leave the deprecated field 0 (some
    converters do: a QUANTIZE read as ADD), so the field is read directly.
    """
    import flatbuffers  # lazy: comes with the tflite schema package, only needed to read a model

    tab = opcode._tab  # type: ignore[attr-defined]
    at = tab.Offset(10)  # field 3: builtin_code (int32)
    raw = int(tab.Get(flatbuffers.number_types.Int32Flags, at + tab.Pos)) if at else 0
    return max(raw, int(opcode.DeprecatedBuiltinCode()))  # type: ignore[attr-defined]


def _op_name(tflite: object, opcode: object) -> str:
    builtin = _builtin_code(opcode)
    custom = opcode.CustomCode()  # type: ignore[attr-defined]
    names = tflite.BUILTIN_OPCODE2NAME  # type: ignore[attr-defined]
    if custom is not None and builtin == 32:  # BuiltinOperator.CUSTOM
        return custom.decode("utf-8", "replace")
    return str(names.get(builtin, f"BUILTIN_{builtin}"))


def _check_options(name: str, op: object, outputs: list[int], where: str, tflite: object) -> None:
    """Option values the kernels trust: a SPLIT's count must match its outputs."""
    if name in ("SPLIT", "SPLIT_V"):
        table = op.BuiltinOptions()  # type: ignore[attr-defined]
        opts = (tflite.SplitOptions if name == "SPLIT" else tflite.SplitVOptions)()  # type: ignore[attr-defined]
        opts.Init(table.Bytes, table.Pos)
        if opts.NumSplits() != len(outputs):
            raise CorruptModelError(
                f"{where} splits into {opts.NumSplits()} part(s) but has {len(outputs)} output(s)"
            )


def _options_types(tflite: object) -> dict[str, int]:
    opts = tflite.BuiltinOptions  # type: ignore[attr-defined]
    return {k: v for k, v in vars(opts).items() if isinstance(v, int) and not k.startswith("_")}


def _expected_options(name: str, types: dict[str, int]) -> tuple[int | None, bool]:
    """The options type an op takes (None: unknown), and whether it must be present."""
    if name in REQUIRED_OPTIONS:
        return types.get(REQUIRED_OPTIONS[name]), True
    camel = "".join(part.capitalize() for part in name.split("_")) + "Options"
    return types.get(camel), False


def _holds_no_data(model: object, tensor: object, n_buffers: int) -> bool:
    """A tensor that is not a variable, has elements, and whose buffer is empty or missing."""
    if tensor.IsVariable():  # type: ignore[attr-defined]
        return False
    if tensor.ShapeLength() and any(int(d) == 0 for d in tensor.ShapeAsNumpy()):  # type: ignore[attr-defined]
        return False  # no elements, no data needed
    b = tensor.Buffer()  # type: ignore[attr-defined]
    if b >= n_buffers:
        return True
    buf = model.Buffers(b)  # type: ignore[attr-defined]
    return bool(buf.DataLength() == 0 and buf.Size() == 0)


def _check_graph(tflite: object, model: object, opcodes: list[str], source: str) -> None:
    """Refuse operator tables the runtime would crash on instead of rejecting.

    Checks every operator's tensor indices, its options type, and that each tensor an operator
    reads is produced somewhere (a graph input, another operator's output, a variable) or
    holds constant data. Found by fuzzing: a cleared options type on SPLIT and a weight
    tensor whose buffer lost its data both segfaulted TFLite's ``allocate_tensors``.

    Raises:
        CorruptModelError: naming the subgraph, the operator and what is wrong.
    """
    types = _options_types(tflite)
    op_names = tflite.BUILTIN_OPCODE2NAME  # type: ignore[attr-defined]
    builtin = set(op_names.values())
    n_buffers = model.BuffersLength()  # type: ignore[attr-defined]
    for s in range(model.SubgraphsLength()):  # type: ignore[attr-defined]
        sg = model.Subgraphs(s)  # type: ignore[attr-defined]
        n_tensors = sg.TensorsLength()
        for t in range(n_tensors):
            try:
                (sg.Tensors(t).Name() or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptModelError(
                    f"{source}: subgraph {s} tensor {t} has a name that is not UTF-8 text"
                ) from None
        produced = {int(i) for i in (sg.InputsAsNumpy() if sg.InputsLength() else [])}
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            produced.update(int(i) for i in (op.OutputsAsNumpy() if op.OutputsLength() else []))
        for t in (int(i) for i in (sg.OutputsAsNumpy() if sg.OutputsLength() else [])):
            if not 0 <= t < n_tensors:
                raise CorruptModelError(f"{source}: subgraph {s} output {t} is not a tensor of it")
            if t not in produced and _holds_no_data(model, sg.Tensors(t), n_buffers):
                raise CorruptModelError(
                    f"{source}: subgraph {s} output tensor {t} is neither computed by an operator nor constant"
                )
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            idx = op.OpcodeIndex()
            name = opcodes[idx] if idx < len(opcodes) else f"OPCODE_{idx}"
            where = f"{source}: subgraph {s} operator {o} ({name})"
            if name in builtin:
                expected, required = _expected_options(name, types)
                found = op.BuiltinOptionsType()
                if expected is not None and (found != expected if required else found not in (0, expected)):
                    raise CorruptModelError(
                        f"{where} has builtin options of type {found}; expected type {expected}"
                    )
            inputs = [int(i) for i in (op.InputsAsNumpy() if op.InputsLength() else [])]
            outputs = [int(i) for i in (op.OutputsAsNumpy() if op.OutputsLength() else [])]
            for t in (*inputs, *outputs):
                if t < -1 or t >= n_tensors:
                    raise CorruptModelError(f"{where} names tensor {t}; the subgraph has {n_tensors}")
            if name in builtin:
                _check_arity(name, inputs, outputs, where)
                _check_options(name, op, outputs, where, tflite)
            for t in inputs:
                if t == -1 or t in produced:
                    continue
                tensor = sg.Tensors(t)
                if tensor.Buffer() >= n_buffers:
                    raise CorruptModelError(
                        f"{where} reads tensor {t} whose buffer {tensor.Buffer()} does not exist"
                    )
                if _holds_no_data(model, tensor, n_buffers):
                    raise CorruptModelError(
                        f"{where} reads tensor {t}, which no operator produces and which holds no data"
                    )


def _check_graph_of(data: bytes | bytearray | memoryview | mmap.mmap, source: str) -> None:
    """:func:`_check_graph` on the model's own flatbuffer (read in place)."""
    import tflite  # lazy: the flatbuffer schema, ~200 modules; the graph check walks it

    model = tflite.Model.GetRootAs(data, 0)
    names = [_op_name(tflite, model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    _check_graph(tflite, model, names, source)
