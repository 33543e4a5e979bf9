"""Result sinks of the live pipeline, chosen by URI through a registry.

=====================================================  ==========================================
URI                                                    sink (module)
=====================================================  ==========================================
``jsonl:-``                                            JSON Lines on stdout (``jsonl``)
``jsonl:PATH``                                         JSON Lines appended to a file (``jsonl``)
``mqtt://[user:pass@]host[:port]/topic/{source}``      MQTT, one message a frame (``mqtt``)
``mqtts://…``                                          MQTT over TLS (``mqtt``)
``video:PATH.mp4``                                     annotated video file (``video``)
``preview:[host:]port``                                live preview web page (``preview``)
=====================================================  ==========================================

Options come as keyword arguments (``open_sink("jsonl:out.jsonl", fsync=True)``), from a
config file's sink object (``{"uri": "mqtt://broker/edge/{source}", "qos": 1}``) or, for the
URL-shaped ``mqtt``/``mqtts``/``preview`` URIs, from the query string (``?qos=1``).
Each backend module is imported only when its URI is used.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import OptionsError
from ..redact import redact
from .base import Sink, SinkContext

# scheme -> "module:Class"; the scheme is the URI's text before the first ":".
_REGISTRY: dict[str, str] = {
    "jsonl": "edge_sdk.sinks.jsonl:JsonlSink",
    "mqtt": "edge_sdk.sinks.mqtt:MqttSink",
    "mqtts": "edge_sdk.sinks.mqtt:MqttSink",
    "video": "edge_sdk.sinks.video:VideoSink",
    "preview": "edge_sdk.sinks.preview:PreviewSink",
}


def register(scheme: str, target: str) -> None:
    """Add or replace a backend: ``target`` is ``"module:Class"``, built as ``Class(uri, **options)``."""
    _REGISTRY[scheme.lower()] = target


def schemes() -> list[str]:
    """The registered URI schemes."""
    return sorted(_REGISTRY)


def open_sink(uri: str, **options: Any) -> Sink:
    """Build a sink from its URI (see the module docstring).

    Raises:
        OptionsError: unknown scheme, malformed URI or bad option.
        MissingDependencyError: the sink needs an optional library (paho-mqtt for MQTT).
        SinkError: the sink cannot be opened (unwritable file, port in use).
    """
    if not isinstance(uri, str) or ":" not in uri:
        raise OptionsError(
            f"a sink must be a URI like jsonl:-, jsonl:PATH, mqtt://host/topic, video:PATH.mp4 "
            f"or preview:PORT, got {redact(uri) if isinstance(uri, str) else uri!r}"
        )
    scheme = uri.split(":", 1)[0].lower()
    target = _REGISTRY.get(scheme)
    if target is None:
        raise OptionsError(
            f"unknown sink {redact(uri)!r}: expected one of the schemes {', '.join(schemes())}"
        )
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    _check_option_names(cls, redact(uri), options)
    sink: Sink = cls(uri, **options)
    return sink


def _check_option_names(cls: type, shown_uri: str, options: dict[str, Any]) -> None:
    """Reject keyword options the sink's constructor does not take (instead of a raw TypeError).

    Raises:
        OptionsError: naming the unknown options and the accepted ones.
    """
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return  # the sink checks its own options
    accepted = sorted(
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.name != "uri"
    )
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise OptionsError(
            f"sink {shown_uri}: unknown option(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(accepted) or '(none)'}"
        )


__all__ = ["Sink", "SinkContext", "open_sink", "register", "schemes"]
