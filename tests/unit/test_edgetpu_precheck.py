"""The offline Edge TPU pre-check on constructed op lists (no model, no compiler)."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import pytest

from converters.edgetpu_precheck import (
    OpStatus,
    Placement,
    check_op,
    compiled_cpu_before,
    compiled_cpu_ops,
    precheck,
    predict,
    single_subgraph_violation,
)
from converters.ops import OpInfo, TensorInfo
from edge_sdk.tflite_graph import read_ops
from tests.conftest import assets_dir

_N = iter(range(10_000))


def t(
    dtype: str = "int8", shape: tuple[int, ...] = (1, 8, 8, 4), *, const: bool = False, sig=None
) -> TensorInfo:
    return TensorInfo(next(_N), f"t{dtype}", dtype, shape, sig or shape, const, dtype in ("int8", "uint8"))


def op(name: str, i: int = 0, ins=None, outs=None, **options) -> OpInfo:
    return OpInfo(0, i, name, tuple(ins or (t(),)), tuple(outs or (t(),)), options)


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (op("CONV_2D", ins=[t(), t(shape=(4, 3, 3, 4), const=True), t("int32", (4,), const=True)]), ""),
        (op("SIN"), "not an Edge TPU operation"),
        (op("ADD", ins=[t("float32")]), "8-bit quantized"),
        (op("RELU", ins=[t(sig=(-1, 8, 8, 4))]), "dynamic shape"),
        (op("ADD", ins=[t(shape=(2, 8, 8, 4))]), "3 innermost dimensions"),
        (op("CONV_2D", dilation=(2, 1)), "same dilation"),
        # Compiler 16 maps an equal dilation (the DeepLab pair maps 2x2 depthwise kernels).
        (op("DEPTHWISE_CONV_2D", dilation=(2, 2)), ""),
        (op("DEPTHWISE_CONV_2D", dilation=(2, 1)), "same dilation"),
        (op("SOFTMAX", ins=[t(shape=(1, 20000))], outs=[t(shape=(1, 20000))]), "16000"),
        (op("SOFTMAX", ins=[t(shape=(1, 10))], outs=[t(shape=(1, 10))]), ""),
        (op("FULLY_CONNECTED", outs=[t(shape=(1, 4, 10))]), "one-dimensional"),
        (op("QUANTIZE", ins=[t("uint8")], outs=[t("int8")]), ""),
        (op("DEQUANTIZE", outs=[t("float32")]), "not an Edge TPU operation"),
    ],
)
def test_check_op(info: OpInfo, reason: str) -> None:
    got = check_op(info)
    assert (reason in got) if reason else got == ""


def test_everything_after_the_first_unsupported_op_runs_on_the_cpu() -> None:
    # A chain: each op consumes the previous one's output, so everything after SIN depends on it.
    a, b, c, d, e = t(), t(), t(), t(shape=(1, 5)), t(shape=(1, 5))
    ops = [
        op("QUANTIZE", 0, ins=[t("uint8")], outs=[a]),
        op("CONV_2D", 1, ins=[a], outs=[b]),
        op("SIN", 2, ins=[b], outs=[c]),
        op("CONV_2D", 3, ins=[c], outs=[d]),
        op("SOFTMAX", 4, ins=[d], outs=[e]),
    ]
    p = predict(ops)
    assert [x.status for x in p.ops] == [
        OpStatus.MAPPED,
        OpStatus.MAPPED,
        OpStatus.UNSUPPORTED,
        OpStatus.AFTER_CPU,
        OpStatus.AFTER_CPU,
    ]
    assert p.mapped == 2 and p.on_cpu == 3 and not p.fully_mapped
    assert p.first_unsupported is not None and p.first_unsupported.op == "SIN"
    d = p.as_dict()
    assert d["predicted_subgraphs"] == 1
    rows = {(r["op"], r["status"]): r["count"] for r in d["table"]}
    assert rows[("CONV_2D", "Mapped to Edge TPU")] == 1
    assert rows[("CONV_2D", "More than one subgraph is not supported")] == 1  # the compiler's words


def test_all_mapped() -> None:
    p = predict([op("CONV_2D", 0), op("ADD", 1)])
    assert p.fully_mapped and p.first_unsupported is None and p.as_dict()["ops_mapped"] == 2


def test_precheck_on_published_models(assets: Path) -> None:
    # A uint8 MobileNet made for the Edge TPU maps completely; a float model maps nothing.
    quant = precheck((assets / "classification" / "mobilenet_v1_0.5_160_quant.tflite").read_bytes())
    assert quant.fully_mapped, quant.first_unsupported
    flt = precheck((assets / "face" / "embedders" / "mobilefacenet.tflite").read_bytes())
    assert flt.mapped == 0 and flt.first_unsupported is not None
    assert "8-bit" in flt.first_unsupported.reason


# --- The real compiler's output is the ground truth -------------------------------------------


def _pairs() -> list[object]:
    d = assets_dir()
    folder = d / "edgetpu" / "compiled_pairs" if d else None
    if folder is None or not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="compiled_pairs/ not found"))]
    return sorted(p for p in folder.glob("*.tflite") if not p.stem.endswith("_edgetpu"))


def test_the_shared_pairs_are_all_there() -> None:
    pairs = _pairs()
    if pairs and not isinstance(pairs[0], Path):
        pytest.skip("compiled_pairs/ not found")
    assert len(pairs) >= 5, pairs


@pytest.mark.parametrize("cpu_model", _pairs(), ids=lambda p: getattr(p, "stem", "none"))
def test_prediction_matches_the_compiled_pair(cpu_model: Path) -> None:
    compiled = cpu_model.with_name(cpu_model.stem + "_edgetpu.tflite")
    # Truth: whatever the compiler left outside edgetpu-custom-op, counted by type.
    truth, subgraphs = compiled_cpu_ops(compiled.read_bytes())
    assert subgraphs >= 1  # a real compiled model, not a CPU copy
    source = cpu_model.read_bytes()
    predicted = precheck(source)
    assert predicted.cpu_ops == truth
    assert predicted.subgraphs == subgraphs
    # Before or after the custom op, as the compiled file orders them.
    assert predicted.cpu_ops_at(Placement.CPU_BEFORE) == compiled_cpu_before(compiled.read_bytes())
    # The compiler kept exactly the ops it did not fold: totals agree too.
    graph = [o for o in read_ops(source) if o.subgraph == 0]
    assert predicted.mapped == len(graph) - sum(truth.values())
    # ... and the predicted CPU set is one a single custom op allows.
    assert single_subgraph_violation(graph, {p.index for p in predicted.ops if not p.mapped}) == ""


# --- Placement follows the data flow ------------------------------------------------------------


def test_an_independent_branch_after_the_unsupported_op_stays_mapped() -> None:
    # File order: conv, SIN (unsupported) on branch A, then branch B's conv and add, which do
    # not consume SIN's output. The compiler maps B; only SIN and what consumes it go to the CPU.
    x, a, s, b, c, out = t(), t(), t(), t(), t(), t()
    ops = [
        op("CONV_2D", 0, ins=[x], outs=[a]),
        op("SIN", 1, ins=[a], outs=[s]),
        op("CONV_2D", 2, ins=[a], outs=[b]),
        op("ADD", 3, ins=[b, a], outs=[c]),
        op("MUL", 4, ins=[s, c], outs=[out]),
    ]
    p = predict(ops)
    assert [x.status for x in p.ops] == [
        OpStatus.MAPPED,
        OpStatus.UNSUPPORTED,
        OpStatus.MAPPED,
        OpStatus.MAPPED,
        OpStatus.AFTER_CPU,
    ]
    assert p.cpu_ops == {"SIN": 1, "MUL": 1} and p.subgraphs == 1


def test_an_unsupported_op_on_the_inputs_runs_before_the_subgraph() -> None:
    # A float input quantized on the CPU does not push the network to the CPU.
    x, q, y, z = t("float32"), t(), t(), t("float32")
    ops = [
        op("QUANTIZE", 0, ins=[x], outs=[q]),
        op("CONV_2D", 1, ins=[q], outs=[y]),
        op("DEQUANTIZE", 2, ins=[y], outs=[z]),
    ]
    p = predict(ops)
    assert [(x.status, x.placement) for x in p.ops] == [
        (OpStatus.DATA_TYPE, Placement.CPU_BEFORE),
        (OpStatus.MAPPED, Placement.EDGETPU),
        (OpStatus.UNSUPPORTED, Placement.CPU_AFTER),
    ]


def test_single_subgraph_violation_rejects_a_cpu_op_between_mapped_ops() -> None:
    x, a, b, c = t(), t(), t(), t()
    ops = [
        op("CONV_2D", 0, ins=[x], outs=[a]),
        op("SIN", 1, ins=[a], outs=[b]),
        op("ADD", 2, ins=[b], outs=[c]),
    ]
    assert "consumes SIN (op 1)" in single_subgraph_violation(ops, {1})
    assert single_subgraph_violation(ops, {1, 2}) == ""
    assert single_subgraph_violation(ops, {0}) == ""  # a CPU op before the subgraph


@pytest.mark.parametrize("seed", range(20))
def test_every_prediction_is_a_partition_the_compiler_could_produce(seed: int) -> None:
    rng = random.Random(seed)
    tensors = [t()]
    ops = []
    for i in range(30):
        ins = rng.sample(tensors, k=min(len(tensors), rng.choice((1, 1, 2))))
        name = rng.choice(("CONV_2D", "ADD", "MUL", "SIN", "ARG_MAX", "RELU", "TANH", "CUMSUM"))
        out = t()
        tensors.append(out)
        ops.append(op(name, i, ins=ins, outs=[out]))
    p = predict(ops)  # raises if its own partition needs two subgraphs
    cpu = {x.index for x in p.ops if not x.mapped}
    assert single_subgraph_violation(ops, cpu) == ""
    # Nothing is on the CPU without a reason: an unsupported op, or a CPU op it depends on.
    assert all(x.reason for x in p.ops if not x.mapped)
    # Exactly the ops outside the table are reported unsupported, the rest only by dependency.
    assert collections.Counter(
        x.op for x in p.ops if x.status is OpStatus.UNSUPPORTED
    ) == collections.Counter(o.name for o in ops if o.name in ("SIN", "ARG_MAX", "CUMSUM"))


# --- The op table's limits ------------------------------------------------------------------------


def test_the_lstm_maps_with_its_int16_cell_state() -> None:
    state = TensorInfo(next(_N), "cell", "int16", (1, 20), (1, 20), False, True, variable=True)
    lstm = op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins=[t(shape=(1, 28, 28)), state], outs=[t(shape=(1, 28, 20))])
    assert check_op(lstm) == ""
    other = op("ADD", ins=[t(), state])
    assert "int16" in check_op(other)


def _resize(hw_in: tuple[int, int], hw_out: tuple[int, int], align: bool) -> OpInfo:
    size = TensorInfo(next(_N), "size", "int32", (2,), (2,), True, False, values=hw_out)
    return op(
        "RESIZE_BILINEAR",
        ins=[t(shape=(1, *hw_in, 8)), size],
        outs=[t(shape=(1, *hw_out, 8))],
        align_corners=align,
        half_pixel_centers=False,
    )


@pytest.mark.parametrize(
    ("hw_in", "hw_out", "align", "reason"),
    [
        ((20, 20), (40, 40), False, ""),
        ((1, 1), (33, 33), True, "align_corners"),
        ((33, 33), (513, 513), False, "integer scale"),
        ((33, 33), (33, 33), True, ""),
    ],
)
def test_resize_limits(hw_in, hw_out, align, reason) -> None:
    got = check_op(_resize(hw_in, hw_out, align))
    assert (reason in got) if reason else got == ""


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (op("MAX_POOL_2D", activation="RELU"), "fused RELU"),
        (
            op(
                "TILE",
                ins=[t(), TensorInfo(next(_N), "m", "int32", (4,), (4,), True, False, values=(1, 2, 2, 1))],
            ),
            "",
        ),
        (
            op(
                "PAD",
                ins=[
                    t(),
                    TensorInfo(next(_N), "p", "int32", (4, 2), (4, 2), True, False, values=(1, 0) + (0,) * 6),
                ],
            ),
            "batch",
        ),
        (
            op(
                "STRIDED_SLICE",
                ins=[
                    t(),
                    t("int32", (4,), const=True),
                    t("int32", (4,), const=True),
                    TensorInfo(next(_N), "s", "int32", (4,), (4,), True, False, values=(1, 2, 1, 1)),
                ],
            ),
            "strides",
        ),
        (
            op("SQUEEZE", ins=[t(shape=(1, 5, 1, 10))], outs=[t(shape=(1, 5, 10))], squeeze_dims=(2,)),
            "relayout",
        ),
        (op("SQUEEZE", ins=[t(shape=(1, 1, 5, 10))], outs=[t(shape=(1, 5, 10))], squeeze_dims=(1,)), ""),
        (op("BIDIRECTIONAL_SEQUENCE_LSTM"), "not an Edge TPU operation"),
        (
            op("SPLIT", ins=[TensorInfo(next(_N), "a", "int32", (), (), True, False, values=(0,)), t()]),
            "batch",
        ),
        (op("SPLIT", ins=[TensorInfo(next(_N), "a", "int32", (), (), True, False, values=(3,)), t()]), ""),
        (
            op("MEAN", ins=[t(), TensorInfo(next(_N), "a", "int32", (2,), (2,), True, False, values=(1, 2))]),
            "",
        ),
        (
            op("SUM", ins=[t(), TensorInfo(next(_N), "a", "int32", (1,), (1,), True, False, values=(-4,))]),
            "batch",
        ),
    ],
)
def test_more_limits(info: OpInfo, reason: str) -> None:
    got = check_op(info)
    assert (reason in got) if reason else got == ""


def test_every_op_the_real_compiler_mapped_is_in_the_table(assets: Path) -> None:
    from converters.edgetpu import parse_compiler_output
    from edge_sdk.edgetpu_precheck import COMPILER_VERSION, SUPPORTED_OPS

    report = parse_compiler_output((assets / "edgetpu" / "edgetpu_compiler_sample.log").read_text())
    assert report.version is not None and report.version.startswith(COMPILER_VERSION)
    # "Mapped" and "More than one subgraph" both mean the op type itself is supported.
    supported = {r.op for r in report.rows if r.mapped or r.status == OpStatus.AFTER_CPU.value}
    assert supported and supported <= SUPPORTED_OPS, supported - SUPPORTED_OPS
    assert sum(report.cpu_ops.values()) == 24
    # Every status the compiler wrote is one the pre-check can write.
    assert {r.status for r in report.rows} <= {s.value for s in OpStatus}


def test_the_documented_table_lists_every_op_the_precheck_maps() -> None:
    from edge_sdk.edgetpu_precheck import OP_TABLE

    doc = (Path(__file__).resolve().parents[2] / "docs" / "converters.md").read_text()
    table = doc[doc.index("### The op table") : doc.index("### Accuracy")]
    assert all(f"`{name}`" in table for name in OP_TABLE), [n for n in OP_TABLE if f"`{n}`" not in table]
    assert all(r.sources for r in OP_TABLE.values())


def test_a_truncated_model_is_a_typed_error(assets: Path) -> None:
    from edge_sdk.errors import CorruptModelError, NotATfliteModelError

    data = (assets / "edgetpu" / "compiled_pairs" / "split_concat.tflite").read_bytes()
    with pytest.raises(CorruptModelError, match="corrupt or truncated"):
        precheck(data[: len(data) // 3])
    with pytest.raises(NotATfliteModelError, match="TFL3"):
        precheck(b"\x00" * 64)
