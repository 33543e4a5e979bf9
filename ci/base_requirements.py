"""Print the base-install requirements of one matrix cell, read from pyproject.toml.

The project's ``[project.dependencies]`` are the single source of truth: this script only
evaluates their environment markers for the *target* Python and machine (not the host's),
and swaps the interpreter backend for the cell:

* ``litert-newest``: the declared ``ai-edge-litert`` range as is (pip picks the newest wheel);
* ``litert-oldest``: ``ai-edge-litert==<lower bound of the declared range>``;
* ``tflite-runtime``: no ai-edge-litert; ``tflite-runtime==2.14.0`` (its last release) with
  ``numpy<2`` (it was built against numpy 1.x).

Usage: ``python ci/base_requirements.py --python 3.11 --machine aarch64 --cell litert-oldest``.
Prints one requirement per line. Exit status 4 (with the reason on stderr) when the cell has no
wheel for that Python, so the driver reports it as not applicable rather than failed.
Needs Python >= 3.11 (tomllib) and the ``packaging`` distribution.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

LITERT = "ai-edge-litert"
TFLITE_RUNTIME_LAST = "2.14.0"
TFLITE_RUNTIME_MAX_PYTHON = (3, 11)  # tflite-runtime 2.14.0 has cp38..cp311 wheels only
EXIT_NOT_APPLICABLE = 4
CELLS = ("litert-newest", "litert-oldest", "tflite-runtime")


def _target_env(python: str, machine: str) -> dict[str, str]:
    major, minor = (int(x) for x in python.split(".")[:2])
    return {
        "python_version": f"{major}.{minor}",
        "python_full_version": f"{major}.{minor}.0",
        "platform_machine": machine,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def _lower_bound(req: Requirement) -> str:
    for spec in req.specifier:
        if spec.operator in (">=", "==", "~="):
            return spec.version
    raise SystemExit(f"{req} declares no lower bound; the oldest supported release is undefined")


def requirements(pyproject: Path, python: str, machine: str, cell: str) -> list[str]:
    """The requirement lines for one cell (markers already evaluated and dropped).

    Raises:
        SystemExit: with code 4 when the cell has no wheel for ``python``.
    """
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    env = _target_env(python, machine)
    active = [r for r in map(Requirement, deps) if r.marker is None or r.marker.evaluate(env)]
    out: list[str] = []
    for req in active:
        req.marker = None
        if req.name != LITERT or cell == "litert-newest":
            out.append(str(req))
        elif cell == "litert-oldest":
            out.append(f"{LITERT}=={_lower_bound(req)}")
    if cell == "tflite-runtime":
        if tuple(int(x) for x in python.split(".")[:2]) > TFLITE_RUNTIME_MAX_PYTHON:
            print(
                f"tflite-runtime {TFLITE_RUNTIME_LAST} (its last release) has no wheel for Python {python}",
                file=sys.stderr,
            )
            raise SystemExit(EXIT_NOT_APPLICABLE)
        out += [f"tflite-runtime=={TFLITE_RUNTIME_LAST}", "numpy<2"]
    if cell.startswith("litert") and not any(Requirement(r).name == LITERT for r in out):
        raise SystemExit(f"pyproject.toml declares no {LITERT} requirement for Python {python} on {machine}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pyproject", type=Path, default=Path(__file__).resolve().parents[1] / "pyproject.toml"
    )
    parser.add_argument("--python", required=True, help="target Python, e.g. 3.11")
    parser.add_argument("--machine", required=True, help="target platform_machine, e.g. aarch64")
    parser.add_argument("--cell", required=True, choices=CELLS)
    args = parser.parse_args()
    print("\n".join(requirements(args.pyproject, args.python, args.machine, args.cell)))


if __name__ == "__main__":
    main()
