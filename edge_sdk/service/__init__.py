"""Run edge_sdk as a device service: a systemd unit with a watchdog, MQTT status and
heartbeats, Home Assistant discovery and change events.

Modules (each imported when used; paho-mqtt only when a broker is configured):

* :mod:`~edge_sdk.service.unit`: render, install and remove the systemd unit;
* :mod:`~edge_sdk.service.notify`: the sd_notify client (READY, WATCHDOG, STATUS);
* :mod:`~edge_sdk.pipeline.service_options`: the ``status`` / ``home_assistant`` config keys, topics;
* :mod:`~edge_sdk.service.status`: retained status, last will, heartbeats (MQTT);
* :mod:`~edge_sdk.service.homeassistant`: discovery configs;
* :mod:`~edge_sdk.sinks.events`: debounced change detection;
* :mod:`~edge_sdk.service.monitor`: the sink that ties them to a pipeline run.
"""
