"""Real hardware, when present: skipped on machines without a camera or Edge TPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.accelerators import list_edgetpus
from devices.cameras import list_picamera2, list_v4l2
from devices.sources import ReconnectPolicy, open_source

pytestmark = pytest.mark.hardware

V4L2 = [c.uri for c in list_v4l2() if c.capture]


@pytest.mark.skipif(not V4L2, reason="no V4L2 capture device")
def test_v4l2_camera_delivers_rgb_frames() -> None:
    with open_source(V4L2[0], size=(640, 480), reconnect=ReconnectPolicy(read_timeout_s=5)) as src:
        frames = [f for f, _ in zip(src, range(3), strict=False)]
    assert len(frames) == 3
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)
    assert (frames[0].image.shape[1], frames[0].image.shape[0]) == src.info["size"]


def test_pi_camera_delivers_rgb_frames() -> None:
    try:
        import picamera2
    except ImportError:
        pytest.skip("picamera2 is not installed")
    if getattr(picamera2, "__version__", "").endswith("+fake") or not list_picamera2():
        pytest.skip("no Raspberry Pi camera")
    with open_source("picamera2:0", size=(640, 480)) as src:
        f = next(iter(src))
    assert f.image.shape == (480, 640, 3)


@pytest.mark.skipif(not list_edgetpus(), reason="no Edge TPU")
def test_edgetpu_runs_the_compiled_model(assets: Path) -> None:
    from edge_sdk.model import Model

    m = Model(assets / "edgetpu/mobilenet_v1_0.25_128_quant_edgetpu.tflite", accelerator="edgetpu")
    m.set_input(np.zeros(m.input.shape, m.input.dtype))
    m.invoke()
    assert m.output(0).shape[-1] == 1001
