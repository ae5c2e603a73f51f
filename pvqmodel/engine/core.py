"""Event core: the pending-event set with deterministic (time, seq) ordering.

Owns time. There is one timer slot per vCPU, one per cache line (the line's service
completion), one per pCPU (its quantum end, with a schedule) and one per vCPU's store
buffer (the drain, under x86-TSO with a drain delay); a slot holds at most one pending
event, so rescheduling, cancelling or postponing (the PV layer postpones the timers of
a preempted vCPU) overwrites the slot. Two interchangeable implementations sit behind
the same four functions (:func:`tm_set`, :func:`tm_clear`, :func:`tm_get`,
:func:`tm_pop`): a dense array scanned for its minimum, fastest for the slot counts of
one small VM (up to ~64 slots), and, for hundreds of vCPUs, an indexed binary heap of
the near-future slots. Ties in time are broken by the sequence number given when the
event was set, so the order of events never depends on the implementation.

The heap is built for how the engine uses timers (issue 12: flat cost per event to 256
vCPUs). (1) *Deferred*: ``tm_set`` and ``tm_clear`` only write the slot and note it as
changed; ``tm_pop`` applies the changed slots to the heap, then pops. So all heap code
is inlined at one place (``tm_pop`` has one call site, the event loop): ``tm_set`` is
called at ~40 places (a small function with an explicit signature, sigs.py, which LLVM
inlines), and heap calls that are not inlined cost more per event than the
whole dense scan (measured: a heap behind non-inlined calls ran pv-qspinlock-v10 at
N = 8 2.1x slower than the same heap inlined; with the kernels compiled without NRT,
``tm_pop`` alone behind a call, explicit signature, still cost 10-15 % per event).
(2) *Indexed*: each slot is in the heap at most once and knows its position: re-arming
moves it in place, cancelling removes it, and the heap never holds a stale entry (the
lazy-deletion heap it replaced grew with every re-armed budget timer of the PV locks and
was rebuilt when they filled it).
(3) *A horizon*: only slots armed at or before the horizon are in the heap; later ones
("far": parked spinners' budget and PLE deadlines, quantum ends) wait outside it, so
re-arming them costs no heap work and the heap stays as small as the near future. When
the heap runs empty the horizon moves to the earliest far time plus a width, and the far
slots within it enter the heap (an O(slots) scan: the width doubles whenever these
refills come more often than once per slots/4 pops, so they cost O(1) per event
amortized). Keys (time, seq) are kept in heap order beside the slot ids, so a sift
compares adjacent entries. The heap is binary and sifts down as Floyd did (the hole goes
down to a leaf along the earlier children, one comparison per level, then the entry up):
the comparisons' branches are what a sift costs (mispredicted about half the time), and
this makes fewer of them than a 4-ary heap's three per level (measured: ticket N = 8
-11 %, the 2-VM host -6 % per event; issue 12). All timer state lives
in two arrays, ``TF`` (floats) and ``TI`` (integers), laid out below: every array
argument costs typing and compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .sigs import F1, I1, b1, f8, i8, void

TM_DENSE = 0
TM_HEAP = 1

# TI = [header (NTMM) | slot seq | heap: seq | heap: slot id | heap position of each slot
#       (-1 not armed, FAR beyond the horizon) | changed slots (a list) | changed flag],
#       each block n_slots long
# TF = [slot time | heap: time | horizon, width (NTMF)]
TMM_MODE = 0
TMM_SEQ = 1  # next sequence number
TMM_HSIZE = 2  # heap size (armed slots within the horizon)
TMM_NSLOTS = 3  # number of slots
TMM_POPS = 4  # pops since the last refill of the heap from the far slots
TMM_NCHG = 5  # slots changed since the last pop (heap mode)
NTMM = 6
TMF_HORIZON = 0  # TF[2 n_slots + ...]: slots armed at t <= horizon are in the heap
TMF_WIDTH = 1  # the next horizon is the earliest far time plus this width, ns
NTMF = 2
#: first horizon width, ns (it doubles whenever refills come too often, see _refill)
HORIZON_NS0 = 1000.0
FAR = -2  # heap position of an armed slot beyond the horizon
#: arity of the heap (the sifts below are written for 2; the tests read it)
HEAP_D = 2

INF = np.inf


def tm_float_size(n_slots: int) -> int:
    """Length of ``TF`` for ``n_slots`` slots (Python side)."""
    return 2 * n_slots + NTMF


def tm_int_size(n_slots: int) -> int:
    """Length of ``TI`` for ``n_slots`` slots (Python side)."""
    return NTMM + 6 * n_slots


def tm_alloc(n_slots: int, mode: int):
    """Allocate the timer arrays ``(TF, TI)`` for ``n_slots`` slots (Python side)."""
    TF = np.full(tm_float_size(n_slots), np.inf)
    TI = np.full(tm_int_size(n_slots), -1, dtype=np.int64)
    TI[:NTMM] = 0
    TI[TMM_MODE] = mode
    TI[TMM_NSLOTS] = n_slots
    return TF, TI


@njit(cache=True, _nrt=False)
def tm_reset(TF, TI):
    ns = TI[TMM_NSLOTS]
    TF[:2 * ns] = INF
    TI[NTMM:NTMM + 5 * ns] = -1
    TI[NTMM + 5 * ns:NTMM + 6 * ns] = 0  # changed flags
    TI[TMM_SEQ] = 0
    TI[TMM_HSIZE] = 0
    TI[TMM_POPS] = 0
    TI[TMM_NCHG] = 0
    TF[2 * ns + TMF_HORIZON] = 0.0
    TF[2 * ns + TMF_WIDTH] = HORIZON_NS0


#: heap code indexes with unsigned integers: numba wraps a signed index around (adds the
#: length if negative) at every access, and in the event loop the lengths live on the
#: stack, so each heap access cost a load and three instructions more (issue 12)
U = np.uint64
U0 = U(0)
U1 = U(1)
U2 = U(2)


@njit(b1(f8, i8, f8, i8), cache=True, _nrt=False)
def _earlier(t, q, t2, q2):
    """(t, q) before (t2, q2): the event order, time then sequence number."""
    return t < t2 or (t == t2 and q < q2)


@njit(cache=True, _nrt=False, inline='always')
def _heap_put(TF, TI, ns, k, t, q, i):
    """Write the entry (time ``t``, seq ``q``, slot ``i``) at heap position ``k`` and ``k``
    as slot ``i``'s position (``ns``: the slot count, unsigned)."""
    hq = U(NTMM) + ns
    TF[ns + k] = t
    TI[hq + k] = q
    TI[hq + ns + k] = i
    TI[hq + ns + ns + U(i)] = np.int64(k)


@njit(cache=True, _nrt=False, inline='always')
def _heap_fix(TF, TI, k, t, q, i):
    """Place the entry (time ``t``, seq ``q``, slot ``i``) at heap position ``k`` (a hole
    whose old entry is gone): move it up while it is earlier than its parent; else move
    the hole down to a leaf along the earlier children and the entry up from there
    (Floyd's sift: one comparison per level on the way down)."""
    ns = U(TI[TMM_NSLOTS])
    ht = ns  # heap times, in TF
    hq = U(NTMM) + ns  # heap seqs, in TI
    hs = hq + ns  # heap slot ids
    uk = U(k)
    top = U0  # the entry moves up to here at most
    p = (uk - U1) >> U1  # its parent (unused at the root)
    if uk == U0 or not _earlier(t, q, TF[ht + p], TI[hq + p]):
        # not earlier than its parent: Floyd's hole goes down to a leaf first
        top = uk
        size = U(TI[TMM_HSIZE])
        while True:
            c = U2 * uk + U1
            if c >= size:
                break
            bt = TF[ht + c]
            bq = TI[hq + c]
            if c + U1 < size:
                t2 = TF[ht + c + U1]
                q2 = TI[hq + c + U1]
                if _earlier(t2, q2, bt, bq):
                    c += U1
                    bt = t2
                    bq = q2
            _heap_put(TF, TI, ns, uk, bt, bq, TI[hs + c])
            uk = c
    while uk > top:
        p = (uk - U1) >> U1
        tp = TF[ht + p]
        qp = TI[hq + p]
        if not _earlier(t, q, tp, qp):
            break
        _heap_put(TF, TI, ns, uk, tp, qp, TI[hs + p])
        uk = p
    _heap_put(TF, TI, ns, uk, t, q, i)


@njit(cache=True, _nrt=False)
def _refill(TF, TI):
    """The heap is empty: move the horizon to the earliest far time plus the width and
    put every far slot within it into the heap. If fewer than a quarter of the slots were
    popped since the last refill, the width doubles first. Returns False if nothing can
    fire (no far slot: the run has no event left). A plain call: it runs rarely. (No
    count of far slots is kept to skip the scan in that last case: keeping it cost every
    changed slot a few branches, 5 % per event in the 2-VM host case.)"""
    ns = TI[TMM_NSLOTS]
    hp = NTMM + 3 * ns
    m = INF
    for i in range(ns):
        if TI[hp + i] == FAR and TF[i] < m:
            m = TF[i]
    if m == INF:
        return False
    if TI[TMM_POPS] < (ns >> 2):
        TF[2 * ns + TMF_WIDTH] *= 2.0
    TI[TMM_POPS] = 0
    h = m + TF[2 * ns + TMF_WIDTH]
    TF[2 * ns + TMF_HORIZON] = h
    for i in range(ns):
        if TI[hp + i] == FAR and TF[i] <= h:
            k = TI[TMM_HSIZE]
            TI[TMM_HSIZE] = k + 1
            _heap_fix(TF, TI, k, TF[i], TI[NTMM + i], i)
    return True


@njit(void(I1, i8), cache=True, _nrt=False)
def _changed(TI, i):
    """Heap mode: note slot ``i`` for the next ``tm_pop`` (once)."""
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
    if TI[TMM_MODE] == TM_HEAP:
        _changed(TI, i)


@njit(void(F1, I1, i8), cache=True, _nrt=False)
def tm_clear(TF, TI, i):
    """Cancel slot ``i``."""
    TF[i] = INF
    TI[NTMM + i] = -1
    if TI[TMM_MODE] == TM_HEAP:
        _changed(TI, i)


@njit(cache=True, _nrt=False, inline='always')
def tm_get(TF, i):
    return TF[i]


@njit(cache=True, _nrt=False, inline='always')
def tm_pop(TF, TI):
    """Remove and return (slot, time) of the earliest event; (-1, inf) if none. Inlined
    at its one call site (the event loop), with the heap code."""
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
    hq = U(NTMM) + un
    hs = hq + un
    hp = hs + un
    hl = hp + un  # the list of changed slots
    hf = hl + un  # their changed flags
    horizon = TF[2 * ns + TMF_HORIZON]
    # apply the slots changed since the last pop: each is re-armed within the horizon
    # (into the heap, or moved in place), beyond it (far: out of the heap) or cancelled
    c = U0
    nchg = U(TI[TMM_NCHG])
    while c < nchg:
        i = TI[hl + c]
        c += U1
        ui = U(i)
        TI[hf + ui] = 0
        k = TI[hp + ui]
        t = TF[ui]
        fix = -1  # heap position to (re)fill, with the entry (ft, fq, fi)
        ft = t
        fq = TI[U(NTMM) + ui]
        fi = i
        if t <= horizon:  # (the horizon is finite: an earliest far time plus a width)
            if k < 0:
                k = TI[TMM_HSIZE]
                TI[TMM_HSIZE] = k + 1
            fix = k
        else:
            if k >= 0:  # out of the heap: its last entry fills the hole
                last = TI[TMM_HSIZE] - 1
                TI[TMM_HSIZE] = last
                if k != last:
                    fix = k
                    ul = U(last)
                    ft = TF[un + ul]
                    fq = TI[hq + ul]
                    fi = TI[hs + ul]
            TI[hp + ui] = FAR if t < INF else -1
        if fix >= 0:
            _heap_fix(TF, TI, fix, ft, fq, fi)
    TI[TMM_NCHG] = 0
    if TI[TMM_HSIZE] == 0 and not _refill(TF, TI):
        return -1, INF
    TI[TMM_POPS] += 1
    # the earliest slot fires: it is cleared, and leaves the heap at the next pop (as a
    # changed slot) unless the handler re-arms it first
    i = TI[hs]
    t = TF[un]
    ui = U(i)
    TF[ui] = INF
    TI[U(NTMM) + ui] = -1
    _changed(TI, i)
    return i, t
