"""Accelerator specs, Edge TPU discovery, delegate loading at the load_delegate boundary,
board detection and CPU/Edge TPU model pairing."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import pytest

from devices.accelerators import (
    Accelerator,
    AcceleratorKind,
    EdgeTpuBus,
    EdgeTpuDevice,
    list_edgetpus,
)
from devices.board import BoardKind, board_kind_from_model, read_board
from devices.pairing import model_pair, resolve_model
from edge_sdk.backend import get_backend
from edge_sdk.errors import AcceleratorError, ModelNotFoundError, OptionsError

USB_TPU = EdgeTpuDevice(EdgeTpuBus.USB, 0, "/sys/bus/usb/devices/2-1", "18d1:9302")
PCI_TPU = EdgeTpuDevice(EdgeTpuBus.PCI, 0, "/dev/apex_0")


class FakeLoadDelegate:
    """``load_delegate`` as tflite_runtime/ai_edge_litert behave without libedgetpu: ValueError
    wrapping the loader's OSError (or a plain OSError from older builds)."""

    def __init__(self, exc: type[Exception] | None = ValueError) -> None:
        self.exc = exc
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, library: str, options: dict | None = None) -> object:
        self.calls.append((library, dict(options or {})))
        if self.exc is ValueError:
            raise ValueError(
                f"Failed to load delegate from {library}\n{library}: cannot open shared object file"
            )
        if self.exc is not None:
            raise self.exc(f"{library}: cannot open shared object file: No such file or directory")
        return object()


@pytest.mark.parametrize(
    ("spec", "kind", "threads", "device"),
    [
        ("cpu", AcceleratorKind.CPU, None, None),
        ("cpu:3", AcceleratorKind.CPU, 3, None),
        ("edgetpu", AcceleratorKind.EDGETPU, None, None),
        ("edgetpu:usb", AcceleratorKind.EDGETPU, None, "usb"),
        ("edgetpu:usb:1", AcceleratorKind.EDGETPU, None, "usb:1"),
        ("EdgeTPU:pci:0", AcceleratorKind.EDGETPU, None, "pci:0"),
    ],
)
def test_parse(spec: str, kind: AcceleratorKind, threads: int | None, device: str | None) -> None:
    acc = Accelerator.parse(spec)
    assert (acc.kind, acc.num_threads, acc.device) == (kind, threads, device)


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "cpu:x", "edgetpu:pci", "edgetpu:usb:1:2", "edgetpu:spi:0"])
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(OptionsError):
        Accelerator.parse(spec)


def test_default_threads_come_from_the_board() -> None:
    from devices.board import detect_board

    assert Accelerator.parse("cpu").threads == detect_board().default_threads >= 1


@pytest.mark.parametrize(
    ("system", "library"),
    [("Linux", "libedgetpu.so.1"), ("Darwin", "libedgetpu.1.dylib"), ("Windows", "edgetpu.dll")],
)
def test_delegate_library_per_os_and_device_option(
    monkeypatch: pytest.MonkeyPatch, system: str, library: str
) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    ok = FakeLoadDelegate(None)
    assert len(Accelerator.parse("edgetpu:usb:1").load_delegates(ok)) == 1
    assert ok.calls == [(library, {"device": "usb:1"})]
    any_tpu = FakeLoadDelegate(None)
    Accelerator.parse("edgetpu").load_delegates(any_tpu)
    assert any_tpu.calls == [(library, {})]


@pytest.mark.parametrize("exc", [ValueError, OSError])
def test_missing_runtime_is_one_clear_error(exc: type[Exception]) -> None:
    with pytest.raises(
        AcceleratorError, match=r"no Edge TPU pci:0 could be opened through libedgetpu"
    ) as info:
        Accelerator.parse("edgetpu:pci:0").load_delegates(FakeLoadDelegate(exc))
    assert "\n" not in str(info.value).split("(")[0]
    assert "libedgetpu1-std" in str(info.value)


def test_real_backend_without_libedgetpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    with pytest.raises(AcceleratorError, match=r"libedgetpu\.so\.1"):
        Accelerator.parse("edgetpu").load_delegates(get_backend().load_delegate)


def test_cpu_loads_nothing() -> None:
    fake = FakeLoadDelegate()
    assert Accelerator.parse("cpu:2").load_delegates(fake) == [] and fake.calls == []


# -- discovery ---------------------------------------------------------------------------------


def _usb(root: Path, name: str, vendor: str, product: str) -> None:
    d = root / "bus" / "usb" / "devices" / name
    d.mkdir(parents=True)
    (d / "idVendor").write_text(vendor + "\n")
    (d / "idProduct").write_text(product + "\n")


def test_list_edgetpus_from_usb_ids_and_apex_nodes(tmp_path: Path) -> None:
    sys_root, dev_root = tmp_path / "sys", tmp_path / "dev"
    _usb(sys_root, "1-1", "1d6b", "0002")  # a hub
    _usb(sys_root, "2-1", "1a6e", "089a")  # Coral USB before firmware load
    _usb(sys_root, "2-2", "18d1", "9302")  # Coral USB after
    _usb(sys_root, "2-3", "18d1", "4ee7")  # a phone
    dev_root.mkdir()
    for name in ("apex_1", "apex_0", "video0"):
        (dev_root / name).touch()
    tpus = list_edgetpus(sys_root, dev_root)
    assert [(t.device, t.usb_id) for t in tpus] == [
        ("usb:0", "1a6e:089a"),
        ("usb:1", "18d1:9302"),
        ("pci:0", None),
        ("pci:1", None),
    ]
    assert tpus[2].path.endswith("apex_0")
    assert list_edgetpus(tmp_path / "none", tmp_path / "none") == []


@pytest.mark.parametrize(
    ("spec", "tpu", "ok"),
    [
        ("edgetpu", USB_TPU, True),
        ("edgetpu", PCI_TPU, True),
        ("edgetpu:usb", USB_TPU, True),
        ("edgetpu:usb", PCI_TPU, False),
        ("edgetpu:usb:0", USB_TPU, True),
        ("edgetpu:usb:1", USB_TPU, False),
        ("edgetpu:pci:0", PCI_TPU, True),
        ("cpu", USB_TPU, False),
    ],
)
def test_spec_matches_device(spec: str, tpu: EdgeTpuDevice, ok: bool) -> None:
    assert Accelerator.parse(spec).matches(tpu) is ok


# -- board ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "system", "kind"),
    [
        ("Raspberry Pi 3 Model B Plus Rev 1.3", "Linux", BoardKind.RASPBERRY_PI_3),
        ("Raspberry Pi Zero 2 W Rev 1.0", "Linux", BoardKind.RASPBERRY_PI_3),
        ("Raspberry Pi 4 Model B Rev 1.4", "Linux", BoardKind.RASPBERRY_PI_4),
        ("Raspberry Pi Compute Module 4 Rev 1.0", "Linux", BoardKind.RASPBERRY_PI_4),
        ("Raspberry Pi 5 Model B Rev 1.0", "Linux", BoardKind.RASPBERRY_PI_5),
        ("Raspberry Pi Model B Rev 2", "Linux", BoardKind.RASPBERRY_PI),
        ("Freescale i.MX8MQ Phanbell", "Linux", BoardKind.CORAL_DEV_BOARD),
        ("Linux x86_64", "Linux", BoardKind.LINUX),
        ("macOS arm64", "Darwin", BoardKind.MACOS),
        ("Windows AMD64", "Windows", BoardKind.OTHER),
    ],
)
def test_board_kind_from_device_tree_model(model: str, system: str, kind: BoardKind) -> None:
    assert board_kind_from_model(model, system) is kind


def test_read_board_from_device_tree(tmp_path: Path) -> None:
    dt = tmp_path / "model"
    dt.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    board = read_board(dt, "Linux")
    assert board.kind is BoardKind.RASPBERRY_PI_5 and board.model == "Raspberry Pi 5 Model B Rev 1.0"
    assert 1 <= board.default_threads <= 4
    absent = read_board(tmp_path / "missing", "Linux")
    assert absent.kind is BoardKind.LINUX and absent.default_threads == absent.cpus
    assert read_board(tmp_path / "missing", "Darwin").kind is BoardKind.MACOS


# -- pairing -------------------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    cpu, tpu = tmp_path / "m.tflite", tmp_path / "m_edgetpu.tflite"
    cpu.write_bytes(b"cpu")
    tpu.write_bytes(b"tpu")
    return cpu, tpu


def test_model_pair(pair: tuple[Path, Path], tmp_path: Path) -> None:
    cpu, tpu = pair
    assert model_pair(cpu) == (cpu, tpu) == model_pair(tpu)
    solo = tmp_path / "solo.tflite"
    solo.write_bytes(b"x")
    assert model_pair(solo) == (solo, None)


@pytest.mark.parametrize("named", [0, 1])
def test_auto_uses_the_tpu_model_when_a_tpu_is_present(pair: tuple[Path, Path], named: int) -> None:
    path, acc = resolve_model(pair[named], None, tpus=[USB_TPU])
    assert path == pair[1] and acc.kind is AcceleratorKind.EDGETPU


@pytest.mark.parametrize("named", [0, 1])
def test_auto_falls_back_to_cpu_without_a_tpu(
    pair: tuple[Path, Path], named: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        path, acc = resolve_model(pair[named], None, tpus=[])
    assert path == pair[0] and acc.kind is AcceleratorKind.CPU
    assert bool(caplog.records) is bool(named)  # only naming the Edge TPU model warns


def test_auto_does_not_look_for_tpus_for_a_plain_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold start: a model without an _edgetpu twin runs on the CPU without enumerating USB/PCI."""
    import devices.pairing

    def boom() -> list:
        raise AssertionError("list_edgetpus was called")

    monkeypatch.setattr(devices.pairing, "list_edgetpus", boom)
    solo = tmp_path / "solo.tflite"
    solo.write_bytes(b"x")
    path, acc = resolve_model(solo, None)
    assert path == solo and acc.kind is AcceleratorKind.CPU


def test_explicit_edgetpu_without_tpu_falls_back_with_warning(
    pair: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        path, acc = resolve_model(pair[0], "edgetpu", tpus=[])
    assert path == pair[0] and acc.kind is AcceleratorKind.CPU
    assert "falling back to the CPU model" in caplog.text


@pytest.mark.parametrize(("named", "spec"), [(0, "edgetpu"), (1, "edgetpu:usb"), (1, None)])
def test_strict_fails_instead(pair: tuple[Path, Path], named: int, spec: str | None) -> None:
    with pytest.raises(AcceleratorError, match="no Edge TPU"):
        resolve_model(pair[named], spec, strict=True, tpus=[])


def test_explicit_edgetpu_needs_the_right_bus(pair: tuple[Path, Path]) -> None:
    path, acc = resolve_model(pair[0], "edgetpu:pci:0", tpus=[PCI_TPU])
    assert path == pair[1] and acc.device == "pci:0"
    with pytest.raises(AcceleratorError, match=r"no Edge TPU at pci:0 found .*found: usb:0"):
        resolve_model(pair[0], "edgetpu:pci:0", strict=True, tpus=[USB_TPU])


def test_single_model_with_edgetpu_and_no_tpu_is_an_error(tmp_path: Path) -> None:
    solo = tmp_path / "solo.tflite"
    solo.write_bytes(b"x")
    with pytest.raises(AcceleratorError, match="no Edge TPU found"):
        resolve_model(solo, "edgetpu", tpus=[])
    only_tpu = tmp_path / "t_edgetpu.tflite"
    only_tpu.write_bytes(b"x")
    with pytest.raises(AcceleratorError, match="compiled for the Edge TPU"):
        resolve_model(only_tpu, None, tpus=[])


def test_cpu_request_keeps_threads_and_prefers_cpu_twin(pair: tuple[Path, Path]) -> None:
    path, acc = resolve_model(pair[1], "cpu:3", tpus=[USB_TPU])
    assert path == pair[0] and acc.kind is AcceleratorKind.CPU and acc.num_threads == 3
    with pytest.raises(AcceleratorError):
        resolve_model(pair[1], "cpu", strict=True, tpus=[USB_TPU])


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        resolve_model(tmp_path / "nope.tflite", None, tpus=[])


def test_where_tpus_cannot_be_enumerated(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import devices.pairing as pairing

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(pairing, "list_edgetpus", lambda: [])
    path, acc = resolve_model(pair[0], "edgetpu")  # the delegate decides
    assert path == pair[1] and acc.kind is AcceleratorKind.EDGETPU
    path, acc = resolve_model(pair[0], None)  # automatic mode stays on the CPU
    assert path == pair[0] and acc.kind is AcceleratorKind.CPU
