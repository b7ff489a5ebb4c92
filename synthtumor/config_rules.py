"""One way to check a config: each field's allowed values written next to it, checked whenever
the object is built.

A config is a frozen dataclass whose checked fields are declared with :func:`bounded` (a
default, the allowed range and the kind of value) and whose ``__post_init__`` calls
:func:`check_fields`. Building it any way (``from_dict``, YAML, directly, ``dataclasses.replace``)
therefore checks and normalises every such field, and a bad value raises
:class:`~synthtumor.errors.ConfigError` naming the dotted key (``liver_metastasis.placement.min_gap_mm``)
and what is allowed (``must be >= 0, got -1.0``). Checks across fields stay in the class's
``__post_init__``, after :func:`check_fields`.

The key's prefix is the class's own section name, or the one :func:`built` sets while a section
is built inside a larger config (``liver_metastasis.appearance.portal``).

Kinds: ``number`` (a float), ``int`` (a whole number), ``bool``, ``choice`` (one of
``options``), ``numbers`` / ``ints`` (a non-empty list of them, each in range, as a tuple; of
``length`` items where given), ``range`` (``[low, high]`` within the range, as a float pair),
or a function ``check(value, name, lo, hi) -> value`` for a kind of one module's own.
"""

from __future__ import annotations

import dataclasses
import math
from contextvars import ContextVar
from typing import Any, Callable, Mapping

from synthtumor.errors import ConfigError

__all__ = ["ConfigError", "bounded", "check_fields", "built", "number", "span", "choice", "numbers", "interval"]

#: The dotted name of the object being built (a preset's section), for error messages.
_WHERE: ContextVar[str] = ContextVar("where", default="")

_MISSING: Any = dataclasses.MISSING


def bounded(default: Any = _MISSING, lo: float | None = None, hi: float | None = None, kind: str | Callable = "number",
            *, low_open: bool = False, high_open: bool = False, options: tuple = (), length: int | None = None,
            default_factory: Callable[[], Any] = _MISSING) -> Any:
    """A dataclass field whose value :func:`check_fields` checks against ``[lo, hi]`` (``None``:
    unbounded; ``low_open`` / ``high_open`` exclude the bound) as a value of ``kind``."""
    meta = {"bounds": (lo, hi), "kind": kind, "open": (low_open, high_open), "options": tuple(options),
            "length": length}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def check_fields(obj: Any, default_where: str) -> None:
    """Check and normalise every :func:`bounded` field of the frozen dataclass ``obj``, in place;
    keys read ``<where>.<field>`` (``where`` set by :func:`built`, else ``default_where``)."""
    where = _WHERE.get() or default_where
    for f in dataclasses.fields(obj):
        if "bounds" not in f.metadata:
            continue
        meta = f.metadata
        name = f"{where}.{f.name}" if where else f.name
        object.__setattr__(obj, f.name, _check(getattr(obj, f.name), name, meta))


def _check(value: Any, name: str, meta: Mapping[str, Any]) -> Any:
    kind, (lo, hi), (low_open, high_open) = meta["kind"], meta["bounds"], meta["open"]
    if callable(kind):
        return kind(value, name, lo, hi)
    if kind in ("number", "int"):
        return number(value, name, lo, hi, integer=kind == "int", low_open=low_open, high_open=high_open)
    if kind in ("numbers", "ints"):
        return numbers(value, name, lo, hi, integer=kind == "ints", low_open=low_open, high_open=high_open,
                       length=meta["length"])
    if kind == "range":
        return span(value, name, lo, hi)
    if kind == "choice":
        return choice(value, name, meta["options"])
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}.")
        return value
    raise TypeError(f"unknown kind of config value {kind!r} for {name}")


def built(cls: type, where: str, **kw: Any) -> Any:
    """``cls(**kw)``, its errors naming ``where`` (e.g. ``liver_metastasis.appearance.portal``)."""
    token = _WHERE.set(where)
    try:
        return cls(**kw)
    finally:
        _WHERE.reset(token)


def interval(lo: float | None, hi: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """The allowed values as words: ``in [0, 1]``, ``in (0, 1]``, ``>= 0``, ``< 1``."""
    if lo is not None and hi is not None:
        return f"in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
    if lo is not None:
        return f"{'>' if low_open else '>='} {lo}"
    if hi is not None:
        return f"{'<' if high_open else '<='} {hi}"
    return "a number"


def _inside(x: float, lo: float | None, hi: float | None, low_open: bool, high_open: bool) -> bool:
    if lo is not None and (x < lo or (low_open and x == lo)):
        return False
    return hi is None or not (x > hi or (high_open and x == hi))


def number(value: Any, name: str, lo: float | None = None, hi: float | None = None, *, integer: bool = False,
           low_open: bool = False, high_open: bool = False) -> Any:
    """``value`` as a float (an int where ``integer``), checked against the range."""
    what = "a whole number" if integer else "a number"
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be {what}, got {value!r}.")
    if integer and isinstance(value, int):
        out: float | int = int(value)
    else:
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {what}, got {value!r}.") from None
        if math.isnan(out) or (integer and not out.is_integer()):
            raise ConfigError(f"{name} must be {what}, got {value!r}.")
        if integer:
            out = int(out)
    if not _inside(out, lo, hi, low_open, high_open):
        raise ConfigError(f"{name} must be {interval(lo, hi, low_open, high_open)}, got {out}.")
    return out


def numbers(value: Any, name: str, lo: float | None = None, hi: float | None = None, *, integer: bool = False,
            low_open: bool = False, high_open: bool = False, length: int | None = None) -> tuple:
    """A non-empty list of numbers (ints where ``integer``), each in the range, as a tuple."""
    what = "whole numbers" if integer else "numbers"
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name} must be a list of {what}, got {value!r}.")
    items = list(value)
    if not items or (length is not None and len(items) != length):
        size = f"{length} {what}" if length is not None else f"a non-empty list of {what}"
        raise ConfigError(f"{name} must be {size}, got {items!r}.")
    try:
        out = tuple(number(v, name, integer=integer) for v in items)
    except ConfigError:
        raise ConfigError(f"{name} must be a list of {what}, got {items!r}.") from None
    if not all(_inside(v, lo, hi, low_open, high_open) for v in out):
        raise ConfigError(f"{name} must hold {what} {interval(lo, hi, low_open, high_open)}, got {list(out)}.")
    return out


def span(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> tuple[float, float]:
    """A range ``[low, high]`` (a number ``x`` stands for ``[x, x]``) within ``[lo, hi]``."""
    if isinstance(value, (int, float)):
        value = (value, value)
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a range [low, high], got {value!r}.") from None
    if math.isnan(a) or math.isnan(b):
        raise ConfigError(f"{name} must be a range [low, high] of numbers, got {value!r}.")
    if a > b:
        raise ConfigError(f"{name}: low {a} is above high {b}.", fix="write [low, high].")
    if (lo is not None and a < lo) or (hi is not None and b > hi):
        raise ConfigError(f"{name} = [{a}, {b}] lies outside [{lo}, {hi}].")
    return (a, b)


def choice(value: Any, name: str, options: tuple) -> Any:
    """``value`` if it is one of ``options``."""
    if isinstance(value, bool) or value not in options:
        raise ConfigError(f"{name} must be one of {list(options)}, got {value!r}.")
    return value
