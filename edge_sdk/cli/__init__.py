"""The ``edge-sdk`` command line. One module per subcommand, each with ``register(subparsers)``."""
