"""``ServiceOptions``: the ``status`` and ``home_assistant`` keys of a run config, checked.

::

    {
      "sink": ["mqtt://broker.local/edge/{host}/events?mode=events&debounce=3&ha=1"],
      "status": {"heartbeat_s": 30, "prefix": "edge-sdk", "labels": ["person", "car"]},
      "home_assistant": true
    }

The broker is ``status.broker`` (``mqtt://[user:pass@]host[:port]`` or ``mqtts://…``, with
``?ca_certs=…&insecure=1`` for TLS), else that of the first MQTT sink. Status is published
when either exists; Home Assistant discovery when ``home_assistant`` is true (or an object),
``status.home_assistant`` is, or an MQTT sink has ``?ha=1``.

Topics (``prefix`` default ``edge-sdk``; ``host`` default this machine's host name)::

    {prefix}/{host}/status      retained  {"state": "online", ...}; the last will {"state": "offline"}
    {prefix}/{host}/heartbeat             every heartbeat_s seconds
    {prefix}/{host}/state       retained  confirmed counts / identities / top class, on change
    {discovery_prefix}/{component}/{node}/{object}/config   retained Home Assistant discovery
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import OptionsError


def topic_level(text: str) -> str:
    """``text`` made safe as one MQTT topic level (no ``/``, ``+``, ``#``, ``:`` or spaces)."""
    out = "".join("_" if c in "/+#: \t" else c for c in text).strip("_")
    return out or "_"


def node_id(text: str) -> str:
    """``text`` as a Home Assistant node/object id: letters, digits, ``_`` and ``-`` only."""
    out = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in text).strip("_")
    return out or "_"


def _truthy(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "0", "true", "false", "yes", "no"):
        return value.strip().lower() in ("1", "true", "yes")
    raise OptionsError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class Broker:
    """Where the status client connects. ``tls``: mqtts. ``ca_certs``: CA bundle (TLS)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    insecure: bool = False

    @classmethod
    def parse(cls, uri: str, extra: Mapping[str, Any] | None = None) -> Broker:
        """From ``mqtt://[user:pass@]host[:port][/anything][?ca_certs=..&insecure=1]``.

        Raises:
            OptionsError: not an mqtt/mqtts URI, no host, or a bad port.
        """
        parts = urlsplit(uri)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            shown = uri.replace(f":{parts.password}@", ":***@") if parts.password else uri
            raise OptionsError(
                f"a broker must be mqtt://[user:pass@]host[:port] or mqtts://..., got {shown!r}"
            )
        try:
            port = parts.port
        except ValueError:
            raise OptionsError(f"bad port in broker URI {parts.hostname}") from None
        tls = parts.scheme == "mqtts"
        query = dict(parse_qsl(parts.query))
        query.update({k: v for k, v in (extra or {}).items() if k in ("ca_certs", "insecure")})
        ca = query.get("ca_certs")
        if ca is not None and not isinstance(ca, str):
            raise OptionsError(f"ca_certs must be a path, got {ca!r}")
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_certs=ca,
            insecure=_truthy("insecure", query.get("insecure", False)),
        )


_STATUS_KEYS = frozenset(
    {"broker", "prefix", "host", "heartbeat_s", "debounce", "labels", "home_assistant", "discovery_prefix"}
)
_HA_KEYS = frozenset({"discovery_prefix", "labels"})


@dataclass(frozen=True)
class ServiceOptions:
    """Status, heartbeat and Home Assistant options of a run (see the module docstring).

    Attributes:
        broker: where to publish status (None: no MQTT status).
        prefix: first topic level (default ``edge-sdk``).
        host: second topic level and Home Assistant node id (default: the host name).
        heartbeat_s: seconds between heartbeats (> 0, default 30).
        debounce: frames a change must hold before the state topic changes (>= 1, default 3).
        labels: labels (detect) or identities (faces) that get their own Home Assistant
            entities; others still count in the state topic.
        home_assistant: publish discovery configs. discovery_prefix: default ``homeassistant``.
    """

    broker: Broker | None = None
    prefix: str = "edge-sdk"
    host: str = ""
    heartbeat_s: float = 30.0
    debounce: int = 3
    labels: tuple[str, ...] = ()
    home_assistant: bool = False
    discovery_prefix: str = "homeassistant"

    def __post_init__(self) -> None:
        if not self.host:
            object.__setattr__(self, "host", topic_level(socket.gethostname()))
        for name in ("prefix", "discovery_prefix", "host"):
            value = getattr(self, name)
            if (
                not isinstance(value, str)
                or not value
                or any(c in value for c in "+#")
                or value != value.strip("/")
            ):
                raise OptionsError(f"{name} must be a topic without + # or leading/trailing /, got {value!r}")
        hb = self.heartbeat_s
        if isinstance(hb, bool) or not isinstance(hb, (int, float)) or not 0 < hb <= 86400:
            raise OptionsError(f"heartbeat_s must be seconds in (0, 86400], got {hb!r}")
        d = self.debounce
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise OptionsError(f"debounce must be an integer number of frames >= 1, got {d!r}")
        if isinstance(self.labels, str) or not all(isinstance(x, str) and x for x in self.labels):
            raise OptionsError(f"labels must be a list of non-empty strings, got {self.labels!r}")
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.home_assistant and self.broker is None:
            raise OptionsError(
                "home_assistant needs a broker: add an MQTT sink or a status broker (mqtt://host:port)"
            )

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/{self.host}/status"

    @property
    def heartbeat_topic(self) -> str:
        return f"{self.prefix}/{self.host}/heartbeat"

    @property
    def state_topic(self) -> str:
        return f"{self.prefix}/{self.host}/state"

    @classmethod
    def from_config(
        cls,
        status: Mapping[str, Any] | None,
        home_assistant: bool | Mapping[str, Any] | None,
        sinks: Sequence[str | Mapping[str, Any]],
    ) -> ServiceOptions:
        """From a run config's ``status``, ``home_assistant`` and ``sink`` values.

        Raises:
            OptionsError: unknown keys or bad values.
        """
        if status is not None and not isinstance(status, Mapping):
            raise OptionsError(f"status must be an object, got {status!r}")
        st = dict(status or {})
        unknown = sorted(set(st) - _STATUS_KEYS)
        if unknown:
            raise OptionsError(
                f"unknown status key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(_STATUS_KEYS))}"
            )
        ha_on = False
        if "home_assistant" in st:
            ha_on = _truthy("status.home_assistant", st.pop("home_assistant"))
        if isinstance(home_assistant, Mapping):
            bad = sorted(set(home_assistant) - _HA_KEYS)
            if bad:
                raise OptionsError(
                    f"unknown home_assistant key(s) {', '.join(bad)}; expected some of {', '.join(sorted(_HA_KEYS))}"
                )
            ha_on = True
            for k, v in home_assistant.items():
                st.setdefault(k, v)
        elif home_assistant is not None:
            ha_on = ha_on or _truthy("home_assistant", home_assistant)
        broker: Broker | None = None
        if st.get("broker") is not None:
            if not isinstance(st["broker"], str):
                raise OptionsError(f"status.broker must be a URI string, got {st['broker']!r}")
            broker = Broker.parse(st["broker"])
        for spec in sinks:
            uri = spec if isinstance(spec, str) else spec.get("uri")
            if not isinstance(uri, str) or uri.split(":", 1)[0].lower() not in ("mqtt", "mqtts"):
                continue
            extra = {} if isinstance(spec, str) else dict(spec)
            query = dict(parse_qsl(urlsplit(uri).query))
            if _truthy("ha", extra.get("ha", query.get("ha", False))):
                ha_on = True
            if broker is None:
                try:
                    broker = Broker.parse(uri, extra)
                except OptionsError:
                    continue  # a malformed sink URI: the sink itself says what is wrong when built
        st.pop("broker", None)
        if "labels" in st and st["labels"] is not None:
            if isinstance(st["labels"], str) or not isinstance(st["labels"], Sequence):
                raise OptionsError(f"labels must be a list of strings, got {st['labels']!r}")
            st["labels"] = tuple(st["labels"])
        return cls(broker=broker, home_assistant=ha_on, **st)
