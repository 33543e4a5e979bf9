"""Small shared validators for options' ``__post_init__``, so every options class accepts and
rejects the same things with the same message (``OptionsError``: what was expected, what was
found). ``bool`` is never accepted as a number."""

from __future__ import annotations

from typing import Any

from .errors import OptionsError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_in(name: str, value: Any, lo: float, hi: float, *, optional: bool = False) -> None:
    """``value`` is a real number in ``[lo, hi]`` (or None when ``optional``).

    Raises:
        OptionsError: a bool, a string or any non-number, or a number outside the range.
    """
    if value is None and optional:
        return
    if not _is_number(value) or not lo <= float(value) <= hi:
        raise OptionsError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")


def int_in(name: str, value: Any, lo: int | float, hi: int | float, *, optional: bool = False) -> None:
    """``value`` is an integer in ``[lo, hi]`` (or None when ``optional``); bools are rejected.

    Raises:
        OptionsError: a bool, a float, a string, or an integer outside the range.
    """
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise OptionsError(f"{name} must be an integer in [{lo:g}, {hi:g}], got {value!r}")


def positive_number(name: str, value: Any, *, optional: bool = False, unit: str = "") -> None:
    """``value`` is a real number > 0 (or None when ``optional``).

    Raises:
        OptionsError: a non-number or a number <= 0.
    """
    if value is None and optional:
        return
    if not _is_number(value) or value <= 0:
        what = f"a number of {unit} > 0" if unit else "a number > 0"
        raise OptionsError(f"{name} must be {what}{' or None' if optional else ''}, got {value!r}")


def int_at_least(name: str, value: Any, lo: int, *, optional: bool = False) -> None:
    """``value`` is an integer >= ``lo`` (or None when ``optional``); bools are rejected.

    Raises:
        OptionsError: a bool, a float, a string, or an integer below ``lo``.
    """
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise OptionsError(
            f"{name} must be an integer >= {lo}{' or None' if optional else ''}, got {value!r}"
        )


def is_bool(name: str, value: Any, *, optional: bool = False) -> None:
    """``value`` is True or False (or None when ``optional``).

    Raises:
        OptionsError: anything else (1, "yes" ...).
    """
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise OptionsError(
            f"{name} must be {'true, false or None' if optional else 'true or false'}, got {value!r}"
        )


def instance_of(name: str, value: Any, kind: type | tuple[type, ...], *, optional: bool = True) -> None:
    """``value`` is an instance of ``kind`` (or None when ``optional``).

    Raises:
        OptionsError: any other type.
    """
    if value is None and optional:
        return
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise OptionsError(f"{name} must be a {names}, got {value!r}")
