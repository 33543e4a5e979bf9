"""Frame sources behind one function, :func:`open_source`, and a registry of backends.

A source URI picks its backend (each module imports its library only when opened):

=========================================  ===========================
``photo.jpg``, ``photos/``, ``shots/*.png``  image files, folders, globs
=========================================  ===========================

Every source is a context manager and an iterator of :class:`edge_sdk.frame.Frame`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .base import Source, SourceState

# (predicate on the URI, "module:Class"), tried in order; the last entry catches paths.
_REGISTRY: list[tuple[Callable[[str], bool], str]] = [
    (lambda uri: True, "devices.sources.images:ImageSource"),
]


def register(predicate: Callable[[str], bool], target: str, *, first: bool = True) -> None:
    """Add a backend: ``target`` is ``"module:Class"``, imported only when a URI matches."""
    entry = (predicate, target)
    if first:
        _REGISTRY.insert(0, entry)
    else:
        _REGISTRY.append(entry)


def open_source(uri: str, **options: Any) -> Source:
    """Open a frame source by URI.

    Args:
        uri: a file, folder or glob, or a device/stream URI (see the module docstring).
        options: backend options such as ``size=(width, height)`` or ``fps``.

    Raises:
        SourceError: nothing can be opened at ``uri``.
        OptionsError: an option is invalid for this backend.
    """
    for predicate, target in _REGISTRY:
        if predicate(uri):
            module_name, cls_name = target.split(":")
            cls = getattr(importlib.import_module(module_name), cls_name)
            source: Source = cls(uri, **options)
            return source
    raise AssertionError("the path backend matches every URI")


__all__ = ["Source", "SourceState", "open_source", "register"]
