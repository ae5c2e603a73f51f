"""Argument validators shared by every public function and parameter object.

Owns the one rule for what a number is: Python and numpy integers are integers,
Python and numpy floats (and integers) are numbers; ``bool`` and ``numpy.bool_`` are
neither (``True`` is not a count or a time), NaN is never valid and infinity only
where a caller allows it. Every validator returns the value normalized to a plain
Python ``int``/``float``/``bool`` (so a ``numpy.float32`` or ``numpy.int64`` argument
gives the same kernel input as the Python value) and raises ``ValueError`` with the
text ``"<param> must be <kind> in [lo, hi], got <repr>"`` otherwise.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["check_bool", "check_choice", "check_float", "check_instance", "check_int",
           "check_seed"]


def _is_bool(v) -> bool:
    # numpy.bool_ by name: importing numpy here would cost ``pvqmodel --help`` 0.1 s
    return isinstance(v, bool) or (type(v).__module__ == "numpy"
                                   and type(v).__name__ in ("bool_", "bool"))


def check_int(name: str, v, lo: int, hi: int) -> int:
    """``v`` as a Python int in ``[lo, hi]``; Python or numpy integers only."""
    if _is_bool(v) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    iv = int(v)
    if not lo <= iv <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    return iv


def check_float(name: str, v, lo: float, hi: float, *, allow_inf: bool = False) -> float:
    """``v`` as a Python float in ``[lo, hi]``; Python or numpy integers or floats, not
    bool, not NaN, not infinite unless ``allow_inf``."""
    kind = "a number" if allow_inf else "a finite number"
    if _is_bool(v) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name} must be {kind} in [{lo}, {hi}], got {v!r}")
    fv = float(v)
    if math.isnan(fv) or (math.isinf(fv) and not allow_inf) or not lo <= fv <= hi:
        raise ValueError(f"{name} must be {kind} in [{lo}, {hi}], got {v!r}")
    return fv


def check_bool(name: str, v) -> bool:
    """``v`` as a Python bool; ``True``/``False`` (or numpy bools) only, not 0/1."""
    if not _is_bool(v):
        raise ValueError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def check_choice(name: str, v, choices):
    """``v`` if it is one of ``choices`` (compared by equality, same type)."""
    for c in choices:
        if isinstance(v, type(c)) and not _is_bool(v) and v == c:
            return c
    raise ValueError(f"{name} must be one of {tuple(choices)!r}, got {v!r}")


def check_instance(name: str, v, cls, *, none_ok: bool = False):
    """``v`` if it is an instance of ``cls`` (or None when ``none_ok``)."""
    if v is None and none_ok:
        return None
    if not isinstance(v, cls):
        want = cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls)
        raise ValueError(f"{name} must be a {want}{' or None' if none_ok else ''}, "
                         f"got {type(v).__name__} {v!r}")
    return v


#: Root seeds are non-negative 63-bit integers (``SeedSequence`` entropy).
SEED_MAX = 2**63 - 1


def check_seed(name: str, v) -> int:
    """A root seed: an integer in [0, 2^63 - 1]; ``None`` is refused where a function
    promises reproducibility (it would draw fresh OS entropy)."""
    return check_int(name, v, 0, SEED_MAX)
