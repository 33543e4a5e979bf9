"""Change events: what changed between frames, debounced, instead of one message per frame.

A :class:`ChangeDetector` watches the results of one source and reports a change only once
the new value has held for ``debounce`` consecutive frames, so a detection that flickers for
a frame or two publishes nothing. What it watches, per task:

===========  ===================================  ============================================
task         key                                  change kinds
===========  ===================================  ============================================
detect       count of each label                  ``up`` / ``down`` (``from`` and ``to`` counts)
detect       each tracked object (``track`` id)   ``entered`` / ``left``
faces        each known identity                  ``appeared`` / ``left``
faces        count of faces                       ``up`` / ``down``
classify     the top class                        ``changed`` (``from`` / ``to`` labels)
===========  ===================================  ============================================

Each event is one JSON object::

    {"ts": 1764483601.25, "source": "usb:0", "frame": 412, "since_frame": 410,
     "task": "detect", "type": "count", "label": "person", "change": "up", "from": 0, "to": 1}

``ts`` is the Unix time (seconds) when the change was confirmed, ``frame`` the frame index
that confirmed it and ``since_frame`` the first frame that showed the new value. Counts start
at 0 and identities/tracks as absent, so the first frames publish only what is there.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import OptionsError
from ..results import Classification, Detections, Poses, Segmentation

if TYPE_CHECKING:
    from ..tasks.base import TaskResult

Key = tuple[str, Hashable]


@dataclass(frozen=True)
class EventOptions:
    """Options of a :class:`ChangeDetector`, checked when built.

    Attributes:
        debounce: frames (>= 1) a new value must hold before it is reported; 1 reports every
            change at once.
        labels: only count these labels (detect) or identities (faces); None: all.
    """

    debounce: int = 3
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.debounce, int) or isinstance(self.debounce, bool) or self.debounce < 1:
            raise OptionsError(f"debounce must be an integer number of frames >= 1, got {self.debounce!r}")
        if self.labels is not None:
            if isinstance(self.labels, str) or not all(isinstance(x, str) for x in self.labels):
                raise OptionsError(f"labels must be a list of strings, got {self.labels!r}")
            object.__setattr__(self, "labels", tuple(self.labels))


def _default(key: Key) -> Any:
    kind = key[0]
    if kind == "count":
        return 0
    if kind in ("identity", "track"):
        return None
    return None  # class


def observe(result: TaskResult, labels: Iterable[str] | None = None) -> dict[Key, Any]:
    """What one frame shows, as ``{key: value}`` (absent keys have their default: 0 / None).

    Keys: ``("count", label)`` -> int; ``("track", id)`` -> label; ``("identity", name)`` ->
    True; ``("class", "top")`` -> the top label (or ``"#id"`` when unlabelled)."""
    wanted = None if labels is None else set(labels)
    res = result.result
    out: dict[Key, Any] = {}
    if isinstance(res, Detections):
        names = [
            lab if lab is not None else f"#{int(cid)}"
            for lab, cid in zip(res.labels, res.class_ids, strict=True)
        ]
        for name in names:
            if wanted is None or name in wanted:
                out["count", name] = out.get(("count", name), 0) + 1
        if res.tracker_ids is not None:
            for name, tid in zip(names, res.tracker_ids, strict=True):
                if wanted is None or name in wanted:
                    out["track", int(tid)] = name
    elif isinstance(res, Classification):
        top = res.top
        if top is not None:
            out["class", "top"] = top.label if top.label is not None else f"#{top.id}"
    elif isinstance(res, Segmentation):
        for c in res.classes:  # a class present counts 1 (its area is in the record)
            name = c.label if c.label is not None else f"#{c.id}"
            if wanted is None or name in wanted:
                out["count", name] = 1
    elif isinstance(res, Poses):
        if len(res):
            out["count", "person"] = len(res)
    else:  # faces
        faces = [f for f in res]
        if faces:
            out["count", "face"] = len(faces)
        for f in faces:
            if f.identity is not None and (wanted is None or f.identity in wanted):
                out["identity", f.identity] = True
    return out


def _change(kind: str, old: Any, new: Any) -> str:
    if kind == "count":
        return "up" if new > old else "down"
    if kind == "track":
        return "entered" if new is not None else "left"
    if kind == "identity":
        return "appeared" if new else "left"
    return "changed"


class ChangeDetector:
    """Turn per-frame results into debounced change events (see the module docstring).

    Feed it every result of one source, in frame order, with :meth:`update`. Not thread-safe:
    use it from one thread (the pipeline's sink thread).
    """

    def __init__(self, options: EventOptions | None = None, **kwargs: Any) -> None:
        if options is not None and kwargs:
            raise OptionsError("pass either options= or option keywords, not both")
        self.options = options or EventOptions(**kwargs)
        self._stable: dict[Key, Any] = {}
        self._pending: dict[Key, tuple[Any, int, int]] = {}  # key -> (value, frames held, first frame)
        self.last_identity: str | None = None
        self.frames = 0
        self.task: str | None = None

    def update(self, result: TaskResult) -> list[dict[str, Any]]:
        """Take one frame's result; return the events it confirms (often none)."""
        self.frames += 1
        self.task = result.task.value
        seen = observe(result, self.options.labels)
        frame = result.frame
        events: list[dict[str, Any]] = []
        for key in sorted(set(self._stable) | set(self._pending) | set(seen), key=repr):
            value = seen.get(key, _default(key))
            stable = self._stable.get(key, _default(key))
            if value == stable:
                self._pending.pop(key, None)
                continue
            held_value, held, since = self._pending.get(key, (None, 0, frame.index))
            if held and held_value == value:
                held += 1
            else:
                held, since = 1, frame.index
            if held < self.options.debounce:
                self._pending[key] = (value, held, since)
                continue
            self._pending.pop(key, None)
            if value == _default(key):
                self._stable.pop(key, None)  # keeps the state bounded (identities, tracks)
            else:
                self._stable[key] = value
            kind, name = key
            event: dict[str, Any] = {
                "ts": round(time.time(), 3),
                "source": frame.source,
                "frame": frame.index,
                "since_frame": since,
                "task": result.task.value,
                "type": kind,
                "change": _change(kind, stable, value),
            }
            if kind == "track":
                event.update({"track": name, "label": value if value is not None else stable})
            elif kind == "identity":
                event["label"] = name
                if value:
                    self.last_identity = str(name)
            elif kind == "count":
                event.update({"label": name, "from": stable, "to": value})
            else:
                event.update({"from": stable, "to": value})
            events.append(event)
        return events

    # -- the confirmed state (what Home Assistant shows) -----------------------------------------

    def counts(self) -> dict[str, int]:
        """Confirmed count per label (labels at 0 are left out)."""
        return {str(k[1]): int(v) for k, v in self._stable.items() if k[0] == "count"}

    def identities(self) -> list[str]:
        """Known identities confirmed present, sorted."""
        return sorted(str(k[1]) for k in self._stable if k[0] == "identity")

    def top_class(self) -> str | None:
        """The confirmed top class (classify), or None."""
        value = self._stable.get(("class", "top"))
        return None if value is None else str(value)

    def state(self, labels: Iterable[str] = ()) -> dict[str, Any]:
        """The confirmed state as one JSON object: ``counts`` (detect: every label of
        ``labels`` and every label seen, 0 when absent; faces: ``face``), ``present``
        (``"ON"``/``"OFF"`` per counted label, or per identity of ``labels`` and present),
        ``objects`` (total count), ``identities``, ``last_identity``, ``top_class``."""
        seen = self.counts()
        ids = self.identities()
        if self.task == "faces":
            counts = {"face": seen.get("face", 0)}
            present = {str(name): "OFF" for name in labels}
            present.update({name: "ON" for name in ids})
        else:
            counts = {str(lab): 0 for lab in labels} if self.task == "detect" else {}
            counts.update(seen)
            present = {k: "ON" if v > 0 else "OFF" for k, v in counts.items()}
        return {
            "counts": counts,
            "present": present,
            "objects": sum(seen.values()),
            "identities": ids,
            "last_identity": self.last_identity,
            "top_class": self.top_class(),
        }
