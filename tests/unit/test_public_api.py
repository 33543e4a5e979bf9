"""The lazy top-level API: every exported name resolves, and none of it pulls in TensorFlow."""

import subprocess
import sys

import pytest


@pytest.mark.subprocess  # a fresh interpreter: this process has imported TensorFlow already
def test_every_export_resolves_without_tensorflow():
    code = (
        "import sys, edge_sdk\n"
        "missing = [n for n in edge_sdk.__all__ if getattr(edge_sdk, n, None) is None]\n"
        "assert not missing, missing\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'converters', 'mediapipe', 'paho', 'picamera2'))\n"
        "assert not heavy, heavy\n"
        "print(len(edge_sdk.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 20


def test_unknown_attribute_is_an_attribute_error():
    import edge_sdk

    try:
        edge_sdk.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
