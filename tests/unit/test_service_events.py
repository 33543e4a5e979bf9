"""Change events with debounce (edge_sdk.sinks.events) and the options of the service."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import OptionsError
from edge_sdk.frame import Frame
from edge_sdk.pipeline.service_options import Broker, ServiceOptions
from edge_sdk.pipeline.tasks import TaskKind, TaskResult
from edge_sdk.results import Category, Classification, Detections, Face
from edge_sdk.sinks.events import ChangeDetector, EventOptions
from edge_sdk.sinks.mqtt import MqttSink

IMG = np.zeros((8, 8, 3), np.uint8)


def det(i: int, labels: list[str], tracks: list[int] | None = None) -> TaskResult:
    n = len(labels)
    d = Detections(
        xyxy=np.tile(np.array([[0, 0, 4, 4]], np.float32), (n, 1)).reshape(n, 4),
        scores=np.full(n, 0.9, np.float32),
        class_ids=np.arange(n, dtype=np.int32),
        labels=tuple(labels),
        tracker_ids=None if tracks is None else np.array(tracks, np.int32),
    )
    return TaskResult(Frame(IMG, i, float(i), "cam"), TaskKind.DETECT, d)


def face_result(i: int, names: list[str | None]) -> TaskResult:
    faces = tuple(
        Face(
            box=np.array([0, 0, 4, 4], np.float32),
            keypoints=np.zeros((5, 2), np.float32),
            score=0.9,
            identity=n,
        )
        for n in names
    )
    return TaskResult(Frame(IMG, i, float(i), "cam"), TaskKind.FACES, faces)


def cls_result(i: int, label: str) -> TaskResult:
    return TaskResult(
        Frame(IMG, i, float(i), "cam"), TaskKind.CLASSIFY, Classification((Category(1, 0.8, label),))
    )


def run(detector: ChangeDetector, results: list[TaskResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        out += detector.update(r)
    return out


def brief(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["frame"], e["type"], e.get("label"), e["change"], e.get("from"), e.get("to")) for e in events]


# per frame: how many "cat" detections; expected (frame, change, from, to) for debounce 3
@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([0, 1, 1, 1, 1, 0, 0, 0], [(3, "up", 0, 1), (7, "down", 1, 0)]),
        ([0, 1, 0, 1, 0, 1, 0, 0], []),  # flicker: never holds 3 frames
        ([1, 1, 2, 2, 2, 1, 1, 1], [(4, "up", 0, 2), (7, "down", 2, 1)]),  # 1 never held before 2
        ([1, 1, 1, 0, 1, 1, 1, 1], [(2, "up", 0, 1)]),  # one missed frame is no change
    ],
)
def test_counts_change_only_after_debounce(counts: list[int], expected: list[tuple[Any, ...]]) -> None:
    events = run(ChangeDetector(debounce=3), [det(i, ["cat"] * c) for i, c in enumerate(counts)])
    assert [(f, ch, a, b) for f, _, _, ch, a, b in brief(events)] == expected
    for e in events:
        assert e["source"] == "cam" and e["task"] == "detect" and isinstance(e["ts"], float)
        assert e["label"] == "cat" and e["since_frame"] == e["frame"] - 2


def test_debounce_one_reports_every_change_and_labels_filter() -> None:
    d = ChangeDetector(debounce=1, labels=("dog",))
    events = run(d, [det(0, ["cat", "dog"]), det(1, ["cat"]), det(2, [])])
    assert [(e["frame"], e["label"], e["change"]) for e in events] == [(0, "dog", "up"), (1, "dog", "down")]


def test_tracks_enter_and_leave() -> None:
    d = ChangeDetector(debounce=2)
    seq = [det(0, ["car"], [7]), det(1, ["car"], [7]), det(2, []), det(3, [])]
    events = [e for e in run(d, seq) if e["type"] == "track"]
    assert [(e["frame"], e["track"], e["label"], e["change"]) for e in events] == [
        (1, 7, "car", "entered"),
        (3, 7, "car", "left"),
    ]


def test_identities_appear_and_leave_and_state() -> None:
    d = ChangeDetector(debounce=2)
    seq = [face_result(i, ["ada", None]) for i in range(3)] + [face_result(i, [None]) for i in range(3, 6)]
    events = [e for e in run(d, seq) if e["type"] == "identity"]
    assert [(e["frame"], e["label"], e["change"]) for e in events] == [
        (1, "ada", "appeared"),
        (4, "ada", "left"),
    ]
    state = d.state(["ada", "bob"])
    assert state["last_identity"] == "ada" and state["identities"] == []
    assert state["present"] == {"ada": "OFF", "bob": "OFF"} and state["counts"] == {"face": 1}


def test_top_class_changes() -> None:
    d = ChangeDetector(debounce=2)
    seq = [cls_result(0, "cat"), cls_result(1, "cat"), cls_result(2, "dog"), cls_result(3, "cat")]
    events = run(d, seq)
    assert [(e["frame"], e["from"], e["to"]) for e in events] == [(1, None, "cat")]
    assert d.state()["top_class"] == "cat"


def test_state_counts_and_presence() -> None:
    d = ChangeDetector(debounce=1)
    run(d, [det(0, ["cat", "cat", "dog"])])
    assert d.state(["person", "cat"]) == {
        "counts": {"person": 0, "cat": 2, "dog": 1},
        "present": {"person": "OFF", "cat": "ON", "dog": "ON"},
        "objects": 3,
        "identities": [],
        "last_identity": None,
        "top_class": None,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"debounce": 0}, "debounce must be an integer"),
        ({"debounce": True}, "debounce must be an integer"),
        ({"labels": "cat"}, "labels must be a list"),
    ],
)
def test_bad_event_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        EventOptions(**kwargs)


@pytest.mark.parametrize(
    ("status", "ha", "sinks", "error"),
    [
        ({"heartbeat_s": 0}, None, [], "heartbeat_s must be seconds"),
        ({"nope": 1}, None, [], "unknown status key"),
        ({"broker": "http://x"}, None, [], "a broker must be mqtt://"),
        ({"broker": 5}, None, [], "status.broker must be a URI"),
        (None, True, ["jsonl:-"], "home_assistant needs a broker"),
        (None, {"labels": ["a"], "bad": 1}, ["mqtt://h/t"], "unknown home_assistant key"),
        ({"prefix": "a/#"}, None, [], "prefix must be a topic"),
        ({"labels": "cat"}, None, [], "labels must be a list"),
        ({"debounce": 1.5}, None, [], "debounce must be an integer"),
        (None, "maybe", [], "home_assistant must be true or false"),
    ],
)
def test_bad_service_options(status: Any, ha: Any, sinks: list[Any], error: str) -> None:
    with pytest.raises(OptionsError, match=error):
        ServiceOptions.from_config(status, ha, sinks)


def test_broker_and_home_assistant_from_the_sink() -> None:
    opts = ServiceOptions.from_config(
        {"host": "pi4", "heartbeat_s": 5},
        None,
        ["jsonl:-", "mqtts://u:p%40@broker:9000/edge/x?ha=1&ca_certs=/ca.pem"],
    )
    assert opts.broker == Broker("broker", 9000, True, "u", "p@", "/ca.pem", False)
    assert opts.home_assistant and opts.status_topic == "edge-sdk/pi4/status"
    assert opts.heartbeat_topic == "edge-sdk/pi4/heartbeat" and opts.state_topic == "edge-sdk/pi4/state"
    plain = ServiceOptions.from_config(None, None, [{"uri": "mqtt://b/t", "qos": 1}])
    assert plain.broker == Broker("b", 1883) and not plain.home_assistant
    assert ServiceOptions.from_config(None, None, ["jsonl:-"]).broker is None
    ha = ServiceOptions.from_config({"broker": "mqtt://b"}, {"labels": ["cat"], "discovery_prefix": "ha"}, [])
    assert ha.home_assistant and ha.labels == ("cat",) and ha.discovery_prefix == "ha"


@pytest.mark.parametrize(
    ("uri", "options", "error"),
    [
        ("mqtt://h/t?mode=bulk", {}, "mode must be frames or events"),
        ("mqtt://h/t?debounce=2", {}, "apply to mode=events only"),
        ("mqtt://h/t?mode=events&debounce=0", {}, "debounce must be an integer"),
        ("mqtt://h/t?mode=events", {"labels": [1]}, "labels must be a list of strings"),
    ],
)
def test_bad_mqtt_event_options(uri: str, options: dict[str, Any], error: str) -> None:
    with pytest.raises(OptionsError, match=error):
        MqttSink(uri, **options)


def test_mqtt_events_options_are_parsed() -> None:
    sink = MqttSink("mqtt://h/t?mode=events&debounce=4&labels=cat,dog&ha=1")
    assert sink.events is not None and sink.events.options == EventOptions(4, ("cat", "dog"))
    assert MqttSink("mqtt://h/t", mode="events", labels=["cat"]).events is not None
    assert MqttSink("mqtt://h/t").events is None


@pytest.mark.parametrize(
    ("task", "names"),
    [
        (
            "detect",
            {"fps", "objects", "count_cat", "count_traffic_light", "present_cat", "present_traffic_light"},
        ),
        ("faces", {"fps", "faces", "last_identity", "present_cat", "present_traffic_light"}),
        ("classify", {"fps", "top_class"}),
    ],
)
def test_discovery_configs_match_home_assistant_schema(task: str, names: set[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed: pip install 'edge-sdk[dev]'")
    from edge_sdk.service.homeassistant import discovery_configs
    from tests.ha_schema import HA_SCHEMAS

    opts = ServiceOptions(
        broker=Broker("b", 1883), host="pi-5", labels=("cat", "traffic light"), home_assistant=True
    )
    configs = discovery_configs(opts, task, "m.tflite", "0.1.0")
    assert {t.split("/")[3] for t in configs} == names
    for topic, cfg in configs.items():
        prefix, component, node, _, leaf = topic.split("/")
        assert (prefix, node, leaf) == ("homeassistant", "pi-5", "config")
        jsonschema.validate(cfg, HA_SCHEMAS[component])
        assert cfg["availability_topic"] == "edge-sdk/pi-5/status"
    with pytest.raises(jsonschema.ValidationError):  # the schema catches a missing state topic
        bad = dict(next(iter(configs.values())))
        del bad["state_topic"]
        jsonschema.validate(bad, HA_SCHEMAS["sensor"])


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"status": {"heartbeat_s": -1}}, "heartbeat_s must be seconds"),
        ({"home_assistant": True}, "home_assistant needs a broker"),
        ({"status": "mqtt://b"}, "status must be an object"),
    ],
)
def test_run_config_checks_the_service_keys(extra: dict[str, Any], error: str) -> None:
    from edge_sdk.pipeline.config import RunConfig

    with pytest.raises(OptionsError, match=error):
        RunConfig.from_dict({"task": "faces", "source": "usb:0", "sink": "jsonl:-", **extra})
    ok = RunConfig.from_dict(
        {"task": "faces", "source": "usb:0", "sink": "mqtt://b/t?ha=1", "status": {"labels": ["ada"]}}
    )
    assert ok.service_options().home_assistant and ok.service_options().labels == ("ada",)
