"""Ship to a fleet: verified bundles, atomic install with rollback, live model update.

* :mod:`~edge_sdk.fleet.manifest`: the manifest (hashes, version, known answer) and Ed25519.
* :mod:`~edge_sdk.fleet.bundle`: create, verify and unpack bundles.
* :mod:`~edge_sdk.fleet.install`: ``PREFIX/releases/<id>`` + ``current``, rollback, crash loop.
* :mod:`~edge_sdk.fleet.selftest`: the known-answer self-test.
* :mod:`~edge_sdk.fleet.update`: live update of a running pipeline (watched folder, MQTT).
* :mod:`~edge_sdk.fleet.bootfiles`: cloud-init ``user-data`` for a freshly flashed card.

Nothing here is imported by ``import edge_sdk``.
"""
