"""Shared fixtures. Real published models come from ../shared/assets (or $EDGE_SDK_ASSETS);
tests that need them skip with a reason when the folder is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def assets_dir() -> Path | None:
    env = os.environ.get("EDGE_SDK_ASSETS")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "assets")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def assets() -> Path:
    d = assets_dir()
    if d is None:
        pytest.skip(
            "conformance assets not found: set EDGE_SDK_ASSETS or put shared/assets beside the checkout"
        )
    return d
