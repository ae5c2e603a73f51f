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
through a one-entry store buffer by default: the vCPU continues while the RFO is in
flight and drains the buffer before its next store, locked operation or access to that
line. (Issuing a younger store's RFO early, as x86 cores do, was first tried alone and
did not shorten the MCS handoff; with the other mechanisms below it is the multi-entry
buffer, ``P_SB_ENTRIES``, which does.)
Memory is sequentially consistent at the serialization points.

Switchable mechanisms of ``../shared/reference/coherence-mechanisms.md`` (issue 16), each
off by default (``Hardware``'s defaults give the model above bit for bit), so that the
effect of each can be measured: three latency classes (``P_THREE_CLASS``: an RFO of a
line held Shared costs its own ``P_UPGRADE``, U, beside M = ``P_XSAME`` and S =
``P_SHARED``); same-address serialisation of Shared reads at the home
(``P_READ_SERIAL``, its occupancy per read); snoop timing (``P_SNOOP_FRAC``: the snoop
reaches the holders that fraction of the latency after the home's lookup, still never
before the holder has had its line for one hit time); a uniform relative jitter on
every latency (``P_JITTER``); the start of a locked operation that waited for its
store buffer ``P_LOCKED_GAP`` after the drain (``drained_at``); a locked RMW's time in
the home's occupancy or not (``P_RMW_HOME``); and a multi-entry store buffer
(``P_SB_ENTRIES`` > 1: a younger store's RFO goes out at once as an early RFO,
``OP_PREFW``, which moves the line's ownership but not its value; stores commit in
order, ``sb_pop``; the kernel's ``sb_store``/``sb_waits`` admit stores and hold back
smp_mb, locked ops and loads of a line with a pending entry).
"""

from __future__ import annotations

from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from .core import TMM_NSLOTS, tm_set
from .rand import bounded_int, uniform
from .sigs import I1, I2, INNER, b1, i8, void
from .state import (
    A_MEM,
    A_OP,
    ACT,
    F_ITER,
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
    OP_PREFW,
    OP_STORE,
    OP_XADD,
    OP_XCHG,
    P_HIT,
    P_JITTER,
    P_LOCKED_GAP,
    P_OVERLAP,
    P_PAUSE,
    P_PV_ITER,
    P_READ_SERIAL,
    P_RMW,
    P_RMW_HOME,
    P_SB_ENTRIES,
    P_SERVICE,
    P_SHARED,
    P_SNOOP_FRAC,
    P_THREE_CLASS,
    P_UPGRADE,
    P_XCROSS,
    P_XSAME,
    SB_HEAD,
    SB_LEN,
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
L_QOFF = 5  # where the line's queue starts in the queue pool Q
L_QCAP = 6  # ... and how many requests it has room for there
NL = 7
# then, in the same row (one array fewer to pass), with nw = line_words(n) 64-bit words:
# L[l, NL + k]: bitmap of the vCPUs holding a shared copy (bit u % 64 of word u // 64)
# L[l, NL + nw + k]: bitmap of the vCPUs parked on the line (spin.py); a bit may be stale
#   (the vCPU stopped watching: preempted, PLE exit, budget timeout) and is cleared at the
#   next wake-up of the line, so only parking and waking touch it
# The queues: Q[L[l, L_QOFF] + q] is the request waiting at position q of line l's queue
#   (q < L[l, L_QLEN] <= L[l, L_QCAP]); see queue_size and _queue_grow
# Bitmaps, not one column per vCPU: a write clears nw words and a wake-up visits only the
# set bits, so neither scans all vCPUs (issue 12: flat cost per event to 256 vCPUs).


def line_words(n: int) -> int:
    """64-bit words of one per-vCPU bitmap of a line (Python side)."""
    return (n + 63) >> 6


def line_columns(n: int) -> int:
    """Columns of the line-state array ``L`` for ``n`` vCPUs (Python side; the queues are
    in the pool ``Q``, :func:`queue_size`)."""
    return NL + 2 * line_words(n)


# The lines' queues share one pool, Q (issue 12: engine state O(N + lines); a queue of
# room for every request in each line's row made L O(N^2), 2.6 MB at 256 vCPUs). Q =
# [top, start of the half in use | half A | half B]. A line's queue is a segment of the
# half in use, in queue order (the random pick of line_done is by position, so the
# order is the one the per-row queue had: results are unchanged); a full queue moves to
# a segment of twice its room at the top (_queue_grow). When the half is full, every
# queue is copied, in order, to the other half with room for twice its length (at least
# QUEUE_MIN): a request waits in at most one queue, so that takes at most
# QUEUE_MIN x lines + 2 x requests, and each half is twice that. A copy of the half
# then comes after at least as many entries of growth as it copies: O(1) per request.
QUEUE_MIN = 4
Q_TOP = 0
Q_HALF = 1
NQH = 2


def queue_size(n_lines: int, n_requests: int) -> int:
    """Length of the queue pool ``Q`` (Python side): its header and two halves."""
    return NQH + 2 * 2 * (QUEUE_MIN * n_lines + 2 * n_requests)


@njit(void(I2, I1, i8), **INNER)
def _queue_grow(L, Q, line):
    """``line``'s queue is full: move it to a segment with twice its room (at least
    QUEUE_MIN) at the top of the half in use, after copying every queue to the other
    half if this one has no room left. A plain call: it runs rarely (amortised O(1))."""
    half = (Q.shape[0] - NQH) // 2
    room = max(QUEUE_MIN, 2 * L[line, L_QCAP])
    if Q[Q_TOP] + room > Q[Q_HALF] + half:
        top = NQH + half if Q[Q_HALF] == NQH else NQH
        Q[Q_HALF] = top
        for k in range(L.shape[0]):
            q = L[k, L_QLEN]
            src = L[k, L_QOFF]
            for j in range(q):
                Q[top + j] = Q[src + j]
            L[k, L_QOFF] = top
            L[k, L_QCAP] = max(QUEUE_MIN, 2 * q)
            top += L[k, L_QCAP]
        Q[Q_TOP] = top
        return  # (line's queue now has room: 2q > q, or QUEUE_MIN > 0 = q)
    top = Q[Q_TOP]
    src = L[line, L_QOFF]
    for j in range(L[line, L_QLEN]):
        Q[top + j] = Q[src + j]
    L[line, L_QOFF] = top
    L[line, L_QCAP] = room
    Q[Q_TOP] = top + room


@njit(void(I2, I1, i8, i8), **INNER)
def queue_push(L, Q, line, r):
    """Request ``r`` joins the end of ``line``'s queue."""
    q = L[line, L_QLEN]
    if q == L[line, L_QCAP]:
        _queue_grow(L, Q, line)
    Q[L[line, L_QOFF] + q] = r
    L[line, L_QLEN] = q + 1


@njit(i8(I2, I1, i8, i8), **INNER)
def queue_take(L, Q, line, j):
    """Take the request at position ``j`` of ``line``'s queue; the last one takes its
    place (the order line_done's random pick sees)."""
    q = L[line, L_QLEN]
    qb = L[line, L_QOFF]
    r = Q[qb + j]
    Q[qb + j] = Q[qb + q - 1]
    L[line, L_QLEN] = q - 1
    return r

# request table R[r, ...]; r = v for a blocking op, n + v for a buffered store (one-entry
# buffer), sb_row(v, k, ...) for entry k of a multi-entry buffer
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
# a multi-entry store buffer's rows (sb_row): the store's own op and release flag while
# the row carries its early RFO (OP_PREFW), and the entry's state (SBS_*)
R_SOP = 11
R_SREL = 12
R_SBST = 13
NR = 14
SBS_STORE = 1  # the oldest entry, issued as the store itself (its effect commits it)
SBS_PREF = 2  # a younger entry whose early RFO (OP_PREFW) is in flight
SBS_OWNED = 3  # a younger entry whose line was granted (or already owned): commits as a
#               hit when it is the oldest, unless another core took the line meanwhile
SBS_WAIT = 4  # a younger entry behind an older one on the same line: no early RFO
# request times live in F (one array fewer to pass): F[r, RF_*] for every request row, in
# columns after the per-vCPU F_* columns (rows >= n use only these columns, and row n's
# first columns hold the global floats GF_*)
RF_RESUME = NF  # time the requester continues
RF_SNOOP = NF + 1  # time the request's snoop/invalidation reaches the current holders
NRF = 2


@njit(b1(i8), **INNER)
def is_locked_op(op):
    return op >= OP_XADD and op <= OP_AND  # XADD, CMPXCHG, XCHG, OR, AND


@njit(**INNER, forceinline=True)
def iter_ns(P):
    """Cost of one spin-loop iteration: a cached load plus PAUSE (cpu_relax), plus the
    PV checks a PV lock's loop runs (``P_PV_ITER``, 0 for native locks)."""
    return P[P_HIT] + P[P_PAUSE] + P[P_PV_ITER]


@njit(**INNER, forceinline=True)
def is_sharer(L, line, v):
    return (L[line, NL + (v >> 6)] >> (v & 63)) & 1 != 0


@njit(**INNER, forceinline=True)
def add_sharer(L, line, v):
    L[line, NL + (v >> 6)] |= 1 << (v & 63)


@njit(**INNER, forceinline=True)
def add_watcher(L, line, v, n):
    """v parks on ``line`` (spin.py; ``I[v, WATCH]`` is set by the caller)."""
    L[line, NL + ((n + 63) >> 6) + (v >> 6)] |= 1 << (v & 63)


@njit(**INNER, forceinline=True)
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
        return L[line, L_OWNER] == v or is_sharer(L, line, v)
    return L[line, L_OWNER] == v


@njit(**INNER, forceinline=True)
def wake_watchers(I, F, L, line, writer, at, P, rng, TF, TI, G):
    """An invalidation reaches every spinner parked on ``line`` at time ``at`` (>= now):
    each re-reads at its next loop iteration (a uniform phase within one iteration);
    its load misses and queues behind the write at the line's home. The spinners are
    the set bits of the line's watcher bitmap, visited in increasing vCPU order (the
    order of the random draws and of the timers' sequence numbers); a stale bit (the
    vCPU no longer watches this line) is cleared on the way. Inlined (two copies, in
    apply_effect and start_service): as a plain call it cost pv-qspinlock-v10 at N = 8
    17 % of its events per second (14.3 against 17.1 M/s), for no measurable compile time."""
    n = I.shape[0]
    wb = NL + ((n + 63) >> 6)
    for k in range((n + 63) >> 6):
        x = L[line, wb + k]
        while x != 0:
            low = x & -x
            x ^= low
            u = (k << 6) + trailing_zeros(low)
            if I[u, WATCH] != line:
                L[line, wb + k] &= ~low
            elif u != writer and I[u, MODE] == M_PARKED:
                L[line, wb + k] &= ~low
                I[u, WATCH] = -1
                it = F[u, F_ITER]  # the watcher's own iteration time (its VM's)
                t = at + uniform(rng) * it
                I[u, ITERS] += int((t - F[u, F_PARK_T0]) / it)
                F[u, F_PARK_T0] = t
                I[u, MODE] = M_REREAD
                G[G_WAKES] += 1
                tm_set(TF, TI, u, t)


@njit(**INNER, forceinline=True)
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
    elif op == OP_PREFW:
        pass  # an early RFO: the line's ownership moves, its value does not
    elif op == OP_CMPXCHG:
        if (old & m) == R[r, R_EXP]:
            mem[w, MEM_VAL] = (old & ~m) | (R[r, R_VAL] & m)
        else:
            ok = 0
    R[r, R_RES] = old
    R[r, R_OK] = ok
    if write:
        for k in range((I.shape[0] + 63) >> 6):
            L[line, NL + k] = 0  # every other copy is invalidated
        L[line, L_OWNER] = v
        L[line, L_WSEQ] += 1
        if R[r, R_REL] != 0 and ok != 0:
            if G[G_HOLDER] != v:
                G[G_STATUS] = ST_MUTEX
            G[G_HOLDER] = -1
            F[I.shape[0], GF_LAST_REL] = now
            G[G_REL_WAITERS] = G[G_WAITERS]
        wake_watchers(I, F, L, line, v, now, P, rng, TF, TI, G)
    else:
        own = L[line, L_OWNER]
        if own >= 0 and own != v:
            add_sharer(L, line, own)
            L[line, L_OWNER] = -1
        if L[line, L_OWNER] != v:
            add_sharer(L, line, v)
    R[r, R_WSEQ] = L[line, L_WSEQ]


@njit(**INNER, forceinline=True)
def start_service(r, now, I, F, mem, L, R, P, rng, TF, TI, G, n):
    """Begin serving request ``r`` at the line home: fix its occupancy and latency."""
    w = R[r, R_WORD]
    line = mem[w, MEM_LINE]
    v = R[r, R_V]
    op = R[r, R_OP]
    own = L[line, L_OWNER]
    mysock = I[v, SOCKET]
    moving = False  # a Modified copy or ownership moves between cores
    serial = 0.0  # the home's occupancy by a read served Shared (the S class)
    if own >= 0 and own != v:
        moving = True
        if I[own, SOCKET] == mysock:
            lat = P[P_XSAME]  # M: a line Modified/Exclusive in another core
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
        for k in range((n + 63) >> 6):  # the set bits of the sharer bitmap, v's excluded
            x = L[line, NL + k]
            if k == (v >> 6):
                x &= ~(1 << (v & 63))
            while x != 0 and cross:
                low = x & -x
                x ^= low
                anyone = True
                if I[(k << 6) + trailing_zeros(low), SOCKET] == mysock:
                    cross = False
            if not cross:
                break
        if anyone and cross:
            lat = P[P_XCROSS]
            G[G_XFER_CROSS] += 1
        elif anyone and P[P_THREE_CLASS] != 0.0:
            # U: an RFO that invalidates Shared copies through the inclusive LLC (the
            # core-valid bits), whether or not the requester holds one of them
            lat = P[P_UPGRADE]
            G[G_XFER_SAME] += 1
        elif anyone and is_sharer(L, line, v):
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
        lat = P[P_SHARED]  # S: a read served by the LLC
        serial = P[P_READ_SERIAL]  # same-address reads are serialised at the slice
        G[G_SHARED_READS] += 1
    if P[P_JITTER] > 0.0:
        # issue 16: the liveness randomness from a small latency jitter (ring position,
        # arbitration) rather than a uniform service time
        lat *= 1.0 + P[P_JITTER] * (2.0 * uniform(rng) - 1.0)
    # the home's service time is random around its mean (ring/queue arbitration):
    # uniform on [0, 2 P_SERVICE]. Fixed timings let a failing cmpxchg retry loop
    # resonate with the holder's lock/unlock period (lock-step: one task never wins).
    svc = 2.0 * P[P_SERVICE] * uniform(rng)
    occ = svc + serial
    extra = 0.0
    if is_locked_op(op):
        extra = P[P_RMW]
    if moving:
        # the locked RMW's time occupies the home too (the line stays locked in the new
        # owner's L1), unless P_RMW_HOME is off (the home serves the next request then)
        occ += (1.0 - P[P_OVERLAP]) * lat + (extra if P[P_RMW_HOME] != 0.0 else 0.0)
    L[line, L_CUR] = r
    F[r, RF_RESUME] = now + svc + lat + extra
    # the snoop reaches the holder after the home's lookup, and never before the holder
    # has received the line and had one hit time to use it (the operation it asked for
    # completes; an immediate retry of a failed cmpxchg wins): no lock-step livelock.
    # (issue 16) the snoop leaves the home after its lookup and reaches the holders a
    # fraction P_SNOOP_FRAC of the transaction later
    snoop = now + svc + P[P_SNOOP_FRAC] * lat
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
        wake_watchers(I, F, L, line, v, snoop, P, rng, TF, TI, G)
    tm_set(TF, TI, n + line, now + occ)


# What ``issue`` found (the event loop then applies or starts the request itself, so
# that apply_effect and start_service each have one inlined copy)
ISS_HIT = 0  # the copy permits the operation: its effect happens now
ISS_START = 1  # a miss at an idle home: its service starts now
ISS_QUEUED = 2  # a miss behind the request in service: it waits in the line's queue


@njit(**INNER, forceinline=True)
def issue(r, now, L, Q, R, F, mem, G):
    """Issue request ``r`` (already filled in R): count it and classify it (``ISS_*``); a
    miss at a busy home joins the line's queue here. The caller (the event loop,
    kernel.py) then calls ``apply_effect`` for a hit (and ``hit_done``) or
    ``start_service`` for ``ISS_START``: one call site each, both inlined."""
    w = R[r, R_WORD]
    line = mem[w, MEM_LINE]
    op = R[r, R_OP]
    if is_locked_op(op):
        G[G_RMW] += 1
    if is_hit(L, R, F, line, R[r, R_V], op, now):
        G[G_HITS] += 1
        return ISS_HIT
    G[G_REQS] += 1
    if L[line, L_CUR] < 0:
        return ISS_START
    queue_push(L, Q, line, r)
    return ISS_QUEUED


@njit(**INNER, forceinline=True)
def hit_done(r, now, F, R, P):
    """A hit took effect now: the requester continues after a hit time (plus the locked
    operation's cost)."""
    c = P[P_HIT]
    if is_locked_op(R[r, R_OP]):
        c += P[P_RMW]
    F[r, RF_RESUME] = now + c


@njit(**INNER, forceinline=True)
def drained_at(v, now, I, P):
    """When v, waiting for its store buffer to drain (``M_DRAIN``), goes on after the
    drain at ``now``: a locked operation starts ``P_LOCKED_GAP`` later (issue 16: the
    releaser's next locked op races the waiter's queued snoop), anything else at once."""
    if I[v, ACT] == A_MEM and is_locked_op(I[v, A_OP]):
        return now + P[P_LOCKED_GAP]
    return now


@njit(**INNER, forceinline=True)
def sb_row(v, k, n, K, F):
    """Request row of entry ``k`` (0..K-1, a ring index) of v's multi-entry store buffer:
    after the 2n rows of the one-entry model and the lock instances' rows (sim.py)."""
    return F.shape[0] - n * K + v * K + k


@njit(**INNER, forceinline=True)
def sb_as_store(R, r):
    """Multi-entry buffer: row ``r`` (the oldest entry) is issued, or stays in flight, as
    the store itself: its own op and release flag replace the early RFO's."""
    R[r, R_OP] = R[r, R_SOP]
    R[r, R_REL] = R[r, R_SREL]
    R[r, R_SBST] = SBS_STORE


@njit(**INNER, forceinline=True)
def sb_on_line(v, line, count, I, F, mem, R, n, K):
    """Does one of the ``count`` oldest entries of v's multi-entry buffer store to
    ``line``?"""
    for k in range(count):
        if mem[R[sb_row(v, (I[v, SB_HEAD] + k) % K, n, K, F), R_WORD], MEM_LINE] == line:
            return True
    return False


@njit(**INNER, forceinline=True)
def sb_pop(v, now, I, F, R, P, TF, TI, n):
    """The oldest entry of v's multi-entry store buffer has committed (its store took
    effect): drop it. The next one, now the oldest, is committed in order: an early RFO
    still in flight becomes the store itself (its effect at the home commits it); a
    granted or waiting one is issued as the store at once (the buffer's timer slot: the
    event loop issues it, a hit if v still owns the line). A vCPU waiting for the buffer
    re-tries its operation."""
    K = int(P[P_SB_ENTRIES])
    ln = I[v, SB_LEN] - 1
    h = (I[v, SB_HEAD] + 1) % K
    I[v, SB_LEN] = ln
    I[v, SB_HEAD] = h
    I[v, SB_REQ] = -1
    if ln > 0:
        r = sb_row(v, h, n, K, F)
        I[v, SB_REQ] = r
        if R[r, R_SBST] == SBS_PREF:
            sb_as_store(R, r)
        else:
            tm_set(TF, TI, TI[TMM_NSLOTS] - n + v, now)
    if I[v, MODE] == M_DRAIN:
        tm_set(TF, TI, v, drained_at(v, now, I, P) if ln == 0 else now)


@njit(**INNER, forceinline=True)
def line_done(line, r, now, I, F, L, Q, R, P, TF, TI, rng, n):
    """The home finished serving request ``r`` of ``line`` and the caller applied its
    effect: hand the requester its continuation, and pick a random one of the waiting
    requests. Returns that request (the caller starts its service) or -1."""
    L[line, L_CUR] = -1
    v = R[r, R_V]
    if R[r, R_BUFFERED] != 0 and P[P_SB_ENTRIES] > 1.0:
        if R[r, R_SBST] == SBS_PREF:
            R[r, R_SBST] = SBS_OWNED  # the early RFO is done; the store commits in order
        else:
            sb_pop(v, now, I, F, R, P, TF, TI, n)
    elif R[r, R_BUFFERED] != 0:
        I[v, SB_REQ] = -1
        if I[v, MODE] == M_DRAIN:
            tm_set(TF, TI, v, drained_at(v, now, I, P))
    else:
        tm_set(TF, TI, v, F[r, RF_RESUME])
    q = L[line, L_QLEN]
    if q > 0:
        return queue_take(L, Q, line, bounded_int(rng, 0, q))
    return -1
