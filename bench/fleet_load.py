"""Fleet load test: many simulated devices on one local mosquitto, over loopback only.

Each simulated device is a thread with its own paho-mqtt client (own TCP connection and
network thread), using the topic layout of docs/fleet.md:

* ``edge-sdk/{dev}/heartbeat`` every ``--heartbeat-s`` seconds, QoS 1;
* ``edge-sdk/{dev}/events``: change events at ``--event-rate`` per second (Poisson), QoS 1,
  each with a per-device sequence number;
* ``edge-sdk/{dev}/status``: retained ``{"state": "online"}``, offline as the last will;
* subscribed to ``edge-sdk/{dev}/cmd`` (QoS 1); each command is acknowledged on
  ``edge-sdk/{dev}/events`` (``{"ack": id}``).

One controller client subscribes to ``edge-sdk/+/heartbeat`` and ``edge-sdk/+/events`` and,
every ``--command-every-s`` seconds, sends one command to every device at once (a burst of
N publishes). Reported:

* ``lost``: QoS 1 messages published by the devices (acknowledged by the broker) that the
  controller never received (goal 0); ``duplicates`` is informational (QoS 1 is at-least-once);
* command latency: controller publish -> device on_message (one way) and -> ack back at the
  controller (round trip), p50/p99 in ms (all on one clock: one machine);
* the broker's CPU: utime+stime of the mosquitto process over the run, in % of one core.

    python bench/fleet_load.py [--devices 50] [--duration 60] [--event-rate 2]
                               [--heartbeat-s 5] [--command-every-s 5] [--json]

Nothing connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.mosquitto_broker import Broker, mosquitto_binary


def _client(name: str) -> Any:
    import paho.mqtt.client as mqtt

    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)


@dataclass
class Device:
    """One simulated device; ``sent`` counts QoS 1 publishes the broker acknowledged."""

    name: str
    port: int
    event_rate: float
    heartbeat_s: float
    sent_seq: set[int] = field(default_factory=set)
    heartbeats: int = 0
    cmd_latency_ms: list[float] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)

    def start(self, stop: threading.Event) -> threading.Thread:
        c = _client(self.name)
        c.will_set(f"edge-sdk/{self.name}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
        self._acked: set[int] = set()
        self._mid_seq: dict[int, int] = {}
        self._lock = threading.Lock()

        def on_connect(cl: Any, ud: Any, fl: Any, rc: Any, pr: Any) -> None:
            cl.subscribe(f"edge-sdk/{self.name}/cmd", qos=1)
            cl.publish(f"edge-sdk/{self.name}/status", json.dumps({"state": "online"}), qos=1, retain=True)

        def on_publish(cl: Any, ud: Any, mid: int, rc: Any, pr: Any) -> None:
            with self._lock:
                seq = self._mid_seq.pop(mid, None)
                if seq is not None:
                    self.sent_seq.add(seq)

        def on_message(cl: Any, ud: Any, msg: Any) -> None:
            cmd = json.loads(msg.payload)
            self.cmd_latency_ms.append((time.monotonic() - cmd["t"]) * 1000)
            cl.publish(f"edge-sdk/{self.name}/events", json.dumps({"ack": cmd["id"], "t": cmd["t"]}), qos=1)

        c.on_connect = on_connect
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: self.connected.set()
        c.on_publish = on_publish
        c.on_message = on_message
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", self.port, keepalive=30)
        c.loop_start()
        self.client = c
        t = threading.Thread(target=self._run, args=(stop,), name=self.name, daemon=True)
        t.start()
        return t

    def _run(self, stop: threading.Event) -> None:
        rng = random.Random(self.name)
        seq = 0
        next_hb = time.monotonic()
        next_ev = time.monotonic() + rng.expovariate(self.event_rate)
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_hb:
                self.client.publish(f"edge-sdk/{self.name}/heartbeat", json.dumps({"t": time.time()}), qos=1)
                self.heartbeats += 1
                next_hb += self.heartbeat_s
            if now >= next_ev:
                payload = json.dumps({"seq": seq, "event": "person_entered", "count": rng.randint(0, 5)})
                with self._lock:
                    info = self.client.publish(f"edge-sdk/{self.name}/events", payload, qos=1)
                    self._mid_seq[info.mid] = seq
                seq += 1
                next_ev += rng.expovariate(self.event_rate)
            stop.wait(max(0.0, min(next_hb, next_ev) - time.monotonic()))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Controller:
    """Receives every device's events and heartbeats; sends commands to all at once."""

    def __init__(self, port: int) -> None:
        self.received: dict[str, list[int]] = {}
        self.heartbeats = 0
        self.acks: dict[int, list[float]] = {}
        self.lock = threading.Lock()
        ready = threading.Event()
        c = _client("fleet-controller")
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(
            [("edge-sdk/+/events", 1), ("edge-sdk/+/heartbeat", 1)]
        )
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: ready.set()
        c.on_message = self._on
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(1000)
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        assert ready.wait(10), "controller could not subscribe"
        self.client = c
        self.next_id = 0

    def _on(self, cl: Any, ud: Any, msg: Any) -> None:
        dev, kind = msg.topic.split("/")[1:3]
        data = json.loads(msg.payload)
        with self.lock:
            if kind == "heartbeat":
                self.heartbeats += 1
            elif "ack" in data:
                self.acks.setdefault(data["ack"], []).append((time.monotonic() - data["t"]) * 1000)
            else:
                self.received.setdefault(dev, []).append(int(data["seq"]))

    def command_all(self, devices: list[Device]) -> None:
        t = time.monotonic()
        for d in devices:
            self.next_id += 1
            payload = json.dumps({"id": self.next_id, "t": t, "cmd": "ping"})
            self.client.publish(f"edge-sdk/{d.name}/cmd", payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def run(
    devices: int, duration: float, event_rate: float, heartbeat_s: float, command_every_s: float
) -> dict[str, Any]:
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed (Debian: apt-get install mosquitto)")
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(binary, Path(tmp)).start()
        assert broker.proc is not None
        pid = broker.proc.pid
        try:
            controller = Controller(broker.port)
            sims = [Device(f"dev{i:03d}", broker.port, event_rate, heartbeat_s) for i in range(devices)]
            stop = threading.Event()
            threads = [d.start(stop) for d in sims]
            for d in sims:
                assert d.connected.wait(20), f"{d.name} did not connect"
            cpu0, t0 = _cpu_s(pid), time.monotonic()
            next_cmd = t0 + command_every_s / 2
            commands = 0
            while time.monotonic() - t0 < duration:
                if time.monotonic() >= next_cmd:
                    controller.command_all(sims)
                    commands += devices
                    next_cmd += command_every_s
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(5)
            deadline = time.monotonic() + 10  # drain: every acknowledged message should arrive
            while time.monotonic() < deadline:
                with controller.lock:
                    got = sum(len(set(v)) for v in controller.received.values())
                    acks = len(controller.acks)
                if got >= sum(len(d.sent_seq) for d in sims) and acks >= commands:
                    break
                time.sleep(0.1)
            wall = time.monotonic() - t0
            cpu = _cpu_s(pid) - cpu0
            for d in sims:
                d.close()
            controller.close()
        finally:
            broker.stop()
    sent = sum(len(d.sent_seq) for d in sims)
    received_unique = sum(len(set(controller.received.get(d.name, [])) & d.sent_seq) for d in sims)
    received_all = sum(len(v) for v in controller.received.values())
    one_way = [x for d in sims for x in d.cmd_latency_ms]
    round_trip = [x for v in controller.acks.values() for x in v[:1]]
    return {
        "devices": devices,
        "duration_s": duration,
        "event_rate_per_device": event_rate,
        "heartbeat_s": heartbeat_s,
        "events_sent_qos1": sent,
        "events_received": received_unique,
        "lost": sent - received_unique,
        "duplicates": received_all - received_unique,
        "heartbeats_sent": sum(d.heartbeats for d in sims),
        "heartbeats_received": controller.heartbeats,
        "commands_sent": commands,
        "commands_delivered": len(one_way),
        "commands_acked": len(round_trip),
        "command_ms": {"p50": _pct(one_way, 50), "p99": _pct(one_way, 99), "max": _pct(one_way, 100)},
        "command_round_trip_ms": {"p50": _pct(round_trip, 50), "p99": _pct(round_trip, 99)},
        "messages_per_s": round((sent + sum(d.heartbeats for d in sims) + 2 * commands) / duration, 1),
        "broker_cpu_pct_of_one_core": round(100 * cpu / wall, 2),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--event-rate", type=float, default=2.0, help="events per second per device")
    ap.add_argument("--heartbeat-s", type=float, default=5.0)
    ap.add_argument("--command-every-s", type=float, default=5.0)
    ap.add_argument("--json", action="store_true", help="one JSON object only")
    a = ap.parse_args(argv)
    result = run(a.devices, a.duration, a.event_rate, a.heartbeat_s, a.command_every_s)
    print(json.dumps(result, indent=None if a.json else 1))
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
