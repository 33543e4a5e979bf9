"""The layering of docs/ARCHITECTURE.md, checked: the import-linter contracts cover every core
module, and no import hides inside a function unless it says why."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKERS = ("# lazy:", "# optional:")


def _contracts() -> list[dict[str, object]]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; collection still works on 3.10
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_the_core_contract_lists_every_flat_module() -> None:
    core = next(c for c in _contracts() if str(c["name"]).startswith("Core"))
    listed = set(core["source_modules"])  # type: ignore[call-overload]
    flat = {
        f"edge_sdk.{p.stem}"
        for p in (ROOT / "edge_sdk").glob("*.py")
        if p.stem not in {"__init__", "__main__"}
    }
    assert listed == flat, "add the new core module to [tool.importlinter] in pyproject.toml"


def _import_groups(fn: ast.AST) -> list[list[ast.stmt]]:
    """Runs of consecutive import statements in every statement list inside ``fn``."""
    groups: list[list[ast.stmt]] = []
    for node in ast.walk(fn):
        for attr in ("body", "orelse", "finalbody"):
            stmts = getattr(node, attr, None)
            if not isinstance(stmts, list):
                continue
            run: list[ast.stmt] = []
            for st in stmts:
                if isinstance(st, (ast.Import, ast.ImportFrom)):
                    run.append(st)
                    continue
                if run:
                    groups.append(run)
                run = []
            if run:
                groups.append(run)
    return groups


def unmarked_local_imports(path: Path) -> list[ast.stmt]:
    """Function-local imports without a ``# lazy: why`` / ``# optional: why`` comment on their
    own lines or on the comment line just above their run of imports."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    found: list[ast.stmt] = []
    seen: set[int] = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for group in _import_groups(fn):
            if id(group[0]) in seen:
                continue
            seen.add(id(group[0]))
            above = lines[group[0].lineno - 2] if group[0].lineno >= 2 else ""
            if above.strip().startswith("#") and any(m in above for m in MARKERS):
                continue
            for st in group:
                text = "\n".join(lines[st.lineno - 1 : (st.end_lineno or st.lineno)])
                if not any(m in text for m in MARKERS):
                    found.append(st)
    return found


@pytest.mark.parametrize("package", ["edge_sdk", "devices", "converters"])
def test_function_local_imports_say_why(package: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{st.lineno}"
        for p in sorted((ROOT / package).rglob("*.py"))
        for st in unmarked_local_imports(p)
    ]
    assert not bad, (
        "move these imports to the module top, or mark them '# lazy: why' / '# optional: why':\n"
        + "\n".join(bad)
    )


def test_the_scan_finds_an_unmarked_import(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "def f():\n    # lazy: heavy\n    import json\n    import os\n\n\n"
        "def g():\n    import csv\n    import re  # optional: why\n"
    )
    assert [st.lineno for st in unmarked_local_imports(src)] == [8]
