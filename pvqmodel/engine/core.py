"""Event core: the pending-event set with deterministic (time, seq) ordering.

Owns time. There is one timer slot per vCPU and one per cache line (the line's
service completion); a slot holds at most one pending event, so rescheduling,
cancelling or postponing (the PV layer postpones the timers of a preempted vCPU)
is an O(1) overwrite of the slot. Two interchangeable implementations sit behind
the same four functions (:func:`tm_set`, :func:`tm_clear`, :func:`tm_get`,
:func:`tm_pop`): a dense array scanned for its minimum, fastest for the small
slot counts of one VM (up to ~64 slots), and an array binary heap with lazy
deletion (a popped entry counts only if it still matches its slot's (time, seq))
for hundreds of vCPUs. Ties in time are broken by the sequence number given when
the event was set, so the order of events never depends on the implementation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TM_DENSE = 0
TM_HEAP = 1

# meta[...] fields
TMM_MODE = 0
TMM_SEQ = 1  # next sequence number
TMM_HSIZE = 2  # heap size
TMM_HCAP = 3  # heap capacity
TMM_OVERFLOW = 4  # heap had to be rebuilt (count)
NTMM = 5

INF = np.inf


def tm_alloc(n_slots: int, mode: int):
    """Allocate timer arrays for ``n_slots`` slots (Python side)."""
    cap = max(64, 4 * n_slots)
    tt = np.full(n_slots, np.inf)
    ts = np.full(n_slots, -1, dtype=np.int64)
    ht = np.empty(cap)
    hs = np.empty(cap, dtype=np.int64)
    hi = np.empty(cap, dtype=np.int64)
    meta = np.zeros(NTMM, dtype=np.int64)
    meta[TMM_MODE] = mode
    meta[TMM_HCAP] = cap
    return tt, ts, ht, hs, hi, meta


@njit(cache=True)
def tm_reset(tt, ts, meta):
    tt[:] = INF
    ts[:] = -1
    meta[TMM_SEQ] = 0
    meta[TMM_HSIZE] = 0
    meta[TMM_OVERFLOW] = 0


@njit(cache=True, inline='always')
def _less(ta, sa, tb, sb):
    return ta < tb or (ta == tb and sa < sb)


@njit(cache=True, inline='always')
def _heap_push(ht, hs, hi, meta, t, s, i):
    n = meta[TMM_HSIZE]
    k = n
    ht[k] = t
    hs[k] = s
    hi[k] = i
    while k > 0:
        p = (k - 1) >> 1
        if _less(ht[k], hs[k], ht[p], hs[p]):
            ht[k], ht[p] = ht[p], ht[k]
            hs[k], hs[p] = hs[p], hs[k]
            hi[k], hi[p] = hi[p], hi[k]
            k = p
        else:
            break
    meta[TMM_HSIZE] = n + 1


@njit(cache=True, inline='always')
def _heap_pop_top(ht, hs, hi, meta):
    n = meta[TMM_HSIZE] - 1
    ht[0] = ht[n]
    hs[0] = hs[n]
    hi[0] = hi[n]
    meta[TMM_HSIZE] = n
    k = 0
    while True:
        lft = 2 * k + 1
        if lft >= n:
            break
        c = lft
        r = lft + 1
        if r < n and _less(ht[r], hs[r], ht[lft], hs[lft]):
            c = r
        if _less(ht[c], hs[c], ht[k], hs[k]):
            ht[k], ht[c] = ht[c], ht[k]
            hs[k], hs[c] = hs[c], hs[k]
            hi[k], hi[c] = hi[c], hi[k]
            k = c
        else:
            break


@njit(cache=True)
def _heap_rebuild(tt, ts, ht, hs, hi, meta):
    """Drop stale entries: rebuild the heap from the live slots."""
    meta[TMM_HSIZE] = 0
    meta[TMM_OVERFLOW] += 1
    for i in range(tt.shape[0]):
        if tt[i] < INF:
            _heap_push(ht, hs, hi, meta, tt[i], ts[i], i)


@njit(cache=True, inline='always')
def tm_set(tt, ts, ht, hs, hi, meta, i, t):
    """Schedule slot ``i`` at time ``t`` (replacing whatever it held)."""
    s = meta[TMM_SEQ]
    meta[TMM_SEQ] = s + 1
    tt[i] = t
    ts[i] = s
    if meta[TMM_MODE] == TM_HEAP:
        if meta[TMM_HSIZE] >= meta[TMM_HCAP]:
            _heap_rebuild(tt, ts, ht, hs, hi, meta)
        else:
            _heap_push(ht, hs, hi, meta, t, s, i)


@njit(cache=True, inline='always')
def tm_clear(tt, ts, i):
    """Cancel slot ``i`` (a heap entry left behind is discarded when popped)."""
    tt[i] = INF
    ts[i] = -1


@njit(cache=True, inline='always')
def tm_get(tt, i):
    return tt[i]


@njit(cache=True, inline='always')
def tm_pop(tt, ts, ht, hs, hi, meta):
    """Remove and return (slot, time) of the earliest event; (-1, inf) if none."""
    if meta[TMM_MODE] == TM_DENSE:
        best = -1
        bt = INF
        bs = 0
        for i in range(tt.shape[0]):
            t = tt[i]
            if t < bt or (t == bt and t < INF and ts[i] < bs):
                best = i
                bt = t
                bs = ts[i]
        if best >= 0:
            tt[best] = INF
            ts[best] = -1
        return best, bt
    while meta[TMM_HSIZE] > 0:
        t = ht[0]
        s = hs[0]
        i = hi[0]
        _heap_pop_top(ht, hs, hi, meta)
        if tt[i] == t and ts[i] == s:
            tt[i] = INF
            ts[i] = -1
            return i, t
    return -1, INF
