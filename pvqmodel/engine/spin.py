"""Spin-parking: spin loops without simulating every iteration.

Owns the ``A_SPIN`` action: "load a word, PAUSE, repeat until (word & mask) == /
!= value, or until the iteration budget runs out". The first load goes through the
coherence model like any other; if the condition fails, the vCPU is *parked* as a
watcher of the word's cache line (it holds a shared copy, so its further loads
would be L1 hits that cost nothing but time). A write to the line invalidates the
copy and wakes the watcher, which re-reads at its next iteration (a uniform phase
within one iteration of ``P_HIT + P_PAUSE``) through the line's service queue. A
finite budget becomes a timeout event at park time + remaining iterations x
iteration cost. The iteration count ``ITERS`` is advanced by elapsed time /
iteration cost at every wake-up, so thresholds such as QSPIN_THRESHOLD (2^14) or
the unfair lock's ``lsteal_mask`` fire at the right iteration within one iteration.
A load whose result arrives after the line was written again (the write sequence
moved on) is re-issued instead of parked, so no wake-up is ever lost. With pause-loop
exiting on, each spin load that returns tells whether the PAUSE loop goes on (its gap
is at most ``ple_gap``) or starts anew (``ple_loop``), and a park arms the PLE deadline
(the loop's first PAUSE + the vCPU's window); the parked timer is the earlier of it and
the budget timeout, ``F_PLE_DL`` says which (hypervisor.py owns the exit).
"""

from __future__ import annotations

from numba import njit

from .coherence import (
    L_WSEQ,
    MEM_LINE,
    R_BUFFERED,
    R_OP,
    R_REL,
    R_RES,
    R_WORD,
    R_WSEQ,
    add_watcher,
)
from .core import INF, tm_set
from .sigs import F2, I2, INNER, f8, i8, void
from .state import (
    A_BUDGET,
    A_CMP,
    A_MASK,
    A_NEXT,
    A_VAL,
    A_WORD,
    CMP_EQ,
    F_ITER,
    F_PARK_T0,
    F_PLE_DL,
    F_PLE_T0,
    F_PLE_WIN,
    G_TIMEOUTS,
    ITERS,
    M_PARKED,
    M_REREAD,
    M_RUN,
    M_SPINLOAD,
    MODE,
    OK,
    OP_LOAD,
    P_HIT,
    P_PLE_GAP,
    P_PLE_WINDOW,
    PC,
    PLE_LOOP,
    RES,
    WATCH,
)


@njit(void(i8, f8, I2, F2, I2), **INNER)
def spin_load(v, now, I, F, R):
    """Fill v's request row with one iteration's load of the watched word. The caller
    hands it to the event loop, which issues it (kernel.py: one call site of ``issue``)."""
    R[v, R_OP] = OP_LOAD
    R[v, R_WORD] = I[v, A_WORD]
    R[v, R_BUFFERED] = 0
    R[v, R_REL] = 0
    I[v, ITERS] += 1
    I[v, MODE] = M_SPINLOAD
    F[v, F_PARK_T0] = now


@njit(**INNER, forceinline=True)
def ple_loop(v, now, I, F, P, it):
    """A PAUSE follows the spin load that just returned. VMX counts a PAUSE loop from its
    first PAUSE; a gap between two PAUSEs longer than ``ple_gap`` starts a new loop, and
    so does the first PAUSE of a spin (lock code ran before it: ``ITERS`` is 1 after the
    first load) or after a VM entry (``PLE_LOOP`` == 0). The gap is the load's latency
    plus the rest of the iteration (PAUSE and the PV checks)."""
    if (I[v, ITERS] <= 1 or I[v, PLE_LOOP] == 0
            or now - F[v, F_PARK_T0] + it - P[P_HIT] > P[P_PLE_GAP]):
        F[v, F_PLE_T0] = now
    I[v, PLE_LOOP] = 1


@njit(**INNER, forceinline=True)
def spin_result(v, now, I, F, mem, L, R, P, TF, TI, G):
    """The spin load returned. Returns True if the vCPU continues at A_NEXT now
    (condition met, or budget exhausted), False if it parked or re-reads."""
    val = R[v, R_RES]
    I[v, RES] = val
    x = val & I[v, A_MASK]
    if I[v, A_CMP] == CMP_EQ:
        cond = x == I[v, A_VAL]
    else:
        cond = x != I[v, A_VAL]
    it = F[v, F_ITER]
    # the iteration in which the load missed counts once (ITERS was advanced at issue)
    if cond:
        I[v, OK] = 1
        I[v, PC] = I[v, A_NEXT]
        I[v, MODE] = M_RUN
        return True
    budget = I[v, A_BUDGET]
    if budget >= 0 and I[v, ITERS] >= budget:
        I[v, OK] = 0
        G[G_TIMEOUTS] += 1
        I[v, PC] = I[v, A_NEXT]
        I[v, MODE] = M_RUN
        return True
    line = mem[I[v, A_WORD], MEM_LINE]
    if L[line, L_WSEQ] != R[v, R_WSEQ]:
        # written after our load was served: our copy is already invalid, re-read
        if P[P_PLE_WINDOW] > 0.0:
            ple_loop(v, now, I, F, P, it)
        I[v, MODE] = M_REREAD
        tm_set(TF, TI, v, now + it)
        return False
    I[v, WATCH] = line
    add_watcher(L, line, v, I.shape[0])
    I[v, MODE] = M_PARKED
    F[v, F_PARK_T0] = now
    if P[P_PLE_WINDOW] > 0.0:
        # pause-loop exiting (hypervisor.py): the exit is due one window after the first
        # PAUSE of this PAUSE loop, unless the budget runs out first
        ple_loop(v, now, I, F, P, it)
        tp = F[v, F_PLE_T0] + F[v, F_PLE_WIN]
        if tp < now:
            tp = now
        if budget >= 0 and now + (budget - I[v, ITERS]) * it <= tp:
            F[v, F_PLE_DL] = INF
            tm_set(TF, TI, v, now + (budget - I[v, ITERS]) * it)
        else:
            F[v, F_PLE_DL] = tp
            tm_set(TF, TI, v, tp)
    elif budget >= 0:
        tm_set(TF, TI, v, now + (budget - I[v, ITERS]) * it)
    return False


@njit(**INNER, forceinline=True)
def spin_timeout(v, now, I, F, P, G):
    """The iteration budget ran out while parked: continue at A_NEXT with OK=0."""
    it = F[v, F_ITER]
    I[v, ITERS] += int((now - F[v, F_PARK_T0]) / it + 0.5)
    if I[v, ITERS] < I[v, A_BUDGET]:
        I[v, ITERS] = I[v, A_BUDGET]
    I[v, WATCH] = -1
    I[v, OK] = 0
    G[G_TIMEOUTS] += 1
    I[v, PC] = I[v, A_NEXT]
    I[v, MODE] = M_RUN
