"""The tasks: a model plus its pre- and post-processing, ``image -> typed result``.

``classify``, ``detect`` (with ``decoders/``), ``faces/`` and ``track``; ``runner`` is the
frame-by-frame core they share; ``registry`` builds any of them from options.
"""
