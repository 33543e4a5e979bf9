"""The offline Edge TPU pre-check on constructed op lists (no model, no compiler)."""

from __future__ import annotations

from pathlib import Path

import pytest

from converters.edgetpu_precheck import OpStatus, check_op, precheck, predict
from converters.ops import OpInfo, TensorInfo

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
        (op("DEPTHWISE_CONV_2D", dilation=(2, 2)), "dilated"),
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
    ops = [
        op("QUANTIZE", 0),
        op("CONV_2D", 1),
        op("SIN", 2),
        op("CONV_2D", 3),
        op("SOFTMAX", 4, ins=[t(shape=(1, 5))]),
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
