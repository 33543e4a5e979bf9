"""Cold start and peak RSS: ``Classifier`` against a bare cv2 + ai_edge_litert script.

Both scripts run in fresh Python processes, alternately, ``--runs`` times each:

- **bare**: ``import cv2, numpy, ai_edge_litert``; read the image, BGR->RGB, resize to the input
  size, ``set_tensor``, ``invoke``, ``argmax``; print the class id.
- **sdk**: ``from edge_sdk import Classifier, load_image``; ``Classifier(model).classify(image)``;
  print the top class id.

"Cold start" is the wall time from spawning the process to its exit (interpreter start-up, imports,
model load, first result), "peak RSS" the child's ``ru_maxrss`` from ``os.wait4``. Medians are
reported, with the differences sdk - bare. Goals: cold start <= bare + 0.05 s, peak RSS <= bare +
5 MB. Both processes import the same modules from the same disk cache (one warm-up run each is
discarded), so the difference is what edge_sdk adds.

``--importtime`` also prints the slowest self-times of ``python -X importtime`` for the sdk
script, and ``--tracemalloc`` the Python allocations still held after the first result.

    python bench/footprint.py [--runs N] [--model M] [--image I] [--json]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EDGE_SDK_ASSETS", ROOT.parent / "shared" / "assets"))

BARE = """
import sys
import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
model, image = sys.argv[1], sys.argv[2]
interp = Interpreter(model_path=model, num_threads=1)
interp.allocate_tensors()
inp = interp.get_input_details()[0]
out = interp.get_output_details()[0]
h, w = int(inp["shape"][1]), int(inp["shape"][2])
rgb = cv2.cvtColor(cv2.imread(image), cv2.COLOR_BGR2RGB)
interp.set_tensor(inp["index"], cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)[None])
interp.invoke()
print(int(np.argmax(interp.get_tensor(out["index"])[0])))
"""

SDK = """
import sys
from edge_sdk import Classifier, load_image
clf = Classifier(sys.argv[1], num_threads=1, top_k=1)
print(clf.classify(load_image(sys.argv[2])).top.id)
"""

TRACE = """
import sys, tracemalloc
tracemalloc.start()
from edge_sdk import Classifier, load_image
clf = Classifier(sys.argv[1], num_threads=1, top_k=1)
clf.classify(load_image(sys.argv[2]))
cur, peak = tracemalloc.get_traced_memory()
print(f"python allocations: held after the first result {cur / 1e6:.2f} MB, peak {peak / 1e6:.2f} MB")
snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")])
for stat in snap.statistics("lineno")[:8]:
    print(f"  {stat.size / 1e3:8.1f} kB  {stat.traceback[0].filename.split('site-packages/')[-1]}:{stat.traceback[0].lineno}")
"""


_PYCACHE = tempfile.mkdtemp(prefix="edge_sdk_footprint_pycache_")


def child_env() -> dict[str, str]:
    """The children's environment: this checkout first on the path, and byte-code cached (in a
    temporary prefix) as for an installed package, even where PYTHONDONTWRITEBYTECODE is set;
    the warm-up runs compile it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    return env


def run_once(code: str, model: Path, image: Path) -> tuple[float, float, float, str]:
    """Spawn ``python -c code model image``; return (wall s, CPU s, peak RSS MB, stdout)."""
    env = child_env()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(model), str(image)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed with exit code {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, out.strip()


def importtime(model: Path, image: Path, top: int = 12) -> list[tuple[int, int, str]]:
    """The ``top`` largest self-times (us) of ``-X importtime`` for the sdk script."""
    env = child_env()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", SDK, str(model), str(image)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|")
        rows.append((int(self_us), int(cum_us), name.rstrip()))
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ASSETS / "classification/mobilenet_v1_0.5_160_quant.tflite")
    ap.add_argument("--image", type=Path, default=ASSETS / "classification/images/parrot.jpg")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=2, help="discarded runs of each script first")
    ap.add_argument("--importtime", action="store_true", help="print -X importtime's slowest modules")
    ap.add_argument("--tracemalloc", action="store_true", help="print what Python still holds after load")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    # pip compiles an installed package's byte-code at install time; a source checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (as on CI machines) would otherwise recompile edge_sdk in every
    # fresh process (~50 ms) and measure the checkout, not an install.
    for pkg in ("edge_sdk", "devices"):
        compileall.compile_dir(str(Path(__file__).resolve().parent.parent / pkg), quiet=1)
    for _ in range(args.warmup):  # warm the page cache and compile the byte-code of both
        run_once(BARE, args.model, args.image)
        run_once(SDK, args.model, args.image)
    bare_t, bare_c, bare_m, sdk_t, sdk_c, sdk_m = [], [], [], [], [], []
    answers = set()
    for _ in range(args.runs):
        t, c, m, a = run_once(BARE, args.model, args.image)
        bare_t.append(t)
        bare_c.append(c)
        bare_m.append(m)
        answers.add(("bare", a))
        t, c, m, a = run_once(SDK, args.model, args.image)
        sdk_t.append(t)
        sdk_c.append(c)
        sdk_m.append(m)
        answers.add(("sdk", a))
    same = len({a for _, a in answers}) == 1
    med = statistics.median
    res = {
        "model": args.model.name,
        "runs": args.runs,
        "same_answer": same,
        "answers": sorted(answers),
        "bare_cold_start_s": round(statistics.median(bare_t), 3),
        "sdk_cold_start_s": round(statistics.median(sdk_t), 3),
        "cold_start_delta_s": round(med(sdk_t) - med(bare_t), 3),
        "bare_cpu_s": round(med(bare_c), 3),
        "sdk_cpu_s": round(med(sdk_c), 3),
        "cpu_delta_s": round(med(sdk_c) - med(bare_c), 3),
        "cold_start_ratio": round(med(sdk_t) / med(bare_t), 3),
        "bare_peak_rss_mb": round(statistics.median(bare_m), 1),
        "sdk_peak_rss_mb": round(statistics.median(sdk_m), 1),
        "peak_rss_delta_mb": round(statistics.median(sdk_m) - statistics.median(bare_m), 1),
        "goal": "cold start <= bare + 0.05 s; peak RSS <= bare + 5 MB",
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(
            f"{args.model.name}, {args.runs} alternating fresh processes each, medians "
            f"(answers {'agree' if same else 'DIFFER'}: {sorted(answers)})"
        )
        print(
            f"cold start to first result: bare {res['bare_cold_start_s']:.3f} s, Classifier "
            f"{res['sdk_cold_start_s']:.3f} s, delta {res['cold_start_delta_s']:+.3f} s (goal <= +0.05 s)"
        )
        print(
            f"CPU time (user+sys) of the process: bare {res['bare_cpu_s']:.3f} s, Classifier "
            f"{res['sdk_cpu_s']:.3f} s, delta {res['cpu_delta_s']:+.3f} s"
        )
        print(
            f"peak RSS: bare {res['bare_peak_rss_mb']:.1f} MB, Classifier {res['sdk_peak_rss_mb']:.1f} MB, "
            f"delta {res['peak_rss_delta_mb']:+.1f} MB (goal <= +5 MB)"
        )
    if args.importtime:
        rows = importtime(args.model, args.image)
        edge = [r for r in rows if r[2].strip().split(".")[0] in ("edge_sdk", "devices")]
        print(
            f"-X importtime, sdk script: {len(rows)} modules; edge_sdk/devices modules: {len(edge)}, "
            f"self total {sum(r[0] for r in edge) / 1e3:.1f} ms"
        )
        for self_us, cum_us, name in sorted(rows, reverse=True)[:12]:
            print(f"  self {self_us / 1e3:7.1f} ms  cumulative {cum_us / 1e3:7.1f} ms  {name.strip()}")
    if args.tracemalloc:
        env = child_env()
        out = subprocess.run(
            [sys.executable, "-c", TRACE, str(args.model), str(args.image)],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(ROOT),
            check=True,
        ).stdout
        print(out.rstrip())
    return res


if __name__ == "__main__":
    main()
