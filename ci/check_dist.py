"""Build the sdist and wheel in a temporary folder and check what users would install.

    python ci/check_dist.py              # build (python -m build), twine check --strict, content check
    python ci/check_dist.py --dist DIR   # only the content check, on DIR/*.whl and DIR/*.tar.gz

The wheel must hold the three packages (every module of the source tree), a ``py.typed`` in each
(PEP 561), the licence text in ``*.dist-info/licenses/`` and the demo's code, and must declare
scikit-learn (whose bundled digits are the demo's data) in the ``dev`` extra. It must not hold
tests, benchmarks, CI scripts or build leftovers (``build/``, ``*.egg-info``, ``__pycache__``,
``.pyc``). The sdist must hold LICENSE, pyproject.toml and the ``py.typed`` files.

Exit status 0 when everything holds, 1 with one line per problem otherwise. Needs the ``build``
and ``twine`` distributions (the ``dev`` extra) unless ``--dist`` is given.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_sdk", "devices", "converters")
# edge-sdk demo: the CLI command and the job it runs. Its data set is scikit-learn's digits,
# shipped inside scikit-learn, so the wheel carries no data file of its own but must declare it.
DEMO_FILES = ("edge_sdk/cli/demo.py", "converters/demo.py")
DEMO_REQUIREMENT = ("scikit-learn", "dev")
LICENSE = "LICENSE"
# top-level folders of the repository that never belong in a distribution
FORBIDDEN_TOP = ("tests", "bench", "ci", ".ci", "docs", "build", "dist", ".venv")
# path parts and suffixes that are build or tool leftovers wherever they appear
LEFTOVER_PARTS = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git")
LEFTOVER_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", "~")


def source_modules(root: Path = ROOT) -> set[str]:
    """Every ``.py`` file of the packages in the source tree, as ``pkg/sub/mod.py`` paths."""
    out: set[str] = set()
    for pkg in PACKAGES:
        for p in (root / pkg).rglob("*.py"):
            rel = p.relative_to(root)
            if not any(part in LEFTOVER_PARTS for part in rel.parts):
                out.add(rel.as_posix())
    return out


def _leftover(name: str) -> str | None:
    path = PurePosixPath(name)
    for part in path.parts:
        if part in LEFTOVER_PARTS or part.endswith(".egg-info"):
            return f"build/tool leftover {part!r} in {name}"
    if name.endswith(LEFTOVER_SUFFIXES):
        return f"build leftover {name}"
    return None


def _requires(metadata: str) -> list[tuple[str, str]]:
    """``(distribution name, marker)`` of each Requires-Dist line of a METADATA file."""
    msg = Parser().parsestr(metadata)
    out = []
    for line in msg.get_all("Requires-Dist") or []:
        req, _, marker = line.partition(";")
        name = re.split(r"[\s<>=!~\[(]", req.strip(), maxsplit=1)[0]
        out.append((name.lower().replace("_", "-"), marker.strip()))
    return out


def wheel_problems(names: list[str], metadata: str, modules: set[str] | None = None) -> list[str]:
    """What is wrong with a wheel whose archive holds ``names`` and whose METADATA reads
    ``metadata``; ``modules`` (``pkg/mod.py`` paths) must all be present when given."""
    problems: list[str] = []
    files = set(names)
    dist_infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    if len(dist_infos) != 1:
        problems.append(f"expected one *.dist-info folder, found {sorted(dist_infos)}")
    for pkg in PACKAGES:
        for required in (f"{pkg}/__init__.py", f"{pkg}/py.typed"):
            if required not in files:
                problems.append(f"wheel lacks {required}")
    for demo in DEMO_FILES:
        if demo not in files:
            problems.append(f"wheel lacks the demo's {demo}")
    for d in dist_infos:
        if f"{d}/licenses/{LICENSE}" not in files:
            problems.append(f"wheel lacks {d}/licenses/{LICENSE} (pyproject license-files)")
    if modules is not None:
        missing = sorted(modules - files)
        if missing:
            problems.append(f"wheel lacks {len(missing)} module(s) of the source tree: {missing[:5]}")
    for name in names:
        top = name.split("/", 1)[0]
        if top in FORBIDDEN_TOP:
            problems.append(f"wheel holds {name} ({top}/ is not part of the library)")
        elif top not in PACKAGES and top not in dist_infos:
            problems.append(f"wheel holds {name}, outside the packages {PACKAGES}")
        leftover = _leftover(name)
        if leftover:
            problems.append(f"wheel holds a {leftover}")
    msg = Parser().parsestr(metadata)
    if msg.get("License-Expression") != "Apache-2.0":
        problems.append(
            f"METADATA License-Expression is {msg.get('License-Expression')!r}, expected 'Apache-2.0'"
        )
    if LICENSE not in (msg.get_all("License-File") or []):
        problems.append(f"METADATA has no 'License-File: {LICENSE}'")
    dist, extra = DEMO_REQUIREMENT
    if not any(
        n == dist and re.search(rf"extra\s*==\s*['\"]{extra}['\"]", m) for n, m in _requires(metadata)
    ):
        problems.append(f"METADATA does not require {dist} in the {extra!r} extra (the demo's data set)")
    return problems


def sdist_problems(names: list[str]) -> list[str]:
    """What is wrong with an sdist whose archive holds ``names`` (``edge_sdk-X.Y.Z/...``)."""
    problems: list[str] = []
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1:
        return [f"sdist must unpack into one folder, found {sorted(tops)}"]
    (top,) = tops
    rel = {n.split("/", 1)[1] for n in names if "/" in n}
    for required in (LICENSE, "pyproject.toml", "PKG-INFO", *(f"{p}/py.typed" for p in PACKAGES)):
        if required not in rel:
            problems.append(f"sdist lacks {top}/{required}")
    for name in rel:
        if name.split("/", 1)[0] in ("build", "dist", ".venv"):
            problems.append(f"sdist holds a build leftover {top}/{name}")
        leftover = _leftover(name) if not name.startswith(f"{_egg_info(rel)}/") else None
        if leftover:
            problems.append(f"sdist holds a {leftover}")
    return problems


def _egg_info(rel: set[str]) -> str:
    """The sdist's own egg-info folder, which setuptools writes on purpose."""
    return next((n.split("/", 1)[0] for n in rel if n.split("/", 1)[0].endswith(".egg-info")), "")


def check_wheel(path: Path, modules: set[str] | None = None) -> list[str]:
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        meta = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        metadata = z.read(meta[0]).decode("utf-8") if meta else ""
    return [f"{path.name}: {p}" for p in wheel_problems(names, metadata, modules)]


def check_sdist(path: Path) -> list[str]:
    with tarfile.open(path) as t:
        names = [m.name for m in t.getmembers() if not m.isdir()]
    return [f"{path.name}: {p}" for p in sdist_problems(names)]


def check_dist_dir(dist: Path, modules: set[str] | None = None) -> list[str]:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{dist}: expected one wheel and one sdist, found {[p.name for p in wheels + sdists]}"]
    return check_wheel(wheels[0], modules) + check_sdist(sdists[0])


def build(outdir: Path) -> None:
    """``python -m build`` (sdist, then the wheel from that sdist) and ``twine check --strict``."""
    egg_info = ROOT / "edge_sdk.egg-info"
    had_egg_info = egg_info.exists()
    try:
        subprocess.run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)], check=True)
    finally:
        if not had_egg_info:  # the sdist step writes it into the source tree
            shutil.rmtree(egg_info, ignore_errors=True)
    files = sorted(str(p) for p in outdir.iterdir())
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", type=Path, help="check the wheel and sdist already in this folder")
    args = ap.parse_args(argv)
    modules = source_modules()
    if args.dist is not None:
        problems = check_dist_dir(args.dist, modules)
    else:
        with tempfile.TemporaryDirectory(prefix="edge-sdk-dist-") as tmp:
            try:
                build(Path(tmp))
            except subprocess.CalledProcessError as exc:
                print(f"dist-check: {exc.cmd[2]} failed with exit status {exc.returncode}", file=sys.stderr)
                return 1
            problems = check_dist_dir(Path(tmp), modules)
    for p in problems:
        print(f"dist-check: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"dist-check: wheel and sdist hold {PACKAGES}, py.typed, {LICENSE} and the demo; nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
