"""The long fuzz run (issue 17, "Proof" 1): the CI families with many more inputs.

    PYTHONPATH=. python ci/fuzz_long.py [--scale 20] [--seed 1] [--work DIR] [--only FAMILY ...]

Draws the same families as ``tests/integration/test_fuzz.py`` (models and metadata zips,
images, labels and configs, source and sink URIs), ``--scale`` times the CI counts, runs them in
capped child processes (1 GiB address space, 10 s a case) and prints the outcomes per target.
Reproducers of any finding are kept under ``WORK/*/crashes``. Exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("EDGE_SDK_FUZZ_RANDOM", "1")  # explore: a new draw for every seed
from tests import fuzz_cases  # noqa: E402
from tests.conftest import assets_dir  # noqa: E402
from tests.fuzz_harness import run_cases  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20, help="times the CI counts (default 20)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="keep inputs and reproducers here")
    ap.add_argument(
        "--only",
        choices=["models", "images", "text", "uris"],
        action="append",
        help="run only these families",
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)
    assets = assets_dir()
    if assets is None:
        print("conformance assets not found: set EDGE_SDK_ASSETS", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="edge-sdk-fuzz-"))
    k, seed = args.scale, args.seed
    families = {
        "models": lambda w: (
            fuzz_cases.model_cases(assets, w, 500 * k, seed) + fuzz_cases.zip_cases(assets, w, 200 * k, seed)
        ),
        "images": lambda w: fuzz_cases.image_cases(assets, w, 400 * k, seed),
        "text": lambda w: fuzz_cases.text_cases(w, 400 * k, seed),
        "uris": lambda w: fuzz_cases.uri_cases(w, 300 * k, seed),
    }
    total, findings, t0 = 0, 0, time.monotonic()
    for name, make in families.items():
        if args.only and name not in args.only:
            continue
        folder = work / name
        t = time.monotonic()
        cases = make(folder)
        drawn = time.monotonic() - t
        report = run_cases(cases, folder / "run", mem_mb=1024, timeout_s=10, batch_timeout_s=3600)
        print(f"{name}: drew {len(cases)} inputs in {drawn:.0f} s; {report.summary()}", flush=True)
        for f in report.findings:
            print(
                f"  FINDING case {f.index} ({f.target}): {f.outcome}; reproducer {f.reproducer}", flush=True
            )
        total += report.total
        findings += len(report.findings)
    print(f"total: {total} inputs, {findings} findings, {time.monotonic() - t0:.0f} s; work folder {work}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
