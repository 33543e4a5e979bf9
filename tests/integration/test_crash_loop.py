"""Crash-loop rollback: N unclean runs within the window roll back to the previous release at
the next start. Once with a real pipeline whose task crashes on its third frame, once through
``edge-sdk run --bundle`` processes whose release cannot load its model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.errors import PipelineError
from edge_sdk.fleet.install import CrashLoopPolicy, Prefix, install, record_clean_exit, record_start
from edge_sdk.fleet.update import tagged_release_task
from edge_sdk.frame import Frame
from edge_sdk.pipeline import Pipeline
from edge_sdk.pipeline.tasks import TaskResult
from tests.fleet_helpers import MODEL_A, MODEL_B, make_bundle, rewrite
from tests.pipeline_helpers import CollectSink, write_video

pytest.importorskip("cryptography", reason="pip install 'edge-sdk[fleet]'")
ROOT = Path(__file__).resolve().parents[2]


class CrashOnThirdFrame:
    """The release's real task, failing on its third frame (a model bug met in the field)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.kind = inner.kind  # type: ignore[attr-defined]
        self.calls = 0

    def __call__(self, frame: Frame) -> TaskResult:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("segfault-like failure in the new model on frame 3")
        return self.inner(frame)  # type: ignore[operator,no-any-return]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("crash")
    return {"a": make_bundle(d, assets, MODEL_A, "a"), "b": make_bundle(d, assets, MODEL_B, "b"),
            "video": write_video(d / "clip.mp4", 12), "dir": d}  # fmt: skip


def test_task_crashing_on_third_frame_rolls_back_after_three_restarts(
    two: dict[str, Path], tmp_path: Path
) -> None:
    prefix = Prefix(tmp_path / "p")
    a, _ = install(two["a"], prefix, run_self_test=False)
    b, _ = install(two["b"], prefix, run_self_test=False)
    policy = CrashLoopPolicy(restarts=3, window_s=600)
    t = 1000.0
    for attempt in range(3):  # what systemd's Restart=on-failure does
        assert record_start(prefix, policy, now=t + attempt) is None
        assert prefix.current_id() == b.id
        sink = CollectSink()
        task = CrashOnThirdFrame(tagged_release_task(prefix.current_path()))
        with pytest.raises(PipelineError, match="frame 3"):
            Pipeline(str(two["video"]), task, [sink]).run()
        # frames 0 and 1 ran; results still queued when the task fails may be dropped (the
        # run aborts), but none comes from frame 2 on, and none is skipped
        written = [r.frame.index for r in sink.results]
        assert written == list(range(len(written))) and len(written) <= 2
    assert record_start(prefix, policy, now=t + 3) == a.id  # the next start rolls back
    assert prefix.current_id() == a.id
    sink = CollectSink()
    Pipeline(str(two["video"]), tagged_release_task(prefix.current_path()), [sink]).run()
    record_clean_exit(prefix)
    assert len(sink.results) == 12 and prefix.read_state()["starts"] == []
    assert prefix.read_state()["rolled_back"]["to"] == a.id


def test_crashes_outside_the_window_do_not_roll_back(two: dict[str, Path], tmp_path: Path) -> None:
    prefix = Prefix(tmp_path / "p")
    install(two["a"], prefix, run_self_test=False)
    b, _ = install(two["b"], prefix, run_self_test=False)
    policy = CrashLoopPolicy(restarts=3, window_s=60)
    for t in (0.0, 100.0, 200.0, 300.0, 400.0):  # one crash every 100 s: not a loop
        assert record_start(prefix, policy, now=t) is None
    assert prefix.current_id() == b.id


def test_cli_run_bundle_rolls_back_a_crash_looping_release(
    two: dict[str, Path], tmp_path: Path, assets: Path
) -> None:
    prefix = tmp_path / "cli"
    a, _ = install(two["a"], prefix, run_self_test=False)
    name = "models/mobilenet_v1_0.25_224_quant_with_metadata.tflite"
    broken = rewrite(
        two["b"],
        tmp_path / "broken.tar",
        replace={name: (assets / "misc/model_invoking_error.tflite").read_bytes()},
    )
    bad, _ = install(broken, prefix, run_self_test=False)  # a model self-test would have caught
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edge_sdk.cli.main", "run", "--bundle", str(prefix), "--source", str(two["video"]),
           "--sink", f"jsonl:{tmp_path / 'out.jsonl'}", "--crash-loop", "2,600"]  # fmt: skip
    for _ in range(2):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "fake-op-double" in r.stderr, r.stderr
        assert Prefix(prefix).current_id() == bad.id
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"rolled back to release {a.id}" in r.stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 12 and all(f'"release": "{a.id}"' in line for line in lines)
    assert Prefix(prefix).read_state()["starts"] == []
