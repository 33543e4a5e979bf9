"""Home Assistant MQTT discovery: the retained configs that make a device and its entities
appear in Home Assistant by themselves.

Each entity is one retained JSON message on
``{discovery_prefix}/{component}/{node}/{object}/config`` (component ``sensor`` or
``binary_sensor``; ``node`` the device's host name), following Home Assistant's MQTT
discovery schema: ``name``, ``unique_id``, ``state_topic`` + ``value_template``,
``availability_topic`` (the status topic, online/offline from its ``state``), and one shared
``device`` block (``identifiers``, ``name``, ``model``, ``sw_version``, ``manufacturer``).

Entities, by task:

* every task: **FPS** (from the heartbeat) and **Status** is the device's availability;
* detect: **Objects** (total) and, per configured label, **<label> count** (sensor) and
  **<label> present** (binary sensor, ON while at least one is seen);
* faces: **Faces** (count), **Last identity** and, per configured identity, **<name> present**;
* classify: **Top class**.

An empty retained message on the same topic removes an entity (what ``edge-sdk service
uninstall`` publishes).
"""

from __future__ import annotations

from typing import Any

from ..pipeline.service_options import ServiceOptions, node_id


def device_block(opts: ServiceOptions, task: str, model: str | None, version: str) -> dict[str, Any]:
    """The ``device`` block shared by every entity of this device."""
    return {
        "identifiers": [f"edge_sdk_{node_id(opts.host)}"],
        "name": f"edge_sdk {opts.host}",
        "model": f"{task}: {model}" if model else task,
        "sw_version": version,
        "manufacturer": "edge_sdk",
    }


def discovery_configs(
    opts: ServiceOptions, task: str, model: str | None, version: str
) -> dict[str, dict[str, Any]]:
    """``{topic: config}`` for every entity of this device (see the module docstring)."""
    node = node_id(opts.host)
    device = device_block(opts, task, model, version)
    base = f"{opts.discovery_prefix}"
    out: dict[str, dict[str, Any]] = {}

    def add(component: str, obj: str, name: str, topic: str, template: str, **extra: Any) -> None:
        oid = node_id(obj)
        out[f"{base}/{component}/{node}/{oid}/config"] = {
            "name": name,
            "unique_id": f"edge_sdk_{node}_{oid}",
            "state_topic": topic,
            "value_template": template,
            "availability_topic": opts.status_topic,
            "availability_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            **extra,
        }

    add(
        "sensor",
        "fps",
        "FPS",
        opts.heartbeat_topic,
        "{{ value_json.fps }}",
        unit_of_measurement="fps",
        state_class="measurement",
        icon="mdi:speedometer",
    )
    state = opts.state_topic
    if task == "detect":
        add("sensor", "objects", "Objects", state, "{{ value_json.objects }}", state_class="measurement")
    elif task == "faces":
        add(
            "sensor",
            "faces",
            "Faces",
            state,
            "{{ value_json.counts.face | default(0) }}",
            state_class="measurement",
        )
        add(
            "sensor",
            "last_identity",
            "Last identity",
            state,
            "{{ value_json.last_identity | default('none', true) }}",
            icon="mdi:account",
        )
    else:
        add(
            "sensor",
            "top_class",
            "Top class",
            state,
            "{{ value_json.top_class | default('none', true) }}",
            icon="mdi:label",
        )
    for label in opts.labels:
        key = label.replace("'", "\\'")
        if task == "detect":
            add(
                "sensor",
                f"count_{label}",
                f"{label} count",
                state,
                f"{{{{ value_json.counts['{key}'] | default(0) }}}}",
                state_class="measurement",
            )
        if task in ("detect", "faces"):
            add(
                "binary_sensor",
                f"present_{label}",
                f"{label} present",
                state,
                f"{{{{ value_json.present['{key}'] | default('OFF') }}}}",
                payload_on="ON",
                payload_off="OFF",
                device_class="occupancy",
            )
    return out
