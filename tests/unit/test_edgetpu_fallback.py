"""An Edge TPU delegate that fails at load or while running (issue 17, "Proof" 2).

The Edge TPU is faked, mimicking ai-edge-litert's API: ``load_delegate("libedgetpu.so.1",
options)`` either raises ``ValueError("Failed to load delegate from libedgetpu.so.1")`` as
the real function does when the library or the device is missing, or returns a delegate; an
``Interpreter`` given that delegate runs the compiled model's CPU twin (so tensors are real)
but its ``invoke`` raises ``RuntimeError`` like a USB Edge TPU pulled out mid-run. The models
are the real compiled pair from ``../shared/assets/edgetpu/compiled_pairs``.

Without ``--strict`` (``Accelerator.cpu_twin`` set by ``resolve_model``) the model falls back to
the CPU twin with a warning, and its results equal the CPU model's. With ``--strict`` the load
failure is an ``AcceleratorError`` and the run failure a ``ModelError``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge_sdk.model as model_module
from devices.accelerators import EdgeTpuDevice
from devices.pairing import resolve_model
from edge_sdk.backend import Backend, BackendName, get_backend
from edge_sdk.delegates import Accelerator, AcceleratorKind
from edge_sdk.errors import AcceleratorError, ModelError
from edge_sdk.model import Model
from edge_sdk.tasks.classify import Classifier

PAIR = "edgetpu/compiled_pairs/mobilenet_v1_0.5_160_quant"


class FakeEdgeTpu:
    """A fake libedgetpu: ``load_fails`` or ``invoke_fails`` (after ``good_invokes`` runs)."""

    def __init__(self, cpu_twin: Path, *, load_fails: bool = False, good_invokes: int | None = None) -> None:
        self.cpu_twin = cpu_twin
        self.load_fails = load_fails
        self.good_invokes = good_invokes
        self.loads: list[tuple[str, dict[str, Any]]] = []
        real = get_backend()
        fake = self

        class Interpreter:
            def __init__(
                self, model_path: str | None = None, experimental_delegates: Any = None, **kw: Any
            ) -> None:
                self.on_tpu = bool(experimental_delegates)
                path = str(fake.cpu_twin) if self.on_tpu else model_path
                self._real = real.interpreter_cls(model_path=path, **kw)
                self.invokes = 0

            def invoke(self) -> None:
                if self.on_tpu and fake.good_invokes is not None and self.invokes >= fake.good_invokes:
                    raise RuntimeError(
                        "Failed to invoke delegate edgetpu: USB transfer error 4 (device gone)"
                    )
                self.invokes += 1
                self._real.invoke()

            def __getattr__(self, name: str) -> Any:
                return getattr(self._real, name)

        def load_delegate(library: str, options: dict[str, Any] | None = None) -> object:
            fake.loads.append((library, dict(options or {})))
            if fake.load_fails:
                raise ValueError(f"Failed to load delegate from {library}\n")
            return object()

        self.backend = Backend(BackendName(real.name), real.version, Interpreter, load_delegate)


@pytest.fixture
def pair(assets: Path) -> tuple[Path, Path]:
    return assets / f"{PAIR}.tflite", assets / f"{PAIR}_edgetpu.tflite"


def _on_tpu(pair: tuple[Path, Path], strict: bool) -> tuple[Path, Accelerator]:
    usb = EdgeTpuDevice("usb:0", "usb", "1a6e:089a")
    return resolve_model(pair[0], "edgetpu", strict=strict, tpus=[usb])


def _photo(assets: Path) -> np.ndarray:
    from edge_sdk import load_image

    return load_image(assets / "classification/images/parrot.jpg")


def test_delegate_that_fails_to_load_falls_back_to_the_cpu_twin(
    pair: tuple[Path, Path], assets: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tpu = FakeEdgeTpu(pair[0], load_fails=True)
    monkeypatch.setattr(model_module, "get_backend", lambda: tpu.backend)
    path, acc = _on_tpu(pair, strict=False)
    assert path == pair[1] and acc.kind is AcceleratorKind.EDGETPU and acc.cpu_twin == pair[0]
    with caplog.at_level(logging.WARNING), Classifier(Model(path, accelerator=acc)) as clf:
        got = clf.classify(_photo(assets))
        assert clf.model.path == pair[0] and clf.model.accelerator.kind is AcceleratorKind.CPU
        assert clf.model.fell_back and "did not load" in clf.model.fell_back
    assert tpu.loads == [("libedgetpu.so.1", {})]
    assert "falling back to the CPU model" in caplog.text and "--strict" in caplog.text
    monkeypatch.undo()
    with Classifier(pair[0]) as cpu:
        want = cpu.classify(_photo(assets))
    assert [c.id for c in got.categories] == [c.id for c in want.categories]
    assert got.top.label == "macaw"  # published answer for the parrot photo


def test_delegate_that_fails_to_load_with_strict_is_an_accelerator_error(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tpu = FakeEdgeTpu(pair[0], load_fails=True)
    monkeypatch.setattr(model_module, "get_backend", lambda: tpu.backend)
    path, acc = _on_tpu(pair, strict=True)
    assert acc.cpu_twin is None
    with pytest.raises(
        AcceleratorError, match=r"no Edge TPU could be opened through libedgetpu\.so\.1 \(Failed to load"
    ):
        Model(path, accelerator=acc)


def test_edge_tpu_failing_mid_run_falls_back_and_reruns_the_frame(
    pair: tuple[Path, Path], assets: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tpu = FakeEdgeTpu(pair[0], good_invokes=2)
    monkeypatch.setattr(model_module, "get_backend", lambda: tpu.backend)
    path, acc = _on_tpu(pair, strict=False)
    photo = _photo(assets)
    with caplog.at_level(logging.WARNING), Classifier(Model(path, accelerator=acc)) as clf:
        results = [clf.classify(photo) for _ in range(4)]  # the third invoke fails on the "TPU"
        assert clf.model.accelerator.kind is AcceleratorKind.CPU and clf.model.path == pair[0]
        assert "failed while running" in (clf.model.fell_back or "")
    assert "USB transfer error" in caplog.text
    tops = [r.top.label for r in results]
    assert tops == ["macaw"] * 4
    assert [c.score for c in results[2].categories] == [c.score for c in results[0].categories]


def test_edge_tpu_failing_mid_run_with_strict_is_a_model_error(
    pair: tuple[Path, Path], assets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tpu = FakeEdgeTpu(pair[0], good_invokes=1)
    monkeypatch.setattr(model_module, "get_backend", lambda: tpu.backend)
    path, acc = _on_tpu(pair, strict=True)
    with Classifier(Model(path, accelerator=acc)) as clf:
        clf.classify(_photo(assets))
        with pytest.raises(ModelError, match="invoke failed: Failed to invoke delegate edgetpu"):
            clf.classify(_photo(assets))
