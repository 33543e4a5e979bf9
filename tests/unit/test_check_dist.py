"""ci/check_dist.py, the wheel and sdist content check, on tiny hand-made archives (no build)."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST_INFO = "edge_sdk-0.1.0.dist-info"
METADATA = (
    "Metadata-Version: 2.4\nName: edge-sdk\nVersion: 0.1.0\nLicense-Expression: Apache-2.0\n"
    "License-File: LICENSE\nRequires-Dist: numpy>=1.24\n"
    'Requires-Dist: scikit-learn>=1.3; extra == "dev"\n\nREADME\n'
)
GOOD_WHEEL = [
    "edge_sdk/__init__.py",
    "edge_sdk/py.typed",
    "edge_sdk/cli/demo.py",
    "devices/__init__.py",
    "devices/py.typed",
    "converters/__init__.py",
    "converters/py.typed",
    "converters/demo.py",
    f"{DIST_INFO}/licenses/LICENSE",
    f"{DIST_INFO}/METADATA",
    f"{DIST_INFO}/RECORD",
]
GOOD_SDIST = [
    "edge_sdk-0.1.0/LICENSE",
    "edge_sdk-0.1.0/PKG-INFO",
    "edge_sdk-0.1.0/pyproject.toml",
    "edge_sdk-0.1.0/edge_sdk.egg-info/SOURCES.txt",
    "edge_sdk-0.1.0/edge_sdk/py.typed",
    "edge_sdk-0.1.0/devices/py.typed",
    "edge_sdk-0.1.0/converters/py.typed",
]


@pytest.fixture(scope="module")
def check_dist() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / "ci" / "check_dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_dist"] = module
    spec.loader.exec_module(module)
    return module


def _wheel(path: Path, names: list[str], metadata: str = METADATA) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for n in names:
            z.writestr(n, metadata if n.endswith("/METADATA") else b"x")
    return path


def _sdist(path: Path, names: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for n in names:
            info = tarfile.TarInfo(n)
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
    return path


def test_a_complete_wheel_and_sdist_pass(check_dist: ModuleType, tmp_path: Path) -> None:
    _wheel(tmp_path / "edge_sdk-0.1.0-py3-none-any.whl", GOOD_WHEEL)
    _sdist(tmp_path / "edge_sdk-0.1.0.tar.gz", GOOD_SDIST)
    assert check_dist.check_dist_dir(tmp_path, {"edge_sdk/__init__.py", "converters/demo.py"}) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda n: [x for x in n if x != "devices/py.typed"], "wheel lacks devices/py.typed"),
        (lambda n: [x for x in n if "licenses" not in x], f"lacks {DIST_INFO}/licenses/LICENSE"),
        (lambda n: [x for x in n if x != "converters/demo.py"], "lacks the demo's converters/demo.py"),
        (lambda n: [*n, "tests/unit/test_x.py"], "wheel holds tests/unit/test_x.py"),
        (lambda n: [*n, "bench/run.py"], "wheel holds bench/run.py"),
        (lambda n: [*n, "ci/check_dist.py"], "wheel holds ci/check_dist.py"),
        (lambda n: [*n, "build/lib/edge_sdk/x.py"], "wheel holds build/lib"),
        (lambda n: [*n, "edge_sdk/__pycache__/x.cpython-311.pyc"], "leftover '__pycache__'"),
        (lambda n: [*n, "edge_sdk/stale.pyc"], "build leftover edge_sdk/stale.pyc"),
        (lambda n: [*n, "edge_sdk.egg-info/PKG-INFO"], "outside the packages"),
        (lambda n: [*n, "setup_helpers.py"], "outside the packages"),
    ],
)
def test_each_wheel_problem_is_reported(
    check_dist: ModuleType, tmp_path: Path, change: Callable[[list[str]], list[str]], problem: str
) -> None:
    wheel = _wheel(tmp_path / "w.whl", change(list(GOOD_WHEEL)))
    problems = check_dist.check_wheel(wheel)
    assert problems and any(problem in p for p in problems), problems


def test_a_module_missing_from_the_wheel_is_reported(check_dist: ModuleType, tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", GOOD_WHEEL)
    problems = check_dist.check_wheel(wheel, {"edge_sdk/__init__.py", "edge_sdk/tasks/base.py"})
    assert problems == ["w.whl: wheel lacks 1 module(s) of the source tree: ['edge_sdk/tasks/base.py']"]


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (METADATA.replace("License-Expression: Apache-2.0\n", ""), "License-Expression is None"),
        (METADATA.replace("License-File: LICENSE\n", ""), "no 'License-File: LICENSE'"),
        (METADATA.replace('; extra == "dev"', ""), "scikit-learn in the 'dev' extra"),
    ],
)
def test_metadata_problems_are_reported(check_dist: ModuleType, metadata: str, problem: str) -> None:
    problems = check_dist.wheel_problems(GOOD_WHEEL, metadata)
    assert len(problems) == 1 and problem in problems[0], problems


def test_sdist_problems_are_reported(check_dist: ModuleType, tmp_path: Path) -> None:
    assert check_dist.check_sdist(_sdist(tmp_path / "ok.tar.gz", GOOD_SDIST)) == []
    bad = [n for n in GOOD_SDIST if not n.endswith("LICENSE")] + ["edge_sdk-0.1.0/edge_sdk/x.pyc"]
    problems = check_dist.check_sdist(_sdist(tmp_path / "bad.tar.gz", bad))
    assert any("sdist lacks edge_sdk-0.1.0/LICENSE" in p for p in problems), problems
    assert any("edge_sdk/x.pyc" in p for p in problems), problems


def test_the_source_tree_modules_are_found(check_dist: ModuleType) -> None:
    modules = check_dist.source_modules()
    assert {"edge_sdk/__init__.py", "devices/__init__.py", "converters/demo.py"} <= modules
    assert not any("__pycache__" in m or m.startswith("tests/") for m in modules)
