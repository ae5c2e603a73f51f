"""Random draws on the bit generator: the kernels' only source of randomness.

Owns the draws the engine makes (uniform, exponential, lognormal, bounded integer), each a
scalar computed from the replication's ``numpy.random.BitGenerator`` without allocating
anything, so the kernels compile without numba's reference-counting runtime (NRT; see
kernel.py). Each returns exactly what numba's ``Generator.random()``,
``Generator.exponential(scale)`` and ``Generator.integers(low, high)`` return for the same
generator state, and consumes the same bits: they call the same numba routines
(``numba.np.random``) that those methods call, minus the one-element output array that
``integers`` allocates. The kernels take the *bit* generator (``rng.bit_generator``), not
the ``Generator``: numba wraps a ``Generator`` argument in an NRT meminfo that only NRT
releases, so a kernel compiled without NRT would leak a reference to it on every call.
``tests/test_engine_rand.py`` checks the equality draw for draw.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.np.random.distributions import random_exponential, random_lognormal
from numba.np.random.generator_core import next_double, next_uint32
from numba.np.random.random_methods import bounded_lemire_uint64, buffered_bounded_lemire_uint32


@njit(cache=True, forceinline=True, _nrt=False)
def uniform(bg):
    """A uniform float in [0, 1): ``Generator.random()``."""
    return np.float64(next_double(bg))


@njit(cache=True, forceinline=True, _nrt=False)
def exponential(bg, scale):
    """An exponential variate with mean ``scale``: ``Generator.exponential(scale)``."""
    return random_exponential(bg, scale)


@njit(cache=True, _nrt=False)
def lognormal(bg, mu, sigma):
    """A lognormal variate, ``exp(N(mu, sigma))``: ``Generator.lognormal(mu, sigma)``."""
    return random_lognormal(bg, mu, sigma)


@njit(cache=True, forceinline=True, _nrt=False)
def bounded_int(bg, low, high):
    """An integer uniform in [low, high), ``low < high`` (the caller guarantees it: no
    check, no exception): ``Generator.integers(low, high)`` with its default int64 dtype.
    The branches and casts follow numba's ``random_bounded_uint64_fill`` for one element
    (Lemire's rejection on 32 bits when the range fits, else on 64; a range of one value
    draws nothing)."""
    hi = np.int64(high) - np.int64(1)
    lo = np.int64(low)
    rng = hi - lo
    if rng == 0:
        return lo
    if rng <= 0xFFFFFFFF:
        if rng == 0xFFFFFFFF:
            return np.int64(lo + next_uint32(bg))
        return np.int64(lo + buffered_bounded_lemire_uint32(bg, rng))
    # rng < 2**63 here, so numba's full-range branch (rng == 2**64 - 1) cannot occur
    return np.int64(lo + bounded_lemire_uint64(bg, rng))
