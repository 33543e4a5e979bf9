"""Compile an int8 .tflite for the Coral Edge TPU with ``edgetpu_compiler`` and parse what it says.

The compiler is run as a checked subprocess with an argument list
(``edgetpu_compiler -s -o OUT_DIR MODEL.tflite``). Its standard output (summary: memory,
subgraphs, ops on the TPU vs the CPU) and the operation log it writes beside the output
(``<stem>_edgetpu.log``: one row per op type and status) are parsed into
:class:`CompileResult`. A failure raises :class:`EdgeTpuCompilerError` with the compiler's
own message; the output file is verified, never replaced by a stub.

The compiler exists for x86-64 Linux only. It is found through ``$EDGETPU_COMPILER`` or on
``PATH``.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk.errors import EdgeSdkError
from edge_sdk.modelfile import read_model_file

from .errors import EdgeTpuCompilerError, EdgeTpuCompilerNotFoundError

ENV_VAR = "EDGETPU_COMPILER"
INSTALL_HINT = (
    "install it on x86-64 Linux from the Coral apt repository ('sudo apt-get install edgetpu-compiler', "
    "see coral.ai/docs/edgetpu/compiler), or set EDGETPU_COMPILER=/path/to/edgetpu_compiler"
)
_ROW = re.compile(r"^(?P<op>[A-Za-z0-9_\-]+)\s{2,}(?P<count>\d+)\s{2,}(?P<status>\S.*?)\s*$")
_SIZE = re.compile(r"([\d.]+)\s*([KMG]?i?B)", re.IGNORECASE)
_UNITS = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def find_compiler() -> str:
    """Path of ``edgetpu_compiler``: ``$EDGETPU_COMPILER``, else the one on ``PATH``.

    Raises:
        EdgeTpuCompilerNotFoundError: neither exists; the message has the install hint.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise EdgeTpuCompilerNotFoundError(
            f"{ENV_VAR}={env} is not an executable file; expected the path of edgetpu_compiler"
        )
    found = shutil.which("edgetpu_compiler")
    if found:
        return found
    machine = f"{platform.system()} {platform.machine()}"
    where = (
        "" if platform.machine() in ("x86_64", "AMD64") else f" (this machine is {machine}: compile on one)"
    )
    raise EdgeTpuCompilerNotFoundError(f"edgetpu_compiler was not found on PATH{where}; {INSTALL_HINT}")


def parse_size(text: str) -> int | None:
    """``"4.33MiB"`` -> bytes; None when ``text`` holds no size."""
    m = _SIZE.search(text)
    if not m:
        return None
    return round(float(m.group(1)) * _UNITS.get(m.group(2).lower(), 1))


@dataclass(frozen=True)
class OpLogRow:
    """One row of the operation log: op type, count, status (the compiler's words)."""

    op: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        return self.status == "Mapped to Edge TPU"

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "count": self.count, "status": self.status, "mapped": self.mapped}


@dataclass(frozen=True)
class CompilerReport:
    """What the compiler said (stdout and/or its .log)."""

    version: str | None = None
    rows: tuple[OpLogRow, ...] = ()
    subgraphs: int | None = None
    ops_total: int | None = None
    ops_on_tpu: int | None = None
    ops_on_cpu: int | None = None
    on_chip_memory_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_memory_bytes: int | None = None
    input_path: str | None = None
    output_path: str | None = None
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def mapped_ops(self) -> int:
        return sum(r.count for r in self.rows if r.mapped)

    @property
    def unmapped(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows if not r.mapped]

    @property
    def cpu_ops(self) -> dict[str, int]:
        """Op type -> how many the compiler left on the CPU; compare with the pre-check's
        ``cpu_ops`` (:mod:`edge_sdk.edgetpu_precheck`)."""
        out: dict[str, int] = {}
        for r in self.rows:
            if not r.mapped:
                out[r.op] = out.get(r.op, 0) + r.count
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "compiler_version": self.version,
            "subgraphs": self.subgraphs,
            "ops_total": self.ops_total,
            "ops_on_tpu": self.ops_on_tpu if self.ops_on_tpu is not None else self.mapped_ops,
            "ops_on_cpu": self.ops_on_cpu,
            "on_chip_memory_bytes": self.on_chip_memory_bytes,
            "on_chip_remaining_bytes": self.on_chip_remaining_bytes,
            "off_chip_memory_bytes": self.off_chip_memory_bytes,
            "operations": [r.as_dict() for r in self.rows],
            "not_mapped": self.unmapped,
            "cpu_ops": self.cpu_ops,
            "messages": list(self.messages),
        }


def parse_compiler_output(text: str) -> CompilerReport:
    """Parse the compiler's stdout or its operation log (both share the operator table)."""
    fields: dict[str, Any] = {}
    rows: list[OpLogRow] = []
    messages: list[str] = []
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        low = line.lower()
        if low.startswith("edge tpu compiler version"):
            fields["version"] = line.split("version", 1)[1].strip()
        elif low.startswith("operator") and "status" in low:
            in_table = True
        elif low.startswith(("input:", "input model:")):
            fields["input_path"] = line.split(":", 1)[1].strip()
        elif low.startswith(("output:", "output model:")):
            fields["output_path"] = line.split(":", 1)[1].strip()
        elif low.startswith("on-chip memory used"):
            fields["on_chip_memory_bytes"] = parse_size(line.split(":", 1)[1])
        elif low.startswith("on-chip memory remaining"):
            fields["on_chip_remaining_bytes"] = parse_size(line.split(":", 1)[1])
        elif low.startswith("off-chip memory used"):
            fields["off_chip_memory_bytes"] = parse_size(line.split(":", 1)[1])
        elif low.startswith("number of edge tpu subgraphs"):
            fields["subgraphs"] = int(line.rsplit(":", 1)[1])
        elif low.startswith("total number of operations"):
            fields["ops_total"] = int(line.rsplit(":", 1)[1])
        elif low.startswith("number of operations that will run on edge tpu"):
            fields["ops_on_tpu"] = int(line.rsplit(":", 1)[1])
        elif low.startswith("number of operations that will run on cpu"):
            fields["ops_on_cpu"] = int(line.rsplit(":", 1)[1])
        elif in_table and (m := _ROW.match(line)):
            rows.append(OpLogRow(m.group("op"), int(m.group("count")), m.group("status")))
        elif "error" in low or "fail" in low or "not all operations" in low:
            messages.append(line)
    return CompilerReport(rows=tuple(rows), messages=tuple(messages), **fields)


@dataclass(frozen=True)
class CompileResult:
    """A successful compilation: the ``*_edgetpu.tflite`` and what the compiler reported."""

    output: Path
    log: Path | None
    report: CompilerReport
    stdout: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "log": str(self.log) if self.log else None,
            **self.report.as_dict(),
        }


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    bad = [ln for ln in lines if re.search(r"error|fail|abort|invalid|unsupported|not ", ln, re.IGNORECASE)]
    return " | ".join((bad or lines)[-n:]) or "no output"


def compile_model(model: str | Path, out_dir: str | Path, *, timeout_s: float = 600.0) -> CompileResult:
    """Run ``edgetpu_compiler -s -o OUT_DIR MODEL`` and verify its output.

    Returns:
        the compiled model ``OUT_DIR/<stem>_edgetpu.tflite`` and the parsed report.

    Raises:
        EdgeTpuCompilerNotFoundError: no compiler (install hint in the message).
        EdgeTpuCompilerError: it exited non-zero, timed out, or wrote no valid Edge TPU
            model; the message quotes the compiler.
    """
    exe = find_compiler()
    src = Path(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "-s", "-o", str(out), str(src)]
    compiled = out / f"{src.stem}_edgetpu.tflite"
    log_path = out / f"{src.stem}_edgetpu.log"
    # A file left by an earlier run must never pass for this run's output.
    compiled.unlink(missing_ok=True)
    log_path.unlink(missing_ok=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EdgeTpuCompilerError(
            f"edgetpu_compiler did not finish within {timeout_s:.0f} s on {src}"
        ) from exc
    except OSError as exc:
        raise EdgeTpuCompilerError(f"cannot run {exe}: {exc.strerror or exc}") from exc
    text = (proc.stdout or "") + ("\n" + proc.stderr if proc.stderr else "")
    if proc.returncode != 0:
        raise EdgeTpuCompilerError(
            f"edgetpu_compiler failed (exit {proc.returncode}) on {src.name}: {_tail(text)}"
        )
    report = parse_compiler_output(proc.stdout or "")
    if log_path.is_file():
        logged = parse_compiler_output(log_path.read_text(errors="replace"))
        report = CompilerReport(
            **{
                **report.__dict__,
                "rows": logged.rows or report.rows,
                "version": report.version or logged.version,
                "input_path": report.input_path or logged.input_path,
                "output_path": report.output_path or logged.output_path,
            }
        )
    if not compiled.is_file() or compiled.stat().st_size == 0:
        raise EdgeTpuCompilerError(f"edgetpu_compiler exited 0 but wrote no {compiled.name}: {_tail(text)}")
    try:
        mf = read_model_file(compiled.read_bytes(), str(compiled))
    except EdgeSdkError as exc:
        raise EdgeTpuCompilerError(f"edgetpu_compiler wrote an invalid model {compiled.name}: {exc}") from exc
    tpu_ops = report.ops_on_tpu if report.ops_on_tpu is not None else report.mapped_ops
    if tpu_ops and not mf.needs_edgetpu:
        raise EdgeTpuCompilerError(
            f"{compiled.name} has no edgetpu-custom-op although the compiler reported {tpu_ops} ops on the "
            f"Edge TPU: {_tail(text)}"
        )
    return CompileResult(compiled, log_path if log_path.is_file() else None, report, proc.stdout or "")
