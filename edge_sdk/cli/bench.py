"""``edge-sdk bench``: load time, first-invoke time, latency percentiles and memory of a model."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import TYPE_CHECKING, Any

from .common import add_model_args, positive_int, resolve_model_args

if TYPE_CHECKING:
    import numpy as np


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "bench",
        help="time a model on this device",
        description='Prints one JSON object: {"latency_ms": {"p50", "p90", "p99", "mean"}, "first_invoke_ms", '
        '"load_ms", "rss_mb"}. Inputs are random data of the model\'s input type; only invoke is timed.',
    )
    add_model_args(p, labels=False, normalization=False)  # bench feeds random tensors
    p.add_argument("--runs", type=positive_int, default=100, help="timed invokes (default 100)")
    p.add_argument("--warmup", type=int, default=5, help="untimed invokes after the first (default 5)")
    p.set_defaults(func=run)


def rss_mb() -> float:
    """Resident set size of this process in MiB (current on Linux, peak elsewhere)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _random_input(shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    # lazy: CLI start-up imports only the subcommand that runs
    import numpy as np

    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def measure(
    model_path: str, runs: int, warmup: int, accelerator: str | None, threads: int | None
) -> dict[str, Any]:
    # lazy: CLI start-up imports only the subcommand that runs
    import numpy as np

    # lazy: CLI start-up imports only the subcommand that runs
    from ..model import Model

    t0 = time.perf_counter()
    model = Model(model_path, accelerator=accelerator, num_threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    for i, spec in enumerate(model.inputs):
        model.set_input(_random_input(spec.shape, spec.dtype, rng), i)
    t0 = time.perf_counter()
    model.invoke()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        model.invoke()
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        model.invoke()
        times[i] = (time.perf_counter() - t) * 1e3
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {
        "model": model_path,
        "accelerator": str(model.accelerator),
        "runs": runs,
        "latency_ms": {
            "p50": round(float(p50), 4),
            "p90": round(float(p90), 4),
            "p99": round(float(p99), 4),
            "mean": round(float(times.mean()), 4),
        },
        "first_invoke_ms": round(first_ms, 3),
        "load_ms": round(load_ms, 3),
        "rss_mb": round(rss_mb(), 1),
    }


def run(args: argparse.Namespace) -> int:
    model_path, accelerator = resolve_model_args(args)
    print(json.dumps(measure(str(model_path), args.runs, args.warmup, accelerator, args.threads)))
    return 0
