"""Hardware cost model: words on cache lines, a MESI-like line state, and one
service queue per line.

Owns what a memory operation costs and when it takes effect. Shared memory is an
int64 array of words, each mapped to a cache line; sub-word fields (the locked
byte, the pending byte, the tail half-word of a qspinlock) are selected by masks,
so a byte store and a whole-word cmpxchg act on the same line as in the kernel.
A line has either one owner (Modified/Exclusive copy) or a set of sharers. An
access the requester's copy permits is a *hit* (``P_HIT``, plus ``P_RMW`` for a
locked operation) and takes effect at once. A miss joins the line's home queue:
requests are served one at a time, in **random order** among those waiting (a
home that serves strictly in arrival order with fixed timings puts contending
cmpxchg loops into lock-step; the random order is the design sketch's fix). While
a request is being served, the copies it takes away no longer give hits (a snoop in
flight), so an owner cannot keep re-taking a lock another core's request is extracting.
Serving a request occupies the home for a service time uniform on ``[0, 2 P_SERVICE]``
(arbitration jitter; fixed timings put cmpxchg retry loops into lock-step with the
holder's period, so one task never won) plus, when ownership or
a Modified copy moves, the non-overlapped part ``(1 - P_OVERLAP)`` of the transfer
latency (a second transfer of a Modified line cannot start before the first
arrives, unless the interconnect pipelines them) and, for a locked RMW, ``P_RMW``
(the line stays locked in the new owner's L1). The operation takes effect
(serialization point) when the home frees; the requester continues after the full
transfer latency, same-socket ``P_XSAME`` or cross-socket ``P_XCROSS`` depending on
where the data comes from, or ``P_SHARED`` for a read of a line only held shared and
for the upgrade of the requester's own shared copy on one socket (no data moves; the
inclusive LLC invalidates the other copies).
A write (and a failed cmpxchg, which still takes ownership) invalidates all other
copies and wakes the spinners parked on the line (spin.py). Plain stores go
through a one-entry store buffer: the vCPU continues while the RFO is in flight
and drains the buffer before its next store, locked operation or access to that
line. (Issuing a younger store's RFO early, as x86 cores do, was tried: the early
invalidation makes the spinner on that line re-read in between, so it did not shorten
the MCS handoff; not kept.)
Memory is sequentially consistent at the serialization points.
"""

from __future__ import annotations

from numba import njit

from .core import tm_set
from .rand import bounded_int, uniform
from .state import (
    F_PARK_T0,
    G_HITS,
    G_HOLDER,
    G_REL_WAITERS,
    G_REQS,
    G_RMW,
    G_SHARED_READS,
    G_STATUS,
    G_WAITERS,
    G_WAKES,
    G_XFER_CROSS,
    G_XFER_SAME,
    GF_LAST_REL,
    ITERS,
    M_DRAIN,
    M_PARKED,
    M_REREAD,
    MODE,
    NF,
    OP_AND,
    OP_CMPXCHG,
    OP_LOAD,
    OP_OR,
    OP_STORE,
    OP_XADD,
    OP_XCHG,
    P_HIT,
    P_OVERLAP,
    P_PAUSE,
    P_PV_ITER,
    P_RMW,
    P_SERVICE,
    P_SHARED,
    P_XCROSS,
    P_XSAME,
    SB_REQ,
    SOCKET,
    ST_MUTEX,
    WATCH,
)

# shared memory mem[w, ...]: the word's value and the cache line it lives on
MEM_VAL = 0
MEM_LINE = 1
NMEM = 2

# line state L[l, ...]
L_OWNER = 0  # vCPU with the Modified/Exclusive copy, or -1
L_CUR = 1  # request in service, or -1
L_QLEN = 2  # requests waiting
L_WSEQ = 3  # writes so far (a spinner checks it did not miss one)
L_ARRIVE_PS = 4  # when the current owner received the line (ps): its snoop window
NL = 5
# then, in the same row (one array: every array argument costs refcount work per call):
L_SH0 = NL  # L[l, L_SH0 + u] = 1 if vCPU u holds a shared copy (n columns)
# L[l, L_SH0 + n + q]: request id waiting at position q of the line's queue (2n columns)

# request table R[r, ...]; r = v for a blocking op, n + v for a buffered store
R_OP = 0
R_WORD = 1
R_MASK = 2
R_VAL = 3
R_EXP = 4
R_V = 5
R_BUFFERED = 6
R_REL = 7
R_RES = 8
R_OK = 9
R_WSEQ = 10
NR = 11
# request times live in F (one array fewer to pass): F[r, RF_*] for r in 0..2n-1, in
# columns after the per-vCPU F_* columns (rows >= n use only these columns, and row n's
# first columns hold the global floats GF_*)
RF_RESUME = NF  # time the requester continues
RF_SNOOP = NF + 1  # time the request's snoop/invalidation reaches the current holders
NRF = 2


@njit(cache=True, _nrt=False, inline='always')
def is_locked_op(op):
    return op >= OP_XADD  # XADD, CMPXCHG, XCHG, OR, AND


@njit(cache=True, _nrt=False, inline='always')
def iter_ns(P):
    """Cost of one spin-loop iteration: a cached load plus PAUSE (cpu_relax), plus the
    PV checks a PV lock's loop runs (``P_PV_ITER``, 0 for native locks)."""
    return P[P_HIT] + P[P_PAUSE] + P[P_PV_ITER]


@njit(cache=True, _nrt=False, inline='always')
def is_hit(L, R, F, line, v, op, now):
    """Does v's copy permit ``op`` now? Not while another core's request for the line
    is being served and takes that copy away: an invalidation (a write request) removes
    every copy, a read of a Modified line removes the owner's right to write, from the
    moment the snoop reaches the holders (``RF_SNOOP``). (Without this an owner would
    keep hitting on a line a snoop is already extracting, and one task could monopolize
    the lock.)"""
    cur = L[line, L_CUR]
    if cur >= 0 and R[cur, R_V] != v and now >= F[cur, RF_SNOOP]:
        if R[cur, R_OP] != OP_LOAD:
            return False
        if op != OP_LOAD:
            return False
    if op == OP_LOAD:
        return L[line, L_OWNER] == v or L[line, L_SH0 + v] != 0
    return L[line, L_OWNER] == v


@njit(cache=True, _nrt=False, inline='always')
def wake_watchers(I, F, line, writer, now, at, P, rng, TF, TI, G):
    """An invalidation reaches every spinner parked on ``line`` at time ``at`` (>= now):
    each re-reads at its next loop iteration (a uniform phase within one iteration);
    its load misses and queues behind the write at the line's home."""
    n = I.shape[0]
    it = iter_ns(P)
    for u in range(n):
        if I[u, WATCH] == line and u != writer and I[u, MODE] == M_PARKED:
            I[u, WATCH] = -1
            t = at + uniform(rng) * it
            I[u, ITERS] += int((t - F[u, F_PARK_T0]) / it)
            F[u, F_PARK_T0] = t
            I[u, MODE] = M_REREAD
            G[G_WAKES] += 1
            tm_set(TF, TI, u, t)


@njit(cache=True, _nrt=False, inline='always')
def apply_effect(r, now, I, F, mem, L, R, P, rng, TF, TI, G):
    """Serialization point of request ``r``: update memory, line state, watchers."""
    w = R[r, R_WORD]
    m = R[r, R_MASK]
    op = R[r, R_OP]
    v = R[r, R_V]
    line = mem[w, MEM_LINE]
    old = mem[w, MEM_VAL]
    ok = 1
    write = True
    if op == OP_LOAD:
        write = False
    elif op == OP_STORE or op == OP_XCHG:
        mem[w, MEM_VAL] = (old & ~m) | (R[r, R_VAL] & m)
    elif op == OP_XADD:
        mem[w, MEM_VAL] = old + R[r, R_VAL]
    elif op == OP_OR:
        mem[w, MEM_VAL] = old | R[r, R_VAL]
    elif op == OP_AND:
        mem[w, MEM_VAL] = old & R[r, R_VAL]
    elif op == OP_CMPXCHG:
        if (old & m) == R[r, R_EXP]:
            mem[w, MEM_VAL] = (old & ~m) | (R[r, R_VAL] & m)
        else:
            ok = 0
    R[r, R_RES] = old
    R[r, R_OK] = ok
    if write:
        n = I.shape[0]
        for u in range(n):
            L[line, L_SH0 + u] = 0
        L[line, L_OWNER] = v
        L[line, L_WSEQ] += 1
        if R[r, R_REL] != 0 and ok != 0:
            if G[G_HOLDER] != v:
                G[G_STATUS] = ST_MUTEX
            G[G_HOLDER] = -1
            F[I.shape[0], GF_LAST_REL] = now
            G[G_REL_WAITERS] = G[G_WAITERS]
        wake_watchers(I, F, line, v, now, now, P, rng, TF, TI, G)
    else:
        own = L[line, L_OWNER]
        if own >= 0 and own != v:
            L[line, L_SH0 + own] = 1
            L[line, L_OWNER] = -1
        if L[line, L_OWNER] != v:
            L[line, L_SH0 + v] = 1
    R[r, R_WSEQ] = L[line, L_WSEQ]


@njit(cache=True, _nrt=False, inline='always')
def start_service(r, now, I, F, mem, L, R, P, rng, TF, TI, G, n):
    """Begin serving request ``r`` at the line home: fix its occupancy and latency."""
    w = R[r, R_WORD]
    line = mem[w, MEM_LINE]
    v = R[r, R_V]
    op = R[r, R_OP]
    own = L[line, L_OWNER]
    mysock = I[v, SOCKET]
    moving = False  # a Modified copy or ownership moves between cores
    if own >= 0 and own != v:
        moving = True
        if I[own, SOCKET] == mysock:
            lat = P[P_XSAME]
            G[G_XFER_SAME] += 1
        else:
            lat = P[P_XCROSS]
            G[G_XFER_CROSS] += 1
    elif op != OP_LOAD:
        # read-for-ownership of a line held shared: invalidate the sharers; the data
        # comes from the nearest copy (same socket if any sharer is there)
        moving = True
        cross = True
        anyone = False
        for u in range(n):
            if L[line, L_SH0 + u] != 0 and u != v:
                anyone = True
                if I[u, SOCKET] == mysock:
                    cross = False
        if anyone and cross:
            lat = P[P_XCROSS]
            G[G_XFER_CROSS] += 1
        elif anyone and L[line, L_SH0 + v] != 0:
            # upgrade of our own shared copy: no data moves, the inclusive LLC
            # invalidates the other (same-socket) copies: one LLC round trip
            lat = P[P_SHARED]
            G[G_XFER_SAME] += 1
        elif anyone:
            lat = P[P_XSAME]
            G[G_XFER_SAME] += 1
        else:
            lat = P[P_SHARED]
            G[G_SHARED_READS] += 1
    else:
        lat = P[P_SHARED]
        G[G_SHARED_READS] += 1
    # the home's service time is random around its mean (ring/queue arbitration):
    # uniform on [0, 2 P_SERVICE]. Fixed timings let a failing cmpxchg retry loop
    # resonate with the holder's lock/unlock period (lock-step: one task never wins).
    svc = 2.0 * P[P_SERVICE] * uniform(rng)
    occ = svc
    extra = 0.0
    if is_locked_op(op):
        extra = P[P_RMW]
    if moving:
        occ += (1.0 - P[P_OVERLAP]) * lat + extra
    L[line, L_CUR] = r
    F[r, RF_RESUME] = now + svc + lat + extra
    # the snoop reaches the holder after the home's lookup, and never before the holder
    # has received the line and had one hit time to use it (the operation it asked for
    # completes; an immediate retry of a failed cmpxchg wins): no lock-step livelock.
    snoop = now + svc
    held = L[line, L_ARRIVE_PS] * 1e-3 + P[P_HIT]
    if held > snoop:
        snoop = held
    F[r, RF_SNOOP] = snoop
    if moving:
        L[line, L_ARRIVE_PS] = int((now + svc + lat + extra) * 1e3)
    if op != OP_LOAD:
        # the invalidation reaches parked spinners with the snoop, before the write
        # takes effect; their re-reads queue behind it (spinners parked later are
        # woken at the effect)
        wake_watchers(I, F, line, v, now, snoop, P, rng, TF, TI, G)
    tm_set(TF, TI, n + line, now + occ)


@njit(cache=True, _nrt=False, inline='always')
def issue(r, now, I, F, mem, L, R, P, rng, TF, TI,
          G, n):
    """Issue request ``r`` (already filled in R). Returns True if it was a hit (the
    effect happened now and RF_RESUME holds the completion time). Inlined, with one
    call site (the event loop, kernel.py): it inlines apply_effect and start_service,
    and a non-inlined call would cost a reference-count pair per array argument."""
    w = R[r, R_WORD]
    line = mem[w, MEM_LINE]
    v = R[r, R_V]
    op = R[r, R_OP]
    if is_locked_op(op):
        G[G_RMW] += 1
    if is_hit(L, R, F, line, v, op, now):
        G[G_HITS] += 1
        apply_effect(r, now, I, F, mem, L, R, P, rng, TF, TI,
                     G)
        c = P[P_HIT]
        if is_locked_op(op):
            c += P[P_RMW]
        F[r, RF_RESUME] = now + c
        return True
    G[G_REQS] += 1
    if L[line, L_CUR] < 0:
        start_service(r, now, I, F, mem, L, R, P, rng, TF, TI, G, n)
    else:
        q = L[line, L_QLEN]
        L[line, L_SH0 + n + q] = r
        L[line, L_QLEN] = q + 1
    return False


@njit(cache=True, _nrt=False, inline='always')
def line_done(line, now, I, F, mem, L, R, P, rng, TF, TI, G, n):
    """The home finished serving the current request of ``line``: apply it, hand the
    requester its continuation, and start a random one of the waiting requests.
    Returns the finished request id."""
    r = L[line, L_CUR]
    apply_effect(r, now, I, F, mem, L, R, P, rng, TF, TI,
                 G)
    L[line, L_CUR] = -1
    v = R[r, R_V]
    if R[r, R_BUFFERED] != 0:
        I[v, SB_REQ] = -1
        if I[v, MODE] == M_DRAIN:
            tm_set(TF, TI, v, now)
    else:
        tm_set(TF, TI, v, F[r, RF_RESUME])
    q = L[line, L_QLEN]
    if q > 0:
        j = bounded_int(rng, 0, q)
        r2 = L[line, L_SH0 + n + j]
        L[line, L_SH0 + n + j] = L[line, L_SH0 + n + q - 1]
        L[line, L_QLEN] = q - 1
        start_service(r2, now, I, F, mem, L, R, P, rng, TF, TI, G, n)
    return r
