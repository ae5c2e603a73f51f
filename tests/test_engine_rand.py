"""The engine's allocation-free draws (engine/rand.py) return exactly what numba's
``Generator`` methods return for the same state and leave the same state behind: the
kernels' random streams are unchanged by drawing from the bit generator directly."""

import numpy as np
import pytest
from numba import njit

from pvqmodel.engine.rand import bounded_int, exponential, lognormal, uniform

# Ranges high - low: a single value (no draw), small ones (32-bit Lemire, rejection
# threshold), 2**31, the full 32-bit range (plain next_uint32), and 64-bit Lemire.
RANGES = (1, 2, 3, 7, 10, 255, 1000, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1,
          3 * 2**40 + 5, 2**62 + 3)
LOWS = (0, 5, -7)
N = 20_000  # per (low, range): 14 x 3 x 20 000 = 840 000 draws each way


@njit
def _ours(bg, lows, spans, n, out):
    k = 0
    for a in range(lows.shape[0]):
        for b in range(spans.shape[0]):
            for _ in range(n):
                out[k] = bounded_int(bg, lows[a], lows[a] + spans[b])
                k += 1


@njit
def _numba_generator(rng, lows, spans, n, out):
    k = 0
    for a in range(lows.shape[0]):
        for b in range(spans.shape[0]):
            for _ in range(n):
                out[k] = rng.integers(lows[a], lows[a] + spans[b])
                k += 1


def _pair(seed):
    return np.random.default_rng(seed), np.random.default_rng(seed)


@pytest.mark.parametrize("seed", [0, 12345])
def test_bounded_int_equals_generator_integers(seed):
    lows, spans = np.array(LOWS, np.int64), np.array(RANGES, np.int64)
    a, b = _pair(seed)
    a.random()  # start both streams mid-way through a 64-bit word (PCG64's uint32 buffer)
    b.random()
    m = len(LOWS) * len(RANGES) * N
    ours, ref = np.empty(m, np.int64), np.empty(m, np.int64)
    _ours(a.bit_generator, lows, spans, N, ours)
    _numba_generator(b, lows, spans, N, ref)
    assert np.array_equal(ours, ref)
    assert a.bit_generator.state == b.bit_generator.state
    # the draws are in range and every range is exercised
    lo = np.repeat(np.repeat(lows, len(RANGES)), N)
    hi = lo + np.tile(np.repeat(spans, N), len(LOWS))
    assert ((ours >= lo) & (ours < hi)).all()
    # NumPy's own Generator.integers agrees on the same stream (a few ranges, Python side)
    c, d = _pair(seed + 1)
    for span in (1, 3, 7, 2**31, 2**32 + 1):
        want = [c.integers(5, 5 + span) for _ in range(2000)]
        got = np.empty(2000, np.int64)
        _ours(d.bit_generator, np.array([5], np.int64), np.array([span], np.int64), 2000, got)
        assert got.tolist() == want
    assert c.bit_generator.state == d.bit_generator.state


@njit
def _floats_ours(bg, n, out):
    for i in range(n):
        out[2 * i] = uniform(bg)
        out[2 * i + 1] = exponential(bg, 3.5)


@njit
def _floats_numba(rng, n, out):
    for i in range(n):
        out[2 * i] = rng.random()
        out[2 * i + 1] = rng.exponential(3.5)


def test_uniform_and_exponential_equal_generator_methods():
    a, b = _pair(7)
    ours, ref = np.empty(200_000), np.empty(200_000)
    _floats_ours(a.bit_generator, 100_000, ours)
    _floats_numba(b, 100_000, ref)
    assert np.array_equal(ours, ref)
    assert a.bit_generator.state == b.bit_generator.state


@njit
def _lognormals(bg, mu, sigma, out):
    for k in range(out.shape[0]):
        out[k] = lognormal(bg, mu, sigma)


def test_lognormal_equals_numpy_generator_lognormal():
    """The think-time draw: ``exp(N(mu, sigma))`` as NumPy's ``Generator.lognormal`` gives
    it for the same state, draw for draw, and the same state left behind."""
    a, b = _pair(7)
    ours = np.empty(5000)
    _lognormals(a.bit_generator, 9.0, 0.8, ours)
    assert np.allclose(ours, b.lognormal(9.0, 0.8, 5000), rtol=1e-12, atol=0.0)
    assert a.bit_generator.state == b.bit_generator.state
