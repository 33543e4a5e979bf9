"""ci/base_requirements.py: the matrix cells' requirements come from pyproject.toml, evaluated
for the target Python, with only the interpreter backend swapped."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli
    tomllib = pytest.importorskip("tomli")
pytest.importorskip("packaging")
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


@pytest.fixture(scope="module")
def base_requirements() -> ModuleType:
    spec = importlib.util.spec_from_file_location("base_requirements", ROOT / "ci" / "base_requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["base_requirements"] = module
    spec.loader.exec_module(module)
    return module


def _by_name(lines: list[str]) -> dict[str, list[Requirement]]:
    out: dict[str, list[Requirement]] = {}
    for line in lines:
        req = Requirement(line)
        assert req.marker is None, f"{line}: markers must be evaluated for the target, not passed on"
        out.setdefault(req.name, []).append(req)
    return out


def test_base_install_never_pulls_tensorflow() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    names = {Requirement(d).name for d in deps}
    assert not {n for n in names if n.startswith("tensorflow")}, names
    assert "ai-edge-litert" in names


@pytest.mark.parametrize(
    ("python", "oldest"), [("3.10", "1.4.0"), ("3.11", "1.4.0"), ("3.12", "1.4.0"), ("3.13", "2.1.0")]
)
def test_oldest_cell_pins_the_lower_bound_for_that_python(
    base_requirements: ModuleType, python: str, oldest: str
) -> None:
    reqs = _by_name(base_requirements.requirements(PYPROJECT, python, "aarch64", "litert-oldest"))
    assert [str(r) for r in reqs["ai-edge-litert"]] == [f"ai-edge-litert=={oldest}"]


def test_newest_cell_keeps_the_declared_range_and_every_other_dependency(
    base_requirements: ModuleType,
) -> None:
    declared = [Requirement(d) for d in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    reqs = _by_name(base_requirements.requirements(PYPROJECT, "3.11", "aarch64", "litert-newest"))
    assert {r.name for r in declared} == set(reqs)
    (litert,) = reqs["ai-edge-litert"]
    assert litert.specifier.contains("1.4.0") and litert.specifier.contains("2.3.0")
    reqs313 = _by_name(base_requirements.requirements(PYPROJECT, "3.13", "aarch64", "litert-newest"))
    (litert313,) = reqs313["ai-edge-litert"]
    assert not litert313.specifier.contains("1.4.0"), "1.x has no cp313 wheels"


def test_tflite_runtime_cell_swaps_the_backend_and_caps_numpy(base_requirements: ModuleType) -> None:
    reqs = _by_name(base_requirements.requirements(PYPROJECT, "3.11", "aarch64", "tflite-runtime"))
    assert "ai-edge-litert" not in reqs
    assert [str(r) for r in reqs["tflite-runtime"]] == ["tflite-runtime==2.14.0"]
    numpy_specs = [r.specifier for r in reqs["numpy"]]
    assert not all(s.contains("2.0.0") for s in numpy_specs), "tflite-runtime needs numpy<2"


def test_tflite_runtime_has_no_wheel_for_python_313(
    base_requirements: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        base_requirements.requirements(PYPROJECT, "3.13", "aarch64", "tflite-runtime")
    assert exc.value.code == base_requirements.EXIT_NOT_APPLICABLE
    assert "no wheel for Python 3.13" in capsys.readouterr().err
