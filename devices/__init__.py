"""Everything that touches hardware or the outside world: frame sources, accelerators, boards.

Each backend lives in its own module and imports its library only when used.
"""
