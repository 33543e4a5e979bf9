"""Smoke run of bench/fleet_load.py: a few devices on a real loopback mosquitto for a few
seconds; every QoS 1 event and every command must arrive (no timing thresholds)."""

from __future__ import annotations

import pytest

from tests.mosquitto_broker import mosquitto_binary

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is needed: pip install 'edge-sdk[fleet]'")
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed")


def test_fleet_load_smoke() -> None:
    from bench.fleet_load import run

    r = run(devices=4, duration=3.0, event_rate=5.0, heartbeat_s=1.0, command_every_s=1.0)
    assert r["events_sent_qos1"] > 0 and r["lost"] == 0
    assert r["commands_sent"] == r["commands_delivered"] == r["commands_acked"] > 0
    assert r["heartbeats_received"] >= r["heartbeats_sent"] > 0
    assert r["command_ms"]["p50"] is not None and r["broker_cpu_pct_of_one_core"] >= 0
