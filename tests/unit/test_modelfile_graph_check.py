"""The graph check on ``_Reader`` takes the same decisions as the ``tflite``-package one it replaced.

``edge_sdk.modelfile`` used to import the ``tflite`` schema package (~200 modules) on every
load to refuse operator tables that crash TFLite; it now walks the flatbuffer itself. Here the
old checker (:mod:`tests.legacy_graph_check`) and the new one judge the real models and
mutated copies whose mutations hit the fields the check reads (tensor indices, buffers,
shapes, options types, split counts, names), and must agree on accept/reject.
"""

from __future__ import annotations

import contextlib
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from edge_sdk import modelfile
from edge_sdk._tflite_enums import BUILTIN_OPCODE2NAME, BUILTIN_OPTIONS
from edge_sdk.errors import CorruptModelError
from tests import legacy_graph_check

ASSETS = Path(__file__).resolve().parents[2].parent / "shared" / "assets"
SMALL = (
    "split_concat.tflite",
    "mobilenet_v1_0.25_224_quant_with_metadata.tflite",
    "keras_lstm_mnist_ptq.tflite",
)


def _int32_fields(r: Any, table: int, slot: int) -> Iterator[int]:
    start, n = r.vector(table, slot)
    yield from (start + 4 * i for i in range(n))


def field_positions(data: bytes) -> list[tuple[int, str]]:
    """``(offset, struct format)`` of every field the graph check reads."""
    mf = modelfile
    r = mf._Reader(data)
    model = r.root()
    out: list[tuple[int, str]] = []
    for b in r.tables(model, mf._MODEL_BUFFERS):
        pos = r.field(b, mf._BUFFER_DATA)
        if pos:
            out.append((r.indirect(pos), "<I"))  # the data vector's length
    for sg in r.tables(model, mf._MODEL_SUBGRAPHS):
        out += [
            (p, "<i")
            for slot in (mf._SUBGRAPH_INPUTS, mf._SUBGRAPH_OUTPUTS)
            for p in _int32_fields(r, sg, slot)
        ]
        for t in r.tables(sg, mf._SUBGRAPH_TENSORS):
            out += [(p, "<i") for p in _int32_fields(r, t, mf._TENSOR_SHAPE)]
            for slot, fmt in ((mf._TENSOR_BUFFER, "<I"), (mf._TENSOR_IS_VARIABLE, "<B")):
                if r.field(t, slot):
                    out.append((r.field(t, slot), fmt))
            start, n = r.vector(t, mf._TENSOR_NAME, 1)
            out += [(start + i, "<B") for i in range(min(n, 2))]
        for op in r.tables(sg, mf._SUBGRAPH_OPERATORS):
            for slot in (mf._OPERATOR_INPUTS, mf._OPERATOR_OUTPUTS):
                out += [(p, "<i") for p in _int32_fields(r, op, slot)]
            for slot, fmt in ((mf._OPERATOR_OPCODE_INDEX, "<I"), (mf._OPERATOR_OPTIONS_TYPE, "<B")):
                if r.field(op, slot):
                    out.append((r.field(op, slot), fmt))
            opts = r.field(op, mf._OPERATOR_OPTIONS)
            if opts and r.field(r.indirect(opts), 0):
                out.append((r.field(r.indirect(opts), 0), "<i"))  # e.g. SplitOptions.num_splits
    return out


def mutants(data: bytes, n: int, seed: int) -> Iterator[bytes]:
    """``n`` copies of ``data``, each with 1-2 checked fields set to a nearby or hostile value."""
    rng = random.Random(seed)
    fields = field_positions(data)
    for _ in range(n):
        out = bytearray(data)
        for pos, fmt in rng.sample(fields, min(len(fields), rng.choice((1, 1, 2)))):
            old = struct.unpack_from(fmt, out, pos)[0]
            if fmt == "<B":
                value = rng.choice((0, 1, 0xFF, rng.randrange(256), old ^ 1))
            else:
                lo = -(2**31) if fmt == "<i" else 0
                value = rng.choice((0, -1, 1, old + 1, old - 1, old * 2, rng.randrange(512), 2**31 - 1))
                value = min(max(value, lo), 2**31 - 1)
            struct.pack_into(fmt, out, pos, value)
        yield bytes(out)


def decide(data: bytes, legacy: bool) -> str:
    """``accept``, or the type of the error that rejected ``data``."""

    def old_check(r: Any, model: int, opcodes: list[str], source: str) -> None:
        legacy_graph_check._check_graph_of(r.buf, source)

    with mock.patch.object(modelfile, "_check_graph", old_check) if legacy else contextlib.nullcontext():
        try:
            modelfile.read_model_file(data, "m")
        except CorruptModelError as exc:
            bounds = isinstance(exc.__cause__, ValueError) and "-byte file" in str(exc.__cause__)
            return "reject (out of bounds)" if bounds else "reject"
        except Exception as exc:
            return f"reject ({type(exc).__name__})"
    return "accept"


def same_decisions(data: bytes, n: int, seed: int) -> tuple[int, list[str]]:
    """How many mutants both checkers accepted, and a line per disagreement.

    The new reader bounds-checks every vector it reads, so it may also refuse a mutant whose
    vector runs past the end of the file (a buffer claiming 2**31 bytes) that the old checker
    only measured; TFLite's own flatbuffer verifier refuses those too. That is not a disagreement.
    """
    accepted, diffs = 0, []
    for i, m in enumerate(mutants(data, n, seed)):
        new, old = decide(m, False), decide(m, True)
        accepted += new == "accept"
        if new == "reject (out of bounds)" and old == "accept":
            continue
        if (new == "accept") != (old == "accept"):
            diffs.append(f"mutant {i}: new {new}, old {old}")
    return accepted, diffs


@pytest.fixture(scope="module")
def small_models() -> list[bytes]:
    found = [p for name in SMALL for p in ASSETS.rglob(name)]
    if not found:
        pytest.skip(f"no shared assets under {ASSETS}")
    return [p.read_bytes() for p in found[: len(SMALL)]]


def test_the_real_models_are_judged_alike() -> None:
    models = sorted(ASSETS.rglob("*.tflite"))
    if not models:
        pytest.skip(f"no shared assets under {ASSETS}")
    decisions = {str(p): (decide(p.read_bytes(), False), decide(p.read_bytes(), True)) for p in models}
    assert all(new == old for new, old in decisions.values()), decisions
    assert (
        sum(new == "accept" for new, _ in decisions.values()) >= len(models) - 1
    )  # one is corrupted on purpose


def test_mutated_models_are_judged_alike(small_models: list[bytes]) -> None:
    total_accepted = 0
    for k, data in enumerate(small_models):
        accepted, diffs = same_decisions(data, 40, seed=k)
        assert not diffs, diffs
        total_accepted += accepted
    assert 0 < total_accepted < 40 * len(small_models), "the mutants must include both verdicts"


def test_a_split_without_its_options_table_is_refused(small_models: list[bytes]) -> None:
    """The old checker crashed with AttributeError here; a missing table reads as num_splits 0."""
    mf = modelfile
    data = next(d for d in small_models if mf.read_model_file(d).has_op("SPLIT"))
    r = mf._Reader(data)
    model = r.root()
    names = [
        mf._op_name((max(r.scalar(oc, 3, "<i"), r.scalar(oc, 0, "<b")), None)) for oc in r.tables(model, 1)
    ]
    sg = r.tables(model, mf._MODEL_SUBGRAPHS)[0]
    split = next(op for op in r.tables(sg, mf._SUBGRAPH_OPERATORS) if names[r.scalar(op, 0, "<I")] == "SPLIT")
    assert r.field(split, mf._OPERATOR_OPTIONS) and r.scalar(split, mf._OPERATOR_OPTIONS_TYPE, "<B")
    mutated = bytearray(data)
    vtable = split - r._unpack("<i", split)
    struct.pack_into("<H", mutated, vtable + 4 + 2 * mf._OPERATOR_OPTIONS, 0)  # drop the table, keep its type
    with pytest.raises(CorruptModelError, match=r"\(SPLIT\) splits into 0 part\(s\) but has \d+ output"):
        mf.read_model_file(bytes(mutated), "m")


def test_the_vendored_enums_match_the_tflite_package() -> None:
    tflite = pytest.importorskip("tflite")
    options = {
        k: v for k, v in vars(tflite.BuiltinOptions).items() if isinstance(v, int) and not k.startswith("_")
    }
    assert dict(tflite.BUILTIN_OPCODE2NAME) == BUILTIN_OPCODE2NAME, "run: python ci/gen_tflite_enums.py"
    assert options == BUILTIN_OPTIONS, "run: python ci/gen_tflite_enums.py"


@pytest.mark.subprocess
def test_loading_a_model_imports_no_flatbuffer_schema(small_models: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(small_models[0])
    code = (
        "import sys; from edge_sdk.modelfile import read_model_file; "
        f"mf = read_model_file(open({str(path)!r}, 'rb').read()); mf.op_counts; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tflite', 'flatbuffers')))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
