"""The replication kernel: the event loop, the benchmark workload and lock dispatch.

Owns one replication from start to finish: initial state (``init_replication``), the
event loop (``run_replication``: pop the earliest (time, seq) event: a vCPU step, a
line-service completion, a pCPU quantum end or a store-buffer drain), run in chunks of
at most ``budget`` events so the Python front-end regains control between chunks
(Ctrl-C, cancellation) without changing any result (status ``ST_PAUSED``), the seed's
micro-benchmark program around the lock (lock; critical section; unlock; loop
overhead; K times), dispatch to the lock algorithm by the vCPU's integer id
(``I[v, LOCK_ID]``), the checks (mutual exclusion and FIFO order per lock instance,
watchdog, event budget) returned as a status code,
the guest workload around it (issue 15: several lock instances chosen uniformly or by
Zipf rank, a lognormal critical section, think time, synchronous IPIs: ``A_IPI``,
engine/ipi.py), the trace ring (each event recorded with its slot kind ``TK_*`` and index, and a
snapshot read only from that kind's own arrays), and the fixed-size outputs
(counters, handoff time by number of waiters, per-task completion times and operation
shares). A vCPU carries a
``VSTATE`` register owned by the PV layer (hypervisor.py): a descheduled vCPU's
timer is postponed by its off-CPU time and its spin iterations stop advancing;
nothing in the lock files has to change for that. The same layer owns pause-loop
exits: a parked spinner's timer may be its PLE deadline (``F_PLE_DL``), and a vCPU in
``M_PLE`` is spending a PLE exit.

Several VMs share one run: ``P``/``LP`` have one row per VM; the workload and lock
steps of vCPU v get the rows of its VM ``I[v, VM]`` (views, nothing allocated), every
host-wide reader (hypervisor, dispatch, coherence, spin, watchdog) row 0. Each operation
takes one lock instance (``LKI``; word ``LKW``); ``lock_released`` checks the releases
per instance. coherence.py's own release check knows one holder (``G_HOLDER``): the loop
sets ``G_HOLDER`` to the releaser just before a release takes effect, so that check
always passes and the per-instance one decides (same verdict with one instance).

Every jitted function of the engine and the locks is compiled with ``_nrt=False``:
without numba's reference-counting runtime. With NRT, each array passed
to a non-trivial helper cost an atomic increment and decrement and an opaque call that
blocked LLVM's optimisation (over half of the samples at N = 8, issue 12); the kernels
allocate nothing (state arrays are preallocated by the front-end, hv_init's shuffle
uses a scratch in ``H``, draws come from engine/rand.py), so they do not need NRT. The
random argument is the replication's ``numpy.random.BitGenerator`` (a ``Generator``
argument would leak a reference per call without NRT). ``tests/test_engine_nrt.py``
fails if numba stops honouring the option; pyproject.toml pins the numba range.
The functions only jitted code calls also go without numba's CPython and C wrappers
(``INNER``, engine/sigs.py). The event loop's hot helpers are ``forceinline=True``:
LLVM inlines them into ``run_replication`` (one function, as fast as numba's own
``inline='always'``, which inlined them as numba IR and then typed, lowered and held in
memory one copy of everything: two thirds of a 40 s cold compile and 600 MB, issue 12);
each is compiled once, on either core (precompile.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..locks.pv_qspinlock import PV_LOCK, PV_UNLOCK, pv_qspinlock_step
from ..locks.pv_qspinlock_v10 import PQ_LOCK, PQ_UNLOCK, pv_qspinlock_v10_step
from ..locks.pv_qspinlock_v10_unfair import PU_LOCK, PU_UNLOCK, pv_qspinlock_v10_unfair_step
from ..locks.pv_ticket import PVT_LOCK, PVT_UNLOCK, pv_ticket_step
from ..locks.qspinlock import QS_LOCK, QS_UNLOCK, qspinlock_step
from ..locks.qspinlock_418 import Q8_LOCK, Q8_UNLOCK, qspinlock_418_step
from ..locks.tas import TS_LOCK, TS_UNLOCK, tas_step
from ..locks.ticket import TK_LOCK, TK_UNLOCK, ticket_step
from ..locks.unfair_qspinlock import UQ_LOCK, UQ_UNLOCK, unfair_qspinlock_step
from .coherence import (
    ISS_HIT,
    ISS_START,
    L_CUR,
    L_OWNER,
    L_QLEN,
    MEM_LINE,
    MEM_VAL,
    NQH,
    Q_HALF,
    Q_TOP,
    R_BUFFERED,
    R_EXP,
    R_MASK,
    R_OK,
    R_OP,
    R_REL,
    R_RES,
    R_SBST,
    R_SOP,
    R_SREL,
    R_V,
    R_VAL,
    R_WORD,
    RF_RESUME,
    SBS_OWNED,
    SBS_PREF,
    SBS_STORE,
    SBS_WAIT,
    apply_effect,
    drained_at,
    hit_done,
    is_hit,
    is_locked_op,
    issue,
    iter_ns,
    line_done,
    sb_as_store,
    sb_on_line,
    sb_pop,
    sb_row,
    start_service,
)
from .core import INF, TMM_NSLOTS, tm_pop, tm_reset, tm_set
from .fair import HP_END_NS
from .hypervisor import (
    HV_CUR,
    HV_SBSLOT,
    draw_dist,
    draw_time,
    hv_halt,
    hv_init,
    hv_kick,
    hv_on_spin,
    hv_ple_exit,
    hv_quantum_end,
    hv_release,
    hv_wake,
)
from .ipi import ipi_send
from .rand import exponential, uniform
from .sigs import INNER
from .spin import spin_load, spin_result, spin_timeout
from .state import (
    A_DELAY,
    A_EXP,
    A_FENCE,
    A_HALT,
    A_IPI,
    A_KICK,
    A_MASK,
    A_MEM,
    A_NEXT,
    A_NONE,
    A_OP,
    A_REL,
    A_SPIN,
    A_STORE,
    A_VAL,
    A_WORD,
    ACQ_SEQ,
    ACT,
    F_ACQ_START,
    F_DELAY,
    F_DONE_T,
    F_IPI_H,
    F_IPI_T0,
    F_IPI_WAIT_NS,
    F_ITER,
    F_PLE_DL,
    F_STASH,
    F_WAIT_NS,
    FL_LAST_ACQ,
    FL_LAST_REL,
    G_ACQS,
    G_BLOCKED,
    G_DONE,
    G_EVENTS,
    G_HOLDER,
    G_OPS,
    G_PATH0,
    G_STATUS,
    G_TRACE_POS,
    G_WAITERS,
    GF_LAST_ACQ,
    GF_NOW,
    GL_ACQS,
    GL_CDF,
    GL_HOLDER,
    GL_PVH_HASH,
    GL_QLAST,
    GL_REL_WAITERS,
    GL_WAITERS,
    HALT_IDLE,
    HALT_SITE,
    HELD,
    IN_ACQ,
    KICK_SEQ,
    LK_CDF,
    LK_PVH_HASH,
    LKI,
    LKW,
    LOCK_ID,
    LOCK_PV_QSPINLOCK,
    LOCK_PV_QSPINLOCK_V10,
    LOCK_PV_QSPINLOCK_V10_UNFAIR,
    LOCK_PV_TICKET,
    LOCK_QSPINLOCK,
    LOCK_QSPINLOCK_418,
    LOCK_TAS,
    LOCK_TICKET,
    LOCK_UNFAIR_QSPINLOCK,
    LP_HV,
    LP_K,
    LP_LOCK0,
    LP_LOCK_CHOICE,
    LP_LOCK_ID,
    LP_NLOCKS,
    LP_NODE_STRIDE,
    LP_NODE_W0,
    M_DONE,
    M_DRAIN,
    M_PARKED,
    M_PLE,
    M_REREAD,
    M_RUN,
    M_SPINLOAD,
    M_WAITMEM,
    MODE,
    NODEW,
    OK,
    OP_PREFW,
    OP_STORE,
    OPS_DONE,
    P_CS,
    P_CS_EXP,
    P_CS_MU,
    P_CS_SIGMA,
    P_DRAIN_NS,
    P_HIT,
    P_IPI_HANDLER,
    P_IPI_PER_OP,
    P_LOOP,
    P_LOOP_EXP,
    P_PLE_WINDOW,
    P_SB_ENTRIES,
    P_SC,
    P_THINK,
    P_THINK_DIST,
    P_THINK_MU,
    P_THINK_SIGMA,
    P_THINK_SLEEP,
    P_WATCHDOG,
    PATH,
    PC,
    PCPU,
    QSEQ,
    RES,
    SB_HEAD,
    SB_LEN,
    SB_REQ,
    SB_ROW,
    SOCKET,
    ST_BAD_STATE,
    ST_LOST_WAKEUP,
    ST_MAX_EVENTS,
    ST_MUTEX,
    ST_NO_EVENT,
    ST_PAUSED,
    ST_WATCHDOG,
    TK_DRAIN,
    TK_LINE,
    TK_QUANTUM,
    TK_VCPU,
    TR_EVENT,
    TR_KIND,
    TR_MODE,
    TR_PC,
    TR_RES,
    TR_SLOT,
    TR_WHO,
    VM,
    VS_HALTED,
    VS_RUNNING,
    VSTATE,
    W_CS_DONE,
    W_IPI_DONE,
    W_LOCKED,
    W_LOOP_DONE,
    W_START,
    W_THINK_DONE,
    W_UNLOCKED,
    WATCH,
    act_delay,
    act_halt,
    gl,
)


@njit(**INNER, forceinline=True)
def lock_entry(lock_id):
    if lock_id == LOCK_TICKET:
        return TK_LOCK
    if lock_id == LOCK_QSPINLOCK:
        return QS_LOCK
    if lock_id == LOCK_TAS:
        return TS_LOCK
    if lock_id == LOCK_PV_QSPINLOCK_V10:
        return PQ_LOCK
    if lock_id == LOCK_PV_QSPINLOCK_V10_UNFAIR:
        return PU_LOCK
    if lock_id == LOCK_PV_TICKET:
        return PVT_LOCK
    if lock_id == LOCK_QSPINLOCK_418:
        return Q8_LOCK
    if lock_id == LOCK_PV_QSPINLOCK:
        return PV_LOCK
    return UQ_LOCK


@njit(**INNER, forceinline=True)
def unlock_entry(lock_id):
    if lock_id == LOCK_TICKET:
        return TK_UNLOCK
    if lock_id == LOCK_QSPINLOCK:
        return QS_UNLOCK
    if lock_id == LOCK_TAS:
        return TS_UNLOCK
    if lock_id == LOCK_PV_QSPINLOCK_V10:
        return PQ_UNLOCK
    if lock_id == LOCK_PV_QSPINLOCK_V10_UNFAIR:
        return PU_UNLOCK
    if lock_id == LOCK_PV_TICKET:
        return PVT_UNLOCK
    if lock_id == LOCK_QSPINLOCK_418:
        return Q8_UNLOCK
    if lock_id == LOCK_PV_QSPINLOCK:
        return PV_UNLOCK
    return UQ_UNLOCK


@njit(**INNER, forceinline=True)
def lock_step(lock_id, v, now, I, F, G, LP, P, n):
    if lock_id == LOCK_TICKET:
        ticket_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_QSPINLOCK:
        qspinlock_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_TAS:
        tas_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_UNFAIR_QSPINLOCK:
        unfair_qspinlock_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_PV_QSPINLOCK_V10:
        pv_qspinlock_v10_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_PV_QSPINLOCK_V10_UNFAIR:
        pv_qspinlock_v10_unfair_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_PV_TICKET:
        pv_ticket_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_QSPINLOCK_418:
        qspinlock_418_step(v, now, I, F, G, LP, P, n)
    elif lock_id == LOCK_PV_QSPINLOCK:
        pv_qspinlock_step(v, now, I, F, G, LP, P, n)
    else:
        G[G_STATUS] = ST_BAD_STATE


@njit(**INNER, forceinline=True)
def workload_step(lock_id, v, now, I, F, G, LP, P, HO, first_ops, rng):
    """The guest workload, a closed loop: lock (one of the VM's instances, uniformly or by
    Zipf rank); critical section (deterministic, exponential or lognormal); unlock; loop
    overhead; with probability ``P_IPI_PER_OP`` a synchronous IPI (ipi.py); think time
    (computed or slept in HLT). With one instance, no IPI and no think time it is the
    seed micro-benchmark, drawing the same random numbers. ``P`` and ``LP`` are the rows
    of v's VM: its workload, its K, its lock instances."""
    pc = I[v, PC]
    n = I.shape[0]
    if pc == W_START:
        # the lock this operation takes: the VM's one instance, or one of its M at random
        k = LP[LP_LOCK0]
        m = LP[LP_NLOCKS]
        if m > 1 and LP[LP_LOCK_CHOICE] != 0:
            # Zipf: the smallest rank j with u < CDF(j) (binary search of the VM's
            # instances' GL_CDF, fixed point CDF_ONE; the last is CDF_ONE > any u)
            x = uniform(rng) * 9007199254740992.0  # CDF_ONE = 2**53
            lo = 0
            hi = m - 1
            while lo < hi:
                mid = (lo + hi) >> 1
                if x < G[gl(k + mid) + GL_CDF]:
                    hi = mid
                else:
                    lo = mid + 1
            k += lo
        elif m > 1:  # (a scaled uniform: bounded_int's body costs compile time)
            k += min(int(uniform(rng) * m), m - 1)
        I[v, LKI] = k
        I[v, LKW] = k  # instance k's lock word is word k (sim.memory_layout)
        I[v, IN_ACQ] = 1
        I[v, ACQ_SEQ] += 1
        G[G_WAITERS] += 1
        G[gl(k) + GL_WAITERS] += 1
        F[v, F_ACQ_START] = now
        I[v, PC] = lock_entry(lock_id)
    elif pc == W_LOCKED:
        k = I[v, LKI]
        b = gl(k)
        if G[b + GL_HOLDER] != -1:
            G[G_STATUS] = ST_MUTEX
        G[b + GL_HOLDER] = v
        G[G_HOLDER] = v
        I[v, HELD] = k
        I[v, IN_ACQ] = 0
        G[G_WAITERS] -= 1
        G[b + GL_WAITERS] -= 1
        G[G_ACQS] += 1
        G[b + GL_ACQS] += 1
        G[G_PATH0 + I[v, PATH]] += 1
        if G[b + GL_REL_WAITERS] > 0 and now > F[v, F_ACQ_START]:
            w = G[b + GL_REL_WAITERS]
            if w > n:
                w = n
            HO[w, 0] += now - F[2 * n + k, FL_LAST_REL]
            HO[w, 1] += 1.0
        F[n, GF_LAST_ACQ] = now
        F[2 * n + k, FL_LAST_ACQ] = now
        F[v, F_WAIT_NS] += now - F[v, F_ACQ_START]
        # wait-time histogram in log2(ns) bins: rows n+1.. of HO, column = v's VM
        bn = int(np.log2(now - F[v, F_ACQ_START] + 1.0))
        nb = HO.shape[0] - n - 1
        HO[n + 1 + (bn if bn < nb else nb - 1), I[v, VM]] += 1.0
        cs = draw_dist(P[P_CS], P[P_CS_EXP], P[P_CS_MU], P[P_CS_SIGMA], rng)
        act_delay(I, F, v, cs, W_CS_DONE)
    elif pc == W_CS_DONE:
        I[v, PC] = unlock_entry(lock_id)
    elif pc == W_UNLOCKED:
        I[v, OPS_DONE] += 1
        G[G_OPS] += 1
        if I[v, OPS_DONE] >= LP[LP_K]:
            I[v, MODE] = M_DONE
            F[v, F_DONE_T] = now
            G[G_DONE] += 1
            if G[G_DONE] == 1:
                for u in range(n):
                    first_ops[u] = I[u, OPS_DONE]
        else:
            act_delay(I, F, v, draw_time(P[P_LOOP], P[P_LOOP_EXP], rng), W_LOOP_DONE)
    elif pc == W_LOOP_DONE and P[P_IPI_PER_OP] > 0.0 and uniform(rng) < P[P_IPI_PER_OP]:
        if I[v, IN_ACQ] != 0:  # IPIs only outside any lock (ipi.py: liveness)
            G[G_STATUS] = ST_BAD_STATE
        I[v, ACT] = A_IPI
        I[v, A_NEXT] = W_IPI_DONE
    elif pc == W_LOOP_DONE or pc == W_IPI_DONE:
        if pc == W_IPI_DONE:
            F[v, F_IPI_WAIT_NS] += now - F[v, F_IPI_T0]
        if P[P_THINK] > 0.0:
            d = draw_dist(P[P_THINK], P[P_THINK_DIST], P[P_THINK_MU], P[P_THINK_SIGMA], rng)
            if P[P_THINK_SLEEP] != 0.0:
                # a sleeping think time: the guest idles in HLT until its timer fires
                F[v, F_DELAY] = d
                act_halt(I, v, HALT_IDLE, W_THINK_DONE)
            else:
                act_delay(I, F, v, d, W_THINK_DONE)
        else:
            I[v, PC] = W_START
    elif pc == W_THINK_DONE:
        I[v, PC] = W_START
    else:
        G[G_STATUS] = ST_BAD_STATE


@njit(**INNER)
def lock_released(k, v, now, I, F, G):
    """The release of lock instance ``k`` by ``v`` took effect (a write marked ``A_REL``
    that succeeded): the per-instance mutual-exclusion check and handoff bookkeeping."""
    n = I.shape[0]
    b = gl(k)
    if G[b + GL_HOLDER] != v:
        G[G_STATUS] = ST_MUTEX
    G[b + GL_HOLDER] = -1
    I[v, HELD] = -1
    F[2 * n + k, FL_LAST_REL] = now
    G[b + GL_REL_WAITERS] = G[b + GL_WAITERS]


# What the event loop does with a vCPU's request after issuing it (``issue`` has one
# call site, in the loop: it is inlined, and so are the functions that prepare requests)
IS_NONE = 0  # nothing to issue
IS_BLOCKING = 1  # request v: the vCPU waits; on a hit it continues at RF_RESUME
IS_BUFFERED = 2  # request n + v enters the store buffer; the vCPU goes on after a hit time
IS_DRAINED = 3  # request n + v: the buffered store's drain delay is over, its RFO goes out
IS_DISPATCH = 4  # the step asked for the machine: the loop calls ``dispatch`` (one call
#                  site, for this and a drained store buffer, so it is inlined once)


@njit(**INNER, forceinline=True)
def sb_waits(v, act, op, w, I, F, mem, R, n, K):
    """Multi-entry store buffer (K > 1), not empty: must v's next operation wait for it?
    smp_mb and locked operations drain it; a store waits only if it is full; a load
    waits while an entry on its line is pending (no store-to-load forwarding modelled: it
    waits for the store, as the one-entry model does for the buffered word). A load of
    another line passes the buffered stores (x86-TSO)."""
    if act == A_FENCE or is_locked_op(op):
        return True
    if act == A_STORE:
        return I[v, SB_LEN] >= K
    return sb_on_line(v, mem[w, MEM_LINE], I[v, SB_LEN], I, F, mem, R, n, K)


@njit(**INNER, forceinline=True)
def sb_store(v, now, I, F, mem, L, R, P, TF, TI, n, K):
    """A plain store enters v's multi-entry store buffer (not full). The first entry is
    issued as the store (``IS_BUFFERED``: the event loop issues it; its effect commits
    it). A younger one issues an early RFO (``OP_PREFW``) for its line at once unless an
    older entry is on the same line (it waits) or v owns the line already; either way it
    commits in order (coherence.sb_pop). Returns the ``IS_*`` kind."""
    w = I[v, A_WORD]
    k = I[v, SB_LEN]
    r = sb_row(v, (I[v, SB_HEAD] + k) % K, n, K, F)
    R[r, R_WORD] = w
    R[r, R_MASK] = I[v, A_MASK]
    R[r, R_VAL] = I[v, A_VAL]
    R[r, R_SOP] = I[v, A_OP]
    R[r, R_SREL] = I[v, A_REL]
    I[v, PC] = I[v, A_NEXT]
    I[v, MODE] = M_RUN
    I[v, SB_ROW] = r
    if k == 0:
        R[r, R_OP] = I[v, A_OP]
        R[r, R_REL] = I[v, A_REL]
        R[r, R_SBST] = SBS_STORE
        return IS_BUFFERED  # the event loop notes it pending if it misses
    I[v, SB_LEN] = k + 1
    line = mem[w, MEM_LINE]
    R[r, R_REL] = 0
    if sb_on_line(v, line, k, I, F, mem, R, n, K):
        R[r, R_SBST] = SBS_WAIT
    elif is_hit(L, R, F, line, v, OP_STORE, now):
        R[r, R_SBST] = SBS_OWNED
    else:
        R[r, R_OP] = OP_PREFW
        R[r, R_SBST] = SBS_PREF
        return IS_BUFFERED
    tm_set(TF, TI, v, now + P[P_HIT])
    return IS_NONE


@njit(**INNER, forceinline=True)
def dispatch(v, now, I, F, mem, L, R, P, rng, TF, TI, G, n):
    """Carry out the action the last step requested. Returns what the event loop must
    issue (``IS_*``); the request row is filled in (``I[v, SB_ROW]`` for a buffered
    store)."""
    act = I[v, ACT]
    if act == A_DELAY:
        I[v, PC] = I[v, A_NEXT]
        I[v, MODE] = M_RUN
        tm_set(TF, TI, v, now + F[v, F_DELAY])
        return IS_NONE
    w = I[v, A_WORD]
    op = I[v, A_OP]
    K = int(P[P_SB_ENTRIES])
    if K > 1:
        if I[v, SB_LEN] > 0 and sb_waits(v, act, op, w, I, F, mem, R, n, K):
            I[v, MODE] = M_DRAIN
            return IS_NONE
        if act == A_STORE:
            return sb_store(v, now, I, F, mem, L, R, P, TF, TI, n, K)
    sb = I[v, SB_REQ]
    if K == 1 and sb >= 0 and (act == A_STORE or act == A_FENCE or is_locked_op(op)
                    or R[sb, R_WORD] == w or (
                        mem[R[sb, R_WORD], MEM_LINE] == mem[w, MEM_LINE] and not (
                            P[P_DRAIN_NS] > 0.0 and TF[TI[TMM_NSLOTS] - n + v] < INF))):
        # x86-TSO: drain the one-entry store buffer first for a second store, smp_mb, a
        # locked op or a load of the buffered word itself. A load of another word of the
        # line whose RFO is in flight merges with it (one outstanding miss per line: the
        # fill satisfies both); only while the store still sits in the buffer (drain
        # delay, RFO not issued) may such a load pass it.
        I[v, MODE] = M_DRAIN
        return IS_NONE
    if act == A_FENCE:  # drained: smp_mb() completes
        I[v, PC] = I[v, A_NEXT]
        I[v, MODE] = M_RUN
        tm_set(TF, TI, v, now)
        return IS_NONE
    if act == A_SPIN:
        spin_load(v, now, I, F, R)
        return IS_BLOCKING
    if act == A_MEM:
        R[v, R_OP] = op
        R[v, R_WORD] = w
        R[v, R_MASK] = I[v, A_MASK]
        R[v, R_VAL] = I[v, A_VAL]
        R[v, R_EXP] = I[v, A_EXP]
        R[v, R_BUFFERED] = 0
        R[v, R_REL] = I[v, A_REL]
        I[v, MODE] = M_WAITMEM
        return IS_BLOCKING
    if act == A_STORE and P[P_SC] != 0.0:
        # sequential consistency: the store completes before the vCPU goes on
        R[v, R_OP] = op
        R[v, R_WORD] = w
        R[v, R_MASK] = I[v, A_MASK]
        R[v, R_VAL] = I[v, A_VAL]
        R[v, R_BUFFERED] = 0
        R[v, R_REL] = I[v, A_REL]
        I[v, MODE] = M_WAITMEM
        return IS_BLOCKING
    if act == A_STORE:
        r = n + v
        R[r, R_OP] = op
        R[r, R_WORD] = w
        R[r, R_MASK] = I[v, A_MASK]
        R[r, R_VAL] = I[v, A_VAL]
        R[r, R_BUFFERED] = 1
        R[r, R_REL] = I[v, A_REL]
        I[v, PC] = I[v, A_NEXT]
        I[v, MODE] = M_RUN
        if P[P_DRAIN_NS] > 0.0:
            # the store sits in the buffer for a random drain delay before its RFO is
            # issued (store-buffer slots are the last n timer slots)
            I[v, SB_REQ] = r
            tm_set(TF, TI, TI[TMM_NSLOTS] - n + v, now + exponential(rng, P[P_DRAIN_NS]))
            tm_set(TF, TI, v, now + P[P_HIT])
            return IS_NONE
        return IS_BUFFERED
    G[G_STATUS] = ST_BAD_STATE
    return IS_NONE


@njit(**INNER, forceinline=True)
def run_steps(v, now, I, F, mem, R, P, LP, Pv, LPv, H, rng, TF, TI,
              G, HO, first_ops, n):
    """Step vCPU ``v`` until it asks for the machine. Returns ``IS_DISPATCH`` if it did
    (the event loop then calls ``dispatch``), else ``IS_NONE``. ``Pv``/``LPv``: the rows
    of v's VM (workload and lock steps); ``P``/``LP``: row 0, the host-wide values
    (hypervisor, dispatch)."""
    lock_id = I[v, LOCK_ID]  # loop-invariant here, so the dispatch need not be re-read
    for _ in range(64):
        I[v, ACT] = A_NONE
        if I[v, PC] < 100:
            workload_step(lock_id, v, now, I, F, G, LPv, Pv, HO, first_ops, rng)
        else:
            lock_step(lock_id, v, now, I, F, G, LPv, Pv, n)
        if G[G_STATUS] != 0:
            return IS_NONE
        if I[v, MODE] == M_DONE:
            if LP[LP_HV] != 0:  # a finished task's vCPU idles: its pCPU goes to others
                hv_release(I[v, PCPU], now, I, F, G, P, LP, H, TF, TI, rng)
            return IS_NONE
        act = I[v, ACT]
        if act == A_FENCE and I[v, SB_REQ] < 0:
            I[v, PC] = I[v, A_NEXT]  # smp_mb() with an empty store buffer: no wait
            continue
        if act == A_HALT:
            hv_halt(v, now, I, F, G, P, LP, H, TF, TI, rng)
            return IS_NONE
        if (act == A_KICK or act == A_IPI) and I[v, SB_REQ] >= 0:
            # x86-TSO: the kick hypercall's host side (kvm_make_request's set_bit) and
            # the IPI's llist_add cmpxchg are locked RMWs on this core, so the sender's
            # buffered stores are globally visible before the target can run: wait for
            # the store buffer; the event loop sends it once drained (M_DRAIN)
            I[v, MODE] = M_DRAIN
            return IS_NONE
        if act == A_KICK:
            hv_kick(v, now, I, F, G, P, LP, H, TF, TI, rng)
            return IS_NONE
        if act == A_IPI:
            ipi_send(v, now, I, F, G, P, Pv, LPv, TF, TI, rng)
            return IS_NONE
        if act != A_NONE:
            return IS_DISPATCH
    G[G_STATUS] = ST_BAD_STATE  # a step loop that never asks for the machine
    return IS_NONE


@njit(cache=True, _nrt=False, nogil=True)
def init_replication(P, LP, LK, sock, vm, I, F, mem, L, Q, R, H, TF, TI, G, HO,
                     first_ops, rng):
    """Set up one replication: initial state, the tasks' start times, the schedule.
    ``run_replication`` then runs its events (in as many chunks as the caller likes).
    ``P``/``LP``: one row per VM (row 0 host-wide); ``LK``: the lock-instance table;
    ``vm``: the VM of each vCPU."""
    n = I.shape[0]
    tm_reset(TF, TI)
    I[:, :] = 0
    F[:, :] = 0.0
    mem[:, MEM_VAL] = 0
    L[:, :] = 0
    L[:, L_OWNER] = -1
    L[:, L_CUR] = -1
    Q[Q_TOP] = NQH  # every queue empty, with no room yet (coherence.py)
    Q[Q_HALF] = NQH
    R[:, :] = 0
    G[:] = 0
    HO[:, :] = 0.0
    first_ops[:] = 0
    G[G_HOLDER] = -1
    for k in range(LK.shape[0]):
        G[gl(k) + GL_HOLDER] = -1
        G[gl(k) + GL_QLAST] = -1
        G[gl(k) + GL_PVH_HASH] = LK[k, LK_PVH_HASH]
        G[gl(k) + GL_CDF] = LK[k, LK_CDF]
    for v in range(n):
        I[v, PC] = W_START
        I[v, MODE] = M_RUN
        I[v, SB_REQ] = -1
        I[v, WATCH] = -1
        I[v, QSEQ] = -1
        I[v, HALT_SITE] = -1
        I[v, KICK_SEQ] = -1
        I[v, SOCKET] = sock[v]
        I[v, VM] = vm[v]
        F[v, F_ITER] = iter_ns(P[vm[v]])
        F[v, F_IPI_H] = P[vm[v], P_IPI_HANDLER]
        I[v, LOCK_ID] = LP[vm[v], LP_LOCK_ID]
        I[v, NODEW] = LP[0, LP_NODE_W0] + LP[0, LP_NODE_STRIDE] * v
        I[v, HELD] = -1
        R[v, R_V] = v
        R[n + v, R_V] = v
        R[n + v, R_BUFFERED] = 1
        I[v, SB_ROW] = n + v
        K = int(P[0, P_SB_ENTRIES])
        if K > 1:
            for k in range(K):
                R[sb_row(v, k, n, K, F), R_V] = v
                R[sb_row(v, k, n, K, F), R_BUFFERED] = 1
        # tasks start within one loop overhead of each other
        tm_set(TF, TI, v, uniform(rng) * P[vm[v], P_LOOP])
    hv_init(I, F, G, P[0], LP[0], H, TF, TI, rng)


@njit(**INNER)
def trace_event(i, t, I, mem, L, H, G, TR, TRT, n, pslot, sbslot):
    """Record the event of timer slot ``i`` in the trace ring: its kind (``TK_*``), its
    index within the kind, and a snapshot read only from arrays of that kind's size."""
    cap = TR.shape[0]
    k = G[G_TRACE_POS] % cap
    TRT[k] = t
    TR[k, TR_EVENT] = G[G_EVENTS]
    if i < n:
        TR[k, TR_KIND] = TK_VCPU
        TR[k, TR_SLOT] = i
        TR[k, TR_WHO] = i
        TR[k, TR_PC] = I[i, PC]
        TR[k, TR_MODE] = I[i, MODE]
        TR[k, TR_RES] = I[i, RES]
    else:
        if i >= sbslot:
            j = i - sbslot
            TR[k, TR_KIND] = TK_DRAIN
            TR[k, TR_PC] = I[j, PC]
            TR[k, TR_MODE] = I[j, MODE]
        elif i >= pslot:
            j = i - pslot
            TR[k, TR_KIND] = TK_QUANTUM
            TR[k, TR_PC] = H[HV_CUR + j]
            TR[k, TR_MODE] = 0
        else:
            j = i - n
            TR[k, TR_KIND] = TK_LINE
            TR[k, TR_PC] = L[j, L_CUR]
            TR[k, TR_MODE] = L[j, L_QLEN]
        TR[k, TR_SLOT] = j
        TR[k, TR_WHO] = -(j + 1)
        TR[k, TR_RES] = mem[0, MEM_VAL]
    G[G_TRACE_POS] += 1


@njit(cache=True, _nrt=False, nogil=True)
def run_replication(PV, LPV, I, F, mem, L, Q, R, H, TF, TI,
                    G, TR, TRT, HO, first_ops, max_events, budget, rng):
    """Run at most ``budget`` events of a replication set up by ``init_replication``.

    Returns the status: ``ST_PAUSED`` if the budget ran out first (all state is in the
    arrays and ``rng``: calling again continues exactly where this call stopped, so the
    results do not depend on the chunking), else ``ST_OK`` or the failed check.
    ``PV``/``LPV``: one parameter row per VM; the host-wide values are row 0's.
    """
    P = PV[0]  # host-wide values live in row 0 (state.py): views, nothing allocated
    LP = LPV[0]
    n = I.shape[0]
    n_lines = L.shape[0]
    pslot = n + n_lines
    sbslot = H[HV_SBSLOT]
    cap = TR.shape[0]
    end = float(H[HP_END_NS])
    done_here = 0
    while G[G_DONE] < n:
        if done_here >= budget:
            return ST_PAUSED
        done_here += 1
        i, t = tm_pop(TF, TI)
        if i < 0:
            G[G_STATUS] = ST_NO_EVENT
            break
        if end > 0.0 and t >= end:  # a fixed-duration run is over
            F[n, GF_NOW] = end
            break
        F[n, GF_NOW] = t
        G[G_EVENTS] += 1
        if cap > 0:
            trace_event(i, t, I, mem, L, H, G, TR, TRT, n, pslot, sbslot)
        v = i
        kind = IS_NONE
        line = -1  # a line's service completed
        ar = -1  # request whose effect happens now (a completed service, or a hit)
        sr = -1  # request whose service at its line's home starts now
        if i >= sbslot:
            # x86-TSO: a buffered store's drain delay is over: issue its RFO; or (multi-
            # entry buffer) the oldest entry commits: issued as the store itself
            v = i - sbslot
            kind = IS_DRAINED
            if P[P_SB_ENTRIES] > 1.0:
                I[v, SB_ROW] = I[v, SB_REQ]
                sb_as_store(R, I[v, SB_REQ])
        elif i >= pslot:
            hv_quantum_end(i - pslot, t, I, F, G, P, LP, H, TF, TI, rng)
        elif i >= n:
            line = i - n
            ar = L[line, L_CUR]
        elif I[i, VSTATE] != VS_RUNNING:
            if I[i, VSTATE] == VS_HALTED:
                hv_wake(i, t, I, F, G, P, LP, H, TF, TI, rng)
            else:  # off its pCPU: the event waits until it runs again
                F[i, F_STASH] = 0.0
        else:
            mode = I[v, MODE]
            go = False
            if mode == M_RUN:
                go = True
            elif mode == M_WAITMEM:
                I[v, RES] = R[v, R_RES]
                I[v, OK] = R[v, R_OK]
                I[v, PC] = I[v, A_NEXT]
                I[v, MODE] = M_RUN
                go = True
            elif mode == M_SPINLOAD:
                go = spin_result(v, t, I, F, mem, L, R, P, TF, TI, G)
            elif mode == M_PARKED:
                if P[P_PLE_WINDOW] > 0.0 and t >= F[v, F_PLE_DL]:
                    hv_ple_exit(v, t, I, F, G, P, TF, TI)  # the PLE window ran out
                else:
                    spin_timeout(v, t, I, F, P, G)
                    go = True
            elif mode == M_PLE:
                # the exit's cost is spent: kvm_vcpu_on_spin; back to spinning unless
                # the directed yield took the pCPU
                if hv_on_spin(v, t, I, F, G, P, LP, H, TF, TI, rng):
                    spin_load(v, t, I, F, R)
                    kind = IS_BLOCKING
            elif mode == M_REREAD:
                spin_load(v, t, I, F, R)
                kind = IS_BLOCKING
            elif mode == M_DRAIN and (I[v, ACT] == A_KICK or I[v, ACT] == A_IPI):
                if I[v, SB_REQ] < 0:  # drained: the kick or IPI goes out now
                    if I[v, ACT] == A_KICK:
                        hv_kick(v, t, I, F, G, P, LP, H, TF, TI, rng)
                    else:
                        vm = I[v, VM]
                        ipi_send(v, t, I, F, G, P, PV[vm], LPV[vm], TF, TI, rng)
            elif mode == M_DRAIN:
                kind = IS_DISPATCH
            else:
                G[G_STATUS] = ST_BAD_STATE
            if go:
                vm = I[v, VM]
                kind = run_steps(v, t, I, F, mem, R, P, LP, PV[vm], LPV[vm], H, rng,
                                 TF, TI, G, HO, first_ops, n)
            if kind == IS_DISPATCH:
                kind = dispatch(v, t, I, F, mem, L, R, P, rng, TF, TI, G, n)
        r = -1
        iss = -1
        if kind != IS_NONE:
            # the request v's step prepared: a hit takes effect now, a miss starts its
            # service or queues at the line's home
            r = v if kind == IS_BLOCKING else I[v, SB_ROW]
            iss = issue(r, t, L, Q, R, F, mem, G)
            if iss == ISS_HIT:
                ar = r
            elif iss == ISS_START:
                sr = r
        # the one call site of apply_effect and of start_service (both inlined)
        if ar >= 0:
            rel = R[ar, R_REL]
            if rel != 0:
                # coherence.py checks releases against the one holder G_HOLDER; the
                # check per lock instance is lock_released's, so satisfy the global one
                G[G_HOLDER] = R[ar, R_V]
            apply_effect(ar, t, I, F, mem, L, R, P, rng, TF, TI, G)
            if rel != 0 and R[ar, R_OK] != 0:
                lock_released(R[ar, R_WORD], R[ar, R_V], t, I, F, G)
            if line >= 0:
                sr = line_done(line, ar, t, I, F, L, Q, R, P, TF, TI, rng, n)
            else:
                hit_done(ar, t, F, R, P)
        if sr >= 0:
            start_service(sr, t, I, F, mem, L, R, P, rng, TF, TI, G, n)
        if kind != IS_NONE:
            hit = iss == ISS_HIT
            if kind == IS_BLOCKING:
                if hit:
                    tm_set(TF, TI, v, F[v, RF_RESUME])
            elif kind == IS_BUFFERED:
                if not hit and (P[P_SB_ENTRIES] == 1.0 or R[r, R_SBST] == SBS_STORE):
                    I[v, SB_REQ] = r  # the oldest (only) entry, pending
                    I[v, SB_LEN] = 1
                tm_set(TF, TI, v, t + P[P_HIT])
            elif hit and P[P_SB_ENTRIES] > 1.0:  # IS_DRAINED: the oldest entry committed
                sb_pop(v, t, I, F, R, P, TF, TI, n)
            elif hit:  # IS_DRAINED
                I[v, SB_REQ] = -1
                if I[v, MODE] == M_DRAIN:
                    tm_set(TF, TI, v, drained_at(v, t, I, P))
        if G[G_STATUS] != 0:
            break
        if G[G_EVENTS] >= max_events:
            G[G_STATUS] = ST_MAX_EVENTS
            break
        if G[G_BLOCKED] > 0 and G[G_BLOCKED] + G[G_DONE] >= n:
            G[G_STATUS] = ST_LOST_WAKEUP
            break
        if G[G_WAITERS] > 0 and t - F[n, GF_LAST_ACQ] > P[P_WATCHDOG]:
            G[G_STATUS] = ST_WATCHDOG
            break
    return G[G_STATUS]

