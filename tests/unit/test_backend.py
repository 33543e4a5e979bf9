"""Runtime backend selection and the QEMU-7 cpuinfo guard."""

from __future__ import annotations

import pytest

from edge_sdk import backend

X86_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2\n"
PI4_CPUINFO = (
    "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n"
)


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "version", "problem"),
    [
        ("aarch64", X86_CPUINFO, "2.3.0", True),  # QEMU 7.2 user mode on an x86 host
        ("aarch64", PI4_CPUINFO, "2.3.0", False),  # a real Raspberry Pi 4
        ("aarch64", X86_CPUINFO, "2.1.6", False),  # before the cpuinfo library that crashes
        ("x86_64", X86_CPUINFO, "2.3.0", False),
    ],
)
def test_arm_cpuinfo_guard(monkeypatch, tmp_path, machine, cpuinfo, version, problem):
    fake = tmp_path / "cpuinfo"
    fake.write_text(cpuinfo)
    monkeypatch.setattr(backend.platform, "system", lambda: "Linux")
    monkeypatch.setattr(backend.platform, "machine", lambda: machine)
    monkeypatch.setattr(backend, "Path", lambda _p: fake)
    monkeypatch.setattr(backend, "_installed_version", lambda _d: version)
    result = backend.arm_cpuinfo_problem()
    assert (result is not None) == problem
    if problem:
        assert "QEMU" in result and "ai-edge-litert<2.2" in result
