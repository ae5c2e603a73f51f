"""Event core: the pending-event set with deterministic (time, seq) ordering.

Owns time. There is one timer slot per vCPU, one per cache line (the line's service
completion), one per pCPU (its quantum end, with a schedule) and one per vCPU's store
buffer (the drain, under x86-TSO with a drain delay); a slot holds at most one pending
event, so rescheduling, cancelling or postponing (the PV layer postpones the timers of
a preempted vCPU) is an O(1) overwrite of the slot. Two interchangeable
implementations sit behind the same four functions (:func:`tm_set`, :func:`tm_clear`,
:func:`tm_get`, :func:`tm_pop`): a dense array scanned for its minimum, fastest for
the small slot counts of one VM (up to ~64 slots), and an array binary heap with lazy
deletion (a popped entry counts only if it still matches its slot's (time, seq)) for
hundreds of vCPUs (its capacity, :func:`tm_capacity`, is fixed; when stale entries
fill it, it is rebuilt from the live slots and ``TMM_OVERFLOW`` counts it: the
``timer_rebuilds`` summary column). Ties in time are broken by the sequence number
given when the event was set, so the order of events never depends on the
implementation. All timer state lives in two arrays, ``TF`` (floats: slot times, then
heap times) and ``TI`` (integers: the ``TMM_*`` header, slot sequence numbers, heap
sequence numbers, heap slot ids), because every array argument costs: under numba's
NRT a reference-count increment and decrement per call (the engine now compiles without
NRT, see kernel.py), and typing and compile time in any case.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TM_DENSE = 0
TM_HEAP = 1

# TI[...] header fields; TI = [header | slot seq (n_slots) | heap seq (cap) | heap slot (cap)]
# TF = [slot time (n_slots) | heap time (cap)]
TMM_MODE = 0
TMM_SEQ = 1  # next sequence number
TMM_HSIZE = 2  # heap size
TMM_HCAP = 3  # heap capacity
TMM_OVERFLOW = 4  # heap had to be rebuilt (count)
TMM_NSLOTS = 5  # number of slots
NTMM = 6

INF = np.inf


def tm_capacity(n_slots: int) -> int:
    """Heap capacity for ``n_slots`` slots: stale entries beyond it trigger a rebuild."""
    return max(64, 4 * n_slots)


def tm_alloc(n_slots: int, mode: int):
    """Allocate the timer arrays ``(TF, TI)`` for ``n_slots`` slots (Python side)."""
    cap = tm_capacity(n_slots)
    TF = np.full(n_slots + cap, np.inf)
    TI = np.full(NTMM + n_slots + 2 * cap, -1, dtype=np.int64)
    TI[:NTMM] = 0
    TI[TMM_MODE] = mode
    TI[TMM_HCAP] = cap
    TI[TMM_NSLOTS] = n_slots
    return TF, TI


@njit(cache=True, _nrt=False)
def tm_reset(TF, TI):
    ns = TI[TMM_NSLOTS]
    TF[:ns] = INF
    TI[NTMM:NTMM + ns] = -1
    TI[TMM_SEQ] = 0
    TI[TMM_HSIZE] = 0
    TI[TMM_OVERFLOW] = 0


@njit(cache=True, _nrt=False, inline='always')
def _less(ta, sa, tb, sb):
    return ta < tb or (ta == tb and sa < sb)


@njit(cache=True, _nrt=False, inline='always')
def _heap_swap(TF, TI, oht, ohs, ohi, a, b):
    """Swap heap entries a and b in the three parallel columns (time, seq, slot)."""
    TF[oht + a], TF[oht + b] = TF[oht + b], TF[oht + a]
    TI[ohs + a], TI[ohs + b] = TI[ohs + b], TI[ohs + a]
    TI[ohi + a], TI[ohi + b] = TI[ohi + b], TI[ohi + a]


@njit(cache=True, _nrt=False)
def _heap_push(TF, TI, t, s, i):
    ns = TI[TMM_NSLOTS]
    oht = ns  # heap times in TF
    ohs = NTMM + ns  # heap seqs in TI
    ohi = ohs + TI[TMM_HCAP]  # heap slot ids in TI
    n = TI[TMM_HSIZE]
    k = n
    TF[oht + k] = t
    TI[ohs + k] = s
    TI[ohi + k] = i
    while k > 0:
        p = (k - 1) >> 1
        if _less(TF[oht + k], TI[ohs + k], TF[oht + p], TI[ohs + p]):
            _heap_swap(TF, TI, oht, ohs, ohi, k, p)
            k = p
        else:
            break
    TI[TMM_HSIZE] = n + 1


@njit(cache=True, _nrt=False)
def _heap_pop_top(TF, TI):
    ns = TI[TMM_NSLOTS]
    oht = ns
    ohs = NTMM + ns
    ohi = ohs + TI[TMM_HCAP]
    n = TI[TMM_HSIZE] - 1
    TF[oht] = TF[oht + n]
    TI[ohs] = TI[ohs + n]
    TI[ohi] = TI[ohi + n]
    TI[TMM_HSIZE] = n
    k = 0
    while True:
        lft = 2 * k + 1
        if lft >= n:
            break
        c = lft
        r = lft + 1
        if r < n and _less(TF[oht + r], TI[ohs + r], TF[oht + lft], TI[ohs + lft]):
            c = r
        if _less(TF[oht + c], TI[ohs + c], TF[oht + k], TI[ohs + k]):
            _heap_swap(TF, TI, oht, ohs, ohi, k, c)
            k = c
        else:
            break


@njit(cache=True, _nrt=False)
def _heap_rebuild(TF, TI):
    """Drop stale entries: rebuild the heap from the live slots."""
    TI[TMM_HSIZE] = 0
    TI[TMM_OVERFLOW] += 1
    for i in range(TI[TMM_NSLOTS]):
        if TF[i] < INF:
            _heap_push(TF, TI, TF[i], TI[NTMM + i], i)


@njit(cache=True, _nrt=False, inline='always')
def tm_set(TF, TI, i, t):
    """Schedule slot ``i`` at time ``t`` (replacing whatever it held)."""
    s = TI[TMM_SEQ]
    TI[TMM_SEQ] = s + 1
    TF[i] = t
    TI[NTMM + i] = s
    if TI[TMM_MODE] == TM_HEAP:
        if TI[TMM_HSIZE] >= TI[TMM_HCAP]:
            _heap_rebuild(TF, TI)
        else:
            _heap_push(TF, TI, t, s, i)


@njit(cache=True, _nrt=False, inline='always')
def tm_clear(TF, TI, i):
    """Cancel slot ``i`` (a heap entry left behind is discarded when popped)."""
    TF[i] = INF
    TI[NTMM + i] = -1


@njit(cache=True, _nrt=False, inline='always')
def tm_get(TF, i):
    return TF[i]


@njit(cache=True, _nrt=False, inline='always')
def tm_pop(TF, TI):
    """Remove and return (slot, time) of the earliest event; (-1, inf) if none."""
    ns = TI[TMM_NSLOTS]
    if TI[TMM_MODE] == TM_DENSE:
        best = -1
        bt = INF
        bs = 0
        for i in range(ns):
            t = TF[i]
            if t < bt or (t == bt and t < INF and TI[NTMM + i] < bs):
                best = i
                bt = t
                bs = TI[NTMM + i]
        if best >= 0:
            TF[best] = INF
            TI[NTMM + best] = -1
        return best, bt
    oht = ns
    ohs = NTMM + ns
    ohi = ohs + TI[TMM_HCAP]
    while TI[TMM_HSIZE] > 0:
        t = TF[oht]
        s = TI[ohs]
        i = TI[ohi]
        _heap_pop_top(TF, TI)
        if TF[i] == t and TI[NTMM + i] == s:
            TF[i] = INF
            TI[NTMM + i] = -1
            return i, t
    return -1, INF
