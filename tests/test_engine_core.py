"""The event core's timer set against a naive oracle (a dict of armed slots, popped by
min (time, seq)), STUMPY-style: random sequences of set / clear / pop on both the dense
array and the heap with its horizon, with many ties in time (the sequence number must
decide) and slots armed beyond the horizon (the far set and its refills)."""

from __future__ import annotations

import numpy as np
import pytest

from pvqmodel.engine import core


def _heap_ok(TF, TI):
    """The heap property, the keys kept in heap order, the position map and the horizon
    hold; slots changed since the last pop (not yet applied) are left out. Returns the
    armed slots as the heap sees them."""
    ns = int(TI[core.TMM_NSLOTS])
    size = int(TI[core.TMM_HSIZE])
    hq, hs = core.NTMM + ns, core.NTMM + 2 * ns
    hp = hs + ns
    changed = set(TI[hp + ns:hp + ns + TI[core.TMM_NCHG]].tolist())
    assert changed == {i for i in range(ns) if TI[hp + 2 * ns + i]}
    heap = TI[hs:hs + size]
    for k, i in enumerate(heap):
        assert TI[hp + i] == k
        if i not in changed:
            assert (TF[ns + k], TI[hq + k]) == (TF[i], TI[core.NTMM + i])
        if k:
            p = (k - 1) // core.HEAP_D
            assert (TF[ns + p], TI[hq + p]) <= (TF[ns + k], TI[hq + k])
    near = {int(i) for i in heap}
    assert near == {i for i in range(ns) if TI[hp + i] >= 0}
    far = {i for i in range(ns) if TI[hp + i] == core.FAR}
    horizon = TF[2 * ns + core.TMF_HORIZON]
    assert all(TF[i] <= horizon for i in near - changed)
    assert all(horizon < TF[i] < np.inf for i in far - changed)
    return (near | far) - changed


@pytest.mark.parametrize("mode", [core.TM_DENSE, core.TM_HEAP])
@pytest.mark.parametrize("seed", range(8))
def test_timer_set_matches_naive_oracle(mode, seed):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** (seed % 4 - 2)  # far times from 30 ns to 30 us: refills and doubling
    ns = int(rng.integers(1, 40))
    TF, TI = core.tm_alloc(ns, mode)
    core.tm_reset(TF, TI)
    oracle = {}  # slot -> (time, seq)
    seq = 0
    for _ in range(600):
        u = rng.random()
        i = int(rng.integers(ns))
        if u < 0.5:
            # few distinct times (ties are common), now and then one far ahead (beyond
            # the heap's horizon), and the horizon's width is varied
            t = float(rng.integers(0, 8)) + (float(rng.integers(1, 4)) * 3e3 * scale
                                             if rng.random() < 0.3 else 0.0)
            core.tm_set(TF, TI, i, t)
            oracle[i] = (t, seq)
            seq += 1
        elif u < 0.65:
            core.tm_clear(TF, TI, i)
            oracle.pop(i, None)
        else:
            got = core.tm_pop(TF, TI)
            if oracle:
                want = min(oracle, key=oracle.get)
                assert got == (want, oracle.pop(want)[0])
            else:
                assert got[0] == -1 and got[1] == np.inf
        assert {j for j in range(ns) if TF[j] < np.inf} == set(oracle)
        if mode == core.TM_HEAP:
            seen = _heap_ok(TF, TI)
            assert seen == {i for i in oracle if not TI[core.NTMM + 5 * ns + i]}
