"""Bounded fuzzing (issue 17, "Proof" 1): hostile models, zips, images, labels, configs and URIs.

Hypothesis draws the inputs (:mod:`tests.fuzz_cases`); they run many to a child process with
``RLIMIT_AS`` and a per-case alarm (:mod:`tests.fuzz_harness`). The only acceptable outcomes
are a correct result or a typed :class:`edge_sdk.errors.EdgeSdkError`. A crash, a hang, an
untyped exception or a wrong result fails the test, names the case, and leaves its
reproducer under the test's ``tmp_path``. ``ci/fuzz_long.py`` runs the same families with
tens of thousands of inputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests import fuzz_cases
from tests.fuzz_harness import Report, run_cases

pytestmark = pytest.mark.fuzz

MEM_MB = 1024  # per child: the cap a hostile input must stay under
SEED = 17


def _check(report: Report) -> None:
    print(report.summary())
    assert report.total > 0
    problems = "\n".join(
        f"case {f.index} ({f.target}): {f.outcome}; reproducer {f.reproducer}" for f in report.findings
    )
    assert not report.findings, f"unacceptable outcomes:\n{problems}"


@pytest.fixture(autouse=True)
def _quiet_zipfile() -> None:
    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)


def test_fuzz_models_and_metadata_zips(assets: Path, tmp_path: Path) -> None:
    cases = fuzz_cases.model_cases(assets, tmp_path, 500, SEED) + fuzz_cases.zip_cases(
        assets, tmp_path, 200, SEED
    )
    report = run_cases(cases, tmp_path / "run", mem_mb=MEM_MB)
    _check(report)
    ok = sum(n for (target, outcome), n in report.by_target.items() if outcome == "ok")
    assert ok > 0, "no mutated model loaded: the mutations never reach the interpreter"


def test_fuzz_images(assets: Path, tmp_path: Path) -> None:
    cases = fuzz_cases.image_cases(assets, tmp_path, 400, SEED)
    report = run_cases(cases, tmp_path / "run", mem_mb=MEM_MB)
    _check(report)
    assert report.by_target["image", "ok"] > 0 and report.by_target["image", "typed:ImageError"] > 0


def test_fuzz_labels_and_configs(tmp_path: Path) -> None:
    report = run_cases(fuzz_cases.text_cases(tmp_path, 400, SEED), tmp_path / "run", mem_mb=MEM_MB)
    _check(report)
    assert report.by_target["labels", "ok"] > 0 and report.by_target["config", "typed:OptionsError"] > 0


def test_fuzz_source_and_sink_uris(tmp_path: Path) -> None:
    report = run_cases(fuzz_cases.uri_cases(tmp_path, 300, SEED), tmp_path / "run", mem_mb=MEM_MB)
    _check(report)
    assert (
        report.by_target["source", "typed:SourceError"] > 0
        and report.by_target["sink", "typed:OptionsError"] > 0
    )


def test_harness_catches_a_native_crash_and_a_hang(tmp_path: Path) -> None:
    """The harness itself: a case that kills its child and one that hangs are reported, with reproducers."""
    import json

    cases = [
        {"target": "labels", "arg": str(tmp_path / "missing.txt")},
        {"target": "fault", "arg": "segv"},
        {"target": "fault", "arg": "hang"},
        {"target": "labels", "arg": str(tmp_path / "missing.txt")},
    ]
    report = run_cases(cases, tmp_path / "run", mem_mb=MEM_MB, timeout_s=2)
    outcomes = {f.index: f.outcome for f in report.findings}
    assert outcomes == {1: "crash: killed by SIGSEGV", 2: "hang: no answer within the per-case timeout"}
    assert report.children == 3 and report.by_target["labels", "typed:LabelsError"] == 2
    assert json.loads(report.findings[0].reproducer.read_text())["arg"] == "segv"


# Inputs the fuzzer found (CI run and ci/fuzz_long.py) that crashed TFLite with SIGSEGV or
# escaped as untyped errors, reduced to the bytes that matter. Each is now refused at load.
SPLIT_CONCAT = "edgetpu/compiled_pairs/split_concat.tflite"
FOUND_CRASHES = [
    # SIGSEGV in allocate_tensors: the SPLIT operator's options type byte cleared
    (SPLIT_CONCAT, 219, b"\x00", "SPLIT.*options of type 0; expected type 35"),
    # SIGSEGV: an offset in the buffer vector zeroed, so an LSTM weight tensor lost its data
    (
        "edgetpu/compiled_pairs/keras_lstm_mnist_ptq.tflite",
        304,
        b"\x00\x00",
        "reads tensor 14, which no operator produces and which holds no data",
    ),
    # SIGSEGV: SplitOptions.num_splits 6 -> 0 (also 22, 0xFFFFFF06 ...)
    (SPLIT_CONCAT, 240, b"\x00", r"splits into 0 part\(s\) but has 6 output\(s\)"),
    # SIGSEGV: CONCATENATION's opcode flipped to LOG, a unary op given three inputs
    (SPLIT_CONCAT, 1871, b"\x49", r"\(LOG\) has 3 input\(s\) and 1 output\(s\); expected 1 and 1"),
    # ValueError "Tensor data is null": the operator count 3 -> 2 leaves the graph output uncomputed
    (SPLIT_CONCAT, 116, b"\x02", "output tensor 10 is neither computed by an operator nor constant"),
    # UnicodeDecodeError from get_output_details: a tensor name that is not UTF-8
    (SPLIT_CONCAT, 1144, b"\xe4\xd7", "tensor 5 has a name that is not UTF-8 text"),
]
IDS = ["split-options", "lstm-weights", "split-count", "log-arity", "dropped-operator", "tensor-name"]


@pytest.mark.parametrize(("rel", "at", "patch", "message"), FOUND_CRASHES, ids=IDS)
def test_fuzzer_crashes_are_refused_at_load(
    assets: Path, tmp_path: Path, rel: str, at: int, patch: bytes, message: str
) -> None:
    from edge_sdk.errors import CorruptModelError
    from edge_sdk.modelfile import read_model_file

    data = bytearray((assets / rel).read_bytes())
    data[at : at + len(patch)] = patch
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match=message):
        read_model_file(bytes(data), str(bad))
    # the runtime never sees it: Model() in a capped child answers with the typed error
    report = run_cases([{"target": "model", "arg": str(bad)}], tmp_path / "run", mem_mb=MEM_MB)
    assert dict(report.by_target) == {("model", "typed:CorruptModelError"): 1}, report.summary()
