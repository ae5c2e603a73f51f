"""The event core's timer set against a naive oracle (a dict of armed slots, popped by
min (time, seq)), STUMPY-style: random sequences of set / clear / pop on both the dense
array and the calendar queue with its horizon, with many ties in time (the sequence
number must decide), slots set before the last popped time, and slots armed beyond the
horizon (the far set and its refills); and an engine-like run (time only goes forward,
each popped slot re-armed ahead) whose event density changes, so the horizon's width
both doubles and halves."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from pvqmodel.engine import core


def _calendar_ok(TF, TI):
    """The calendar's invariants, for the slots not changed since the last pop (those are
    filed at the next pop): the bucket lists are consistent doubly linked lists holding
    exactly the slots that say they are in that bucket; no slot is in a bucket before the
    last popped one; buckets are ordered as the events are (a slot earlier in (time, seq)
    is never in a later bucket: what makes the first non-empty bucket's earliest the next
    event); slots within the horizon are in a bucket, later armed ones far. Returns the
    armed slots as the calendar sees them."""
    ns = int(TI[core.TMM_NSLOTS])
    nb = int(TI[core.TMM_NB])
    seq, nxt, prv, where = (core.NTMM + k * ns for k in range(4))
    lst, flag, heads = core.NTMM + 4 * ns, core.NTMM + 5 * ns, core.NTMM + 6 * ns
    assert nb == core.n_buckets(ns) and nb >= ns and nb & (nb - 1) == 0
    changed = set(TI[lst:lst + TI[core.TMM_NCHG]].tolist())
    assert changed == {i for i in range(ns) if TI[flag + i]}
    cur = int(TI[core.TMM_CUR])
    linked = {}
    for b in range(nb):
        i, p = int(TI[heads + b]), -1
        while i >= 0:
            assert TI[prv + i] == p and TI[where + i] == b and i not in linked
            linked[i] = b
            p, i = i, int(TI[nxt + i])
        assert b >= cur or p == -1  # nothing before the last popped event's bucket
    assert len(linked) == TI[core.TMM_NEAR]
    assert set(linked) == {i for i in range(ns) if TI[where + i] >= 0}
    horizon = TF[ns + core.TMF_HORIZON]
    keyed = sorted((TF[i], TI[seq + i], b) for i, b in linked.items() if i not in changed)
    assert all(b1 <= b2 for (_, _, b1), (_, _, b2) in pairwise(keyed))
    assert all(t <= horizon for t, _, _ in keyed)
    far = {i for i in range(ns) if TI[where + i] == core.FAR}
    assert all(horizon < TF[i] < np.inf for i in far - changed)
    return (set(linked) | far) - changed


@pytest.mark.parametrize("mode", [core.TM_DENSE, core.TM_CAL])
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
            # few distinct times (ties are common; often before the last popped one),
            # now and then one far ahead (beyond the horizon), and the horizon's width
            # is varied
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
        if mode == core.TM_CAL:
            seen = _calendar_ok(TF, TI)
            assert seen == {i for i in oracle if not TI[core.NTMM + 5 * ns + i]}


@pytest.mark.parametrize("seed", range(3))
def test_calendar_follows_a_run_whose_density_changes(seed):
    """Time goes forward as in the engine: each popped slot is re-armed ahead (exponential
    gaps, now and then far ahead or cancelled). The mean gap goes 10 ns -> 100 us -> 10 ns,
    so the horizon's width must double (sparse) and halve again (dense); at the end, now
    and then half the slots are re-armed within 5 ns (a burst, as when a release wakes
    hundreds of spinners), crowding one bucket, which must be spread. The pops are the
    oracle's throughout, ties included (times on a 1 ns grid outside the bursts)."""
    rng = np.random.default_rng(100 + seed)
    ns = 300
    TF, TI = core.tm_alloc(ns, core.TM_CAL)
    core.tm_reset(TF, TI)
    oracle, seq, now = {}, 0, 0.0
    widths = [TF[ns + core.TMF_WIDTH]]
    for i in range(ns):
        t = float(rng.integers(0, 100))
        core.tm_set(TF, TI, i, t)
        oracle[i] = (t, seq)
        seq += 1
    shrinks = 0  # pops that spread a crowded bucket (the horizon moves back)
    for step in range(12_000):
        gap = 1e5 if 4_000 <= step < 6_000 else 10.0
        horizon = TF[ns + core.TMF_HORIZON]
        got = core.tm_pop(TF, TI)
        shrinks += TF[ns + core.TMF_HORIZON] < horizon
        want = min(oracle, key=oracle.get)
        assert got == (want, oracle.pop(want)[0])
        now = got[1]
        i = got[0]
        u = rng.random()
        if u < 0.9:
            t = now + float(np.floor(rng.exponential(gap * ns / 30)))
        elif u < 0.98:
            t = now + 1e6 * float(rng.integers(1, 5))  # far ahead: a quantum end
        else:
            continue  # cancelled (not re-armed)
        core.tm_set(TF, TI, i, t)
        oracle[i] = (t, seq)
        seq += 1
        j = int(rng.integers(ns))  # and some other slot is moved (re-armed) too
        if j in oracle and rng.random() < 0.3:
            t = now + float(np.floor(rng.exponential(gap * ns / 30)))
            core.tm_set(TF, TI, j, t)
            oracle[j] = (t, seq)
            seq += 1
        if step >= 9_000 and step % 250 == 125:
            # a release invalidates 150 parked spinners: all re-read within one spin
            # iteration (distinct times: the crowded bucket is spread over the buckets),
            # or, now and then, at one time (only the sequence numbers order them)
            same = step % 1000 == 125
            for j in rng.choice(ns, 150, replace=False).tolist():
                t = now + (2.0 if same else float(rng.uniform(0.0, 5.0)))
                core.tm_set(TF, TI, j, t)
                oracle[j] = (t, seq)
                seq += 1
        if step % 500 == 0 or step % 250 == 126:
            _calendar_ok(TF, TI)
        widths.append(TF[ns + core.TMF_WIDTH])
    w = np.array(widths)
    assert (np.diff(w) > 0).any() and (np.diff(w) < 0).any()
    assert shrinks > 0  # the bursts' crowded buckets were spread
