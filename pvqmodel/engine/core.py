"""Event core: the pending-event set with deterministic (time, seq) ordering.

Owns time. There is one timer slot per vCPU, one per cache line (the line's service
completion), one per pCPU (its quantum end, with a schedule) and one per vCPU's store
buffer (the drain, under x86-TSO with a drain delay); a slot holds at most one pending
event, so rescheduling, cancelling or postponing (the PV layer postpones the timers of
a preempted vCPU) overwrites the slot. Two interchangeable implementations sit behind
the same four functions (:func:`tm_set`, :func:`tm_clear`, :func:`tm_get`,
:func:`tm_pop`): a dense array scanned for its minimum, for the few slots of a small
dedicated VM, and a calendar queue (Brown 1988) of the near-future slots. Ties in time
are broken by the sequence number given when the event was set, so the order of events
never depends on the implementation.

The calendar is built for how the engine uses timers (issue 12: flat cost per event to
256 vCPUs). (1) *A horizon*: only slots armed at or before the horizon are in the
calendar; later ones ("far": parked spinners' budget and PLE deadlines, quantum ends)
wait outside it, so re-arming them costs nothing. When the calendar runs empty the
horizon moves to the earliest far time plus a width, and the far slots within it enter
(an O(slots) scan; the width doubles when these refills come more often than once per
slots/4 pops, so they cost O(1) per event, and halves when more than 4 x slots pops
pass between two). (2) *Buckets*: the span up to the horizon is cut into as many
buckets as there are slots (rounded up to a power of two); each holds its slots in an
unordered doubly linked list, so arming, moving and cancelling a slot are O(1), and a
pop takes the earliest (time, seq) of the first non-empty bucket from where the last
pop was (a bucket holds about one slot: measured 0.2-0.9 extra slots compared and 1-2
empty buckets skipped per pop, from 8 to 256 vCPUs and in the 2-VM host case). A burst
crowds one bucket (a ticket release wakes every parked waiter, and all re-read within
one spin iteration: at 256 vCPUs, hundreds of slots within a few ns): a pop that finds
more than ``CROWD`` slots in its bucket shrinks the horizon to their latest time (later
slots go far) and spreads them over all the buckets, ``_refine`` (without it the
dedicated ticket lock at N = 256 ran 1.7x slower than under the heap). It replaced an
indexed binary heap of the same near slots, whose sifts cost log(slots) mispredicted
comparisons per change: at 256 vCPUs under overcommit 2 with PLE the calendar is 21-31 %
faster per event, at 8 vCPUs 2-12 %, in the 2-VM host case 8 %.
(3) *Deferred*: ``tm_set`` and ``tm_clear`` only write the slot and note it as changed;
``tm_pop`` files the changed slots, then pops. So all calendar code is inlined at one
place (``tm_pop`` has one call site, the event loop): ``tm_set`` is called at ~40 places
(a small function with an explicit signature, sigs.py, which LLVM inlines), and a
``tm_pop`` behind a call (explicit signature, no NRT) cost 10-15 % per event. A slot's
bucket is a monotone function of its time, so the first non-empty bucket holds the
earliest event; a slot set before the last popped event's time (never in a run, but
the tests do it) goes to that event's bucket and so fires next, as it must. All timer
state lives in two arrays, ``TF`` (floats) and ``TI`` (integers), laid out below:
every array argument costs typing and compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .sigs import F1, I1, INNER, b1, f8, i8, void

TM_DENSE = 0
TM_CAL = 1

# TI = [header (NTMM) | slot seq | next in its bucket | previous in its bucket | bucket of
#       each slot (-1 not armed, FAR beyond the horizon) | changed slots (a list) |
#       changed flag], each block n_slots long, then the bucket heads (n_buckets)
# TF = [slot time | base, bucket rate, horizon, width (NTMF)]
TMM_MODE = 0
TMM_SEQ = 1  # next sequence number
TMM_NEAR = 2  # armed slots within the horizon (in a bucket)
TMM_NSLOTS = 3  # number of slots
TMM_POPS = 4  # pops since the last refill from the far slots
TMM_NCHG = 5  # slots changed since the last pop (calendar mode)
TMM_NB = 6  # number of buckets (a power of two)
TMM_CUR = 7  # the bucket of the last popped event: no armed slot is in an earlier one
TMM_REFINED = 8  # 1 if a crowded bucket was spread (_refine) since the last refill
NTMM = 9
TMF_BASE = 0  # TF[n_slots + ...]: time at which bucket 0 starts
TMF_RATE = 1  # buckets per ns (n_buckets / width)
TMF_HORIZON = 2  # slots armed at t <= horizon are in a bucket
TMF_WIDTH = 3  # the next horizon is the earliest far time plus this width, ns
NTMF = 4
#: first horizon width, ns (adapted at each refill, see _refill)
HORIZON_NS0 = 1000.0
FAR = -2  # bucket of an armed slot beyond the horizon
#: a pop that finds more slots than this in its bucket spreads them over the buckets
CROWD = 32

INF = np.inf


def n_buckets(n_slots: int) -> int:
    """Buckets of the calendar for ``n_slots`` slots: the power of two at or above
    ``n_slots`` (Python side)."""
    return 1 << max(int(n_slots) - 1, 0).bit_length()


def tm_float_size(n_slots: int) -> int:
    """Length of ``TF`` for ``n_slots`` slots (Python side)."""
    return n_slots + NTMF


def tm_int_size(n_slots: int) -> int:
    """Length of ``TI`` for ``n_slots`` slots (Python side)."""
    return NTMM + 6 * n_slots + n_buckets(n_slots)


def tm_alloc(n_slots: int, mode: int):
    """Allocate the timer arrays ``(TF, TI)`` for ``n_slots`` slots (Python side)."""
    TF = np.full(tm_float_size(n_slots), np.inf)
    TI = np.full(tm_int_size(n_slots), -1, dtype=np.int64)
    TI[:NTMM] = 0
    TI[TMM_MODE] = mode
    TI[TMM_NSLOTS] = n_slots
    TI[TMM_NB] = n_buckets(n_slots)
    return TF, TI


@njit(cache=True, _nrt=False)
def tm_reset(TF, TI):
    ns = TI[TMM_NSLOTS]
    TF[:ns] = INF
    TI[NTMM:NTMM + 5 * ns] = -1
    TI[NTMM + 5 * ns:NTMM + 6 * ns] = 0  # changed flags
    TI[NTMM + 6 * ns:NTMM + 6 * ns + TI[TMM_NB]] = -1  # empty buckets
    TI[TMM_SEQ] = 0
    TI[TMM_NEAR] = 0
    TI[TMM_POPS] = 0
    TI[TMM_NCHG] = 0
    TI[TMM_CUR] = 0
    TI[TMM_REFINED] = 0
    TF[ns + TMF_BASE] = 0.0
    TF[ns + TMF_RATE] = TI[TMM_NB] / HORIZON_NS0
    TF[ns + TMF_HORIZON] = 0.0
    TF[ns + TMF_WIDTH] = HORIZON_NS0


#: calendar code indexes with unsigned integers: numba wraps a signed index around (adds
#: the length if negative) at every access, and in the event loop the lengths live on
#: the stack, so each access cost a load and three instructions more (issue 12)
U = np.uint64
U0 = U(0)
U1 = U(1)


@njit(b1(f8, i8, f8, i8), **INNER)
def _earlier(t, q, t2, q2):
    """(t, q) before (t2, q2): the event order, time then sequence number."""
    return t < t2 or (t == t2 and q < q2)


@njit(**INNER, forceinline=True)
def _link(TI, ns, i, b):
    """Put slot ``i`` at the head of bucket ``b`` (``ns``: the slot count, unsigned)."""
    hn = U(NTMM) + ns  # next
    hh = hn + U(5) * ns  # bucket heads
    ui = U(i)
    h = TI[hh + U(b)]
    TI[hn + ui] = h
    TI[hn + ns + ui] = -1
    if h >= 0:
        TI[hn + ns + U(h)] = i
    TI[hh + U(b)] = i
    TI[hn + ns + ns + ui] = b
    TI[TMM_NEAR] += 1


@njit(**INNER, forceinline=True)
def _unlink(TI, ns, i, b):
    """Take slot ``i`` out of bucket ``b``; it is left not armed (-1)."""
    hn = U(NTMM) + ns
    ui = U(i)
    nx = TI[hn + ui]
    pv = TI[hn + ns + ui]
    if pv >= 0:
        TI[hn + U(pv)] = nx
    else:
        TI[hn + U(5) * ns + U(b)] = nx
    if nx >= 0:
        TI[hn + ns + U(nx)] = pv
    TI[hn + ns + ns + ui] = -1
    TI[TMM_NEAR] -= 1


@njit(**INNER, forceinline=True)
def _bucket(TF, TI, ns, t):
    """Bucket of time ``t`` (within the horizon): monotone in ``t``, and never before the
    last popped event's bucket nor past the last bucket."""
    x = (t - TF[ns + U(TMF_BASE)]) * TF[ns + U(TMF_RATE)]
    cur = TI[TMM_CUR]
    if x < cur:  # (also a time before the base: a slot set in the past fires next)
        return cur
    b = np.int64(x)
    nb1 = TI[TMM_NB] - 1
    return b if b < nb1 else nb1


@njit(**INNER)
def _refill(TF, TI):
    """No slot is within the horizon: move the horizon to the earliest far time plus the
    width and put every far slot within it into its bucket. The width doubles first if
    fewer than a quarter of the slots were popped since the last refill (refills then
    cost O(1) per event), and halves if more than four times the slots were (the buckets
    then hold about one event each). Returns False if nothing can fire (no far slot: the
    run has no event left). A plain call: it runs rarely."""
    ns = TI[TMM_NSLOTS]
    hw = NTMM + 3 * ns
    m = INF
    for i in range(ns):
        if TI[hw + i] == FAR and TF[i] < m:
            m = TF[i]
    if m == INF:
        return False
    w = TF[ns + TMF_WIDTH]
    pops = TI[TMM_POPS]
    if TI[TMM_REFINED] != 0:  # a burst ended this horizon early, not a short width
        TI[TMM_REFINED] = 0
    elif pops < (ns >> 2):
        w *= 2.0
    elif pops > 4 * ns and w > HORIZON_NS0:
        w *= 0.5
    TF[ns + TMF_WIDTH] = w
    TI[TMM_POPS] = 0
    h = m + w
    TF[ns + TMF_BASE] = m
    TF[ns + TMF_RATE] = TI[TMM_NB] / w
    TF[ns + TMF_HORIZON] = h
    TI[TMM_CUR] = 0
    uns = U(ns)
    for i in range(ns):
        if TI[hw + i] == FAR and TF[i] <= h:
            _link(TI, uns, i, _bucket(TF, TI, uns, TF[i]))
    return True


@njit(b1(F1, I1, i8), **INNER)
def _refine(TF, TI, cur):
    """Bucket ``cur`` (the first non-empty) holds more than ``CROWD`` slots, as after a
    release invalidates hundreds of parked spinners that all re-read within one spin
    iteration: shrink the horizon to its latest time and spread its slots over all the
    buckets (the later buckets' slots go far: they are later than all of these). Returns
    False, and changes nothing, if they all share one time (then only the sequence
    numbers order them). A plain call: it runs rarely."""
    ns = TI[TMM_NSLOTS]
    hn = NTMM + ns
    hw = NTMM + 3 * ns
    hh = NTMM + 6 * ns
    h = TI[hh + cur]
    tmin = INF
    tmax = -INF
    j = h
    while j >= 0:
        t = TF[j]
        tmin = min(tmin, t)
        tmax = max(tmax, t)
        j = TI[hn + j]
    if not tmax > tmin:
        return False
    for i in range(ns):
        if TI[hw + i] > cur:
            TI[hw + i] = FAR
            TI[TMM_NEAR] -= 1
    TI[hh + cur:hh + TI[TMM_NB]] = -1
    TF[ns + TMF_BASE] = tmin
    TF[ns + TMF_RATE] = TI[TMM_NB] / (tmax - tmin)
    TF[ns + TMF_HORIZON] = tmax
    TI[TMM_CUR] = 0
    TI[TMM_REFINED] = 1
    uns = U(ns)
    while h >= 0:
        nx = TI[hn + h]
        TI[TMM_NEAR] -= 1
        _link(TI, uns, h, _bucket(TF, TI, uns, TF[h]))
        h = nx
    return True


@njit(void(I1, i8), **INNER)
def _changed(TI, i):
    """Calendar mode: note slot ``i`` for the next ``tm_pop`` (once)."""
    f = U(NTMM + 5 * TI[TMM_NSLOTS]) + U(i)
    if TI[f] == 0:
        TI[f] = 1
        c = TI[TMM_NCHG]
        TI[U(NTMM + 4 * TI[TMM_NSLOTS]) + U(c)] = i
        TI[TMM_NCHG] = c + 1


@njit(void(F1, I1, i8, f8), cache=True, _nrt=False)
def tm_set(TF, TI, i, t):
    """Schedule slot ``i`` at time ``t`` (replacing whatever it held)."""
    s = TI[TMM_SEQ]
    TI[TMM_SEQ] = s + 1
    TF[U(i)] = t
    TI[U(NTMM) + U(i)] = s
    if TI[TMM_MODE] == TM_CAL:
        _changed(TI, i)


@njit(void(F1, I1, i8), cache=True, _nrt=False)
def tm_clear(TF, TI, i):
    """Cancel slot ``i``."""
    TF[i] = INF
    TI[NTMM + i] = -1
    if TI[TMM_MODE] == TM_CAL:
        _changed(TI, i)


@njit(**INNER, forceinline=True)
def tm_get(TF, i):
    return TF[i]


@njit(cache=True, _nrt=False, forceinline=True)
def tm_pop(TF, TI):
    """Remove and return (slot, time) of the earliest event; (-1, inf) if none. Inlined
    at its one call site (the event loop), with the calendar code."""
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
    un = U(ns)
    hw = U(NTMM) + U(3) * un  # bucket of each slot
    hl = hw + un  # the list of changed slots
    hf = hl + un  # their changed flags
    hh = hf + un  # bucket heads
    horizon = TF[un + U(TMF_HORIZON)]
    # apply the slots changed since the last pop: each is re-armed within the horizon
    # (into its bucket), beyond it (far) or cancelled
    c = U0
    nchg = U(TI[TMM_NCHG])
    while c < nchg:
        i = TI[hl + c]
        c += U1
        ui = U(i)
        TI[hf + ui] = 0
        b = TI[hw + ui]
        t = TF[ui]
        if t <= horizon:  # (the horizon is finite: an earliest far time plus a width)
            nb = _bucket(TF, TI, un, t)
            if nb != b:
                if b >= 0:
                    _unlink(TI, un, i, b)
                _link(TI, un, i, nb)
        else:
            if b >= 0:
                _unlink(TI, un, i, b)
            TI[hw + ui] = FAR if t < INF else -1
    TI[TMM_NCHG] = 0
    if TI[TMM_NEAR] == 0 and not _refill(TF, TI):
        return -1, INF
    TI[TMM_POPS] += 1
    # the earliest slot fires: the first non-empty bucket's earliest; it is cleared
    cur = TI[TMM_CUR]
    while TI[hh + U(cur)] < 0:
        cur += 1
    TI[TMM_CUR] = cur
    i = TI[hh + U(cur)]
    bt = TF[U(i)]
    bq = TI[U(NTMM) + U(i)]
    j = TI[U(NTMM) + un + U(i)]
    k = 0
    while j >= 0:
        uj = U(j)
        tj = TF[uj]
        qj = TI[U(NTMM) + uj]
        if _earlier(tj, qj, bt, bq):
            i = j
            bt = tj
            bq = qj
        j = TI[U(NTMM) + un + uj]
        k += 1
    if k >= CROWD and _refine(TF, TI, cur):
        # (rare) the bucket was spread over the buckets: i is still the earliest, now in
        # the first non-empty one
        cur = TI[hw + U(i)]
        TI[TMM_CUR] = cur
    _unlink(TI, un, i, cur)
    ui = U(i)
    TF[ui] = INF
    TI[U(NTMM) + ui] = -1
    return i, bt
