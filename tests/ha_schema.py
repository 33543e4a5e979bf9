"""JSON schemas of Home Assistant MQTT discovery payloads, for the service tests."""

from __future__ import annotations

# Home Assistant's MQTT discovery payloads for the two platforms we publish, written from its
# documentation (MQTT Sensor, MQTT Binary sensor, the shared device and availability options):
# the keys it requires, their types, and no keys it does not know.
_DEVICE = {
    "type": "object",
    "properties": {
        "identifiers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "connections": {"type": "array"},
        "name": {"type": "string"},
        "model": {"type": "string"},
        "sw_version": {"type": "string"},
        "manufacturer": {"type": "string"},
        "hw_version": {"type": "string"},
        "via_device": {"type": "string"},
        "configuration_url": {"type": "string"},
        "suggested_area": {"type": "string"},
    },
    "anyOf": [{"required": ["identifiers"]}, {"required": ["connections"]}],
    "additionalProperties": False,
}
_COMMON = {
    "name": {"type": ["string", "null"]},
    "unique_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    "state_topic": {"type": "string", "pattern": "^[^#+]+$"},
    "value_template": {"type": "string", "pattern": r"^\{\{.*value_json.*\}\}$"},
    "availability_topic": {"type": "string"},
    "availability_template": {"type": "string"},
    "payload_available": {"type": "string"},
    "payload_not_available": {"type": "string"},
    "device": _DEVICE,
    "icon": {"type": "string", "pattern": "^mdi:"},
    "qos": {"type": "integer", "enum": [0, 1, 2]},
    "expire_after": {"type": "integer"},
    "force_update": {"type": "boolean"},
    "enabled_by_default": {"type": "boolean"},
    "entity_category": {"enum": ["config", "diagnostic"]},
    "json_attributes_topic": {"type": "string"},
}
HA_SCHEMAS = {
    "sensor": {
        "type": "object",
        "properties": {
            **_COMMON,
            "unit_of_measurement": {"type": "string"},
            "state_class": {"enum": ["measurement", "total", "total_increasing"]},
            "device_class": {"type": "string"},
            "suggested_display_precision": {"type": "integer"},
        },
        "required": ["state_topic", "unique_id", "device", "availability_topic"],
        "additionalProperties": False,
    },
    "binary_sensor": {
        "type": "object",
        "properties": {
            **_COMMON,
            "payload_on": {"type": "string"},
            "payload_off": {"type": "string"},
            "device_class": {
                "enum": ["motion", "occupancy", "presence", "problem", "connectivity", "running", "safety"]
            },
            "off_delay": {"type": "integer"},
        },
        "required": ["state_topic", "unique_id", "device", "availability_topic"],
        "additionalProperties": False,
    },
}
