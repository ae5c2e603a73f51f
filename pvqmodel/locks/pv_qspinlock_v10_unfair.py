"""The seed's PV queue spinlock with ``CONFIG_PARAVIRT_UNFAIR_LOCKS`` also on: "lock
stealing will still be allowed in the fastpath, but not in the slowpath" (patch 17's
message; v10-era ``kernel/locking/qspinlock.c`` and ``arch/x86/include/asm/qspinlock.h``,
kernel-locks.md §4.3).

Everything is :mod:`pvqmodel.locks.pv_qspinlock_v10` (same node layout, PV handshake,
unlock slowpath) except the steps below, which have their own program counters or
override one of the PV lock's:

- fast path ``queue_spin_lock_unfair``: ``cmpxchg(&qlock->locked, 0, _Q_LOCKED_VAL)`` on
  the **byte**, ignoring pending and tail (a steal when waiters are queued); on failure
  ``queue_spin_lock_slowpath(lock, -1)`` (one ``P_PV_CALL``): the -1 "has a tail", so
  ``trylock_pending`` returns 0 without touching memory and the cold-cacheline trylock
  is skipped: the task always queues, and the pending bit is never set;
- node setup adds ``unfair_init_vars``: ``qprev = NULL`` (``qprev`` is ``pv.prev`` when
  PV is configured), ``prev_tail = 0``, ``lsteal_mask = LSTEAL_MIN_MASK``, before
  ``pv_init_vars``;
- no waiter stealing: ``unfair_set_vars``, ``unfair_get_lock`` and
  ``unfair_check_and_clear_tail`` all return at once when ``pv_qspinlock_enabled()``, so
  a queued node never leaves the queue early and queue grants stay FIFO (the engine's
  MCS FIFO check stays on);
- head claim (overrides ``PQ_CLAIM`` when ``val != tail``): ``get_qlock`` is
  ``cmpxchg(&l->locked, 0, _Q_LOCKED_VAL) == 0`` and fails if a fast-path stealer took
  the byte, in which case the head goes back to ``retry_queue_wait`` (with ``hcnt = 0``);
  on success ``unfair_check_and_clear_tail`` is false under PV, so ``notify_next`` and
  ``pv_halt_check`` follow as in the fair lock. With ``val == tail`` the whole-word
  cmpxchg of the fair lock is used unchanged.

The release-before-kick order of ``queue_spin_unlock_slowpath`` matters here: a
fast-path stealer can take the lock while the kicked head is still waking.
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import INNER
from ..engine.state import (
    G_STEALS,
    LKW,
    LP_LSTEAL_MIN_MASK,
    OK,
    OP_CMPXCHG,
    PATH,
    PATH_FAST,
    PATH_STEAL,
    PC,
    R0,
    R1,
    R6,
    RES,
    W_LOCKED,
    act_mem,
    act_store,
)
from .pv_qspinlock_v10 import (
    _Q_LOCKED_MASK,
    _Q_LOCKED_VAL,
    _Q_TAIL_MASK,
    _Q_VAL_MASK,
    _WORD,
    F_LSTEAL_MASK,
    F_NEXT,
    F_PREV,
    F_PREV_TAIL,
    F_QHEAD,
    PQ_CLAIM,
    PQ_HEAD_WAIT,
    PQ_PV_INIT,
    PQ_UNLOCK,
    PQ_WAIT_NEXT,
    encode_tail,
    pv_call,
    pv_qspinlock_v10_step,
    qw,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 8  # the PV lock's layout (it reserves the unfair fields)

PU_LOCK = 700  # queue_spin_lock_unfair
PU_FAST_DONE = 701
PU_INIT = 702  # node->qhead = 0
PU_INIT2 = 703
PU_INIT3 = 704  # unfair_init_vars
PU_INIT4 = 705
PU_INIT5 = 706
PU_GETQ_DONE = 710
PU_UNLOCK = PQ_UNLOCK  # queue_spin_unlock: the PV unlock unchanged


@njit(**INNER)
def pv_qspinlock_v10_unfair_step(v, now, I, F, G, LPa, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc < 700:
        if pc == PQ_CLAIM and I[v, R0] != I[v, R1]:
            # for (;;) { LOOP_CNT(hcnt = 0); if (val != tail) {
            #     if (get_qlock(lock)) { ... break; } else goto retry_queue_wait; } ...
            I[v, R6] = 0
            act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, PU_GETQ_DONE)
        else:
            pv_qspinlock_v10_step(v, now, I, F, G, LPa, P, n)
    elif pc == PU_LOCK:
        # queue_spin_lock_unfair: if (likely(cmpxchg(&qlock->locked, 0, _Q_LOCKED_VAL) == 0))
        act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, PU_FAST_DONE)
    elif pc == PU_FAST_DONE:
        if I[v, OK] != 0:
            if I[v, RES] & _Q_TAIL_MASK:
                G[G_STEALS] += 1  # taken over queued waiters
                I[v, PATH] = PATH_STEAL
            else:
                I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # queue_spin_lock_slowpath(lock, -1): trylock_pending() sees a "tail": return 0
        I[v, R0] = -1 & _Q_VAL_MASK
        I[v, R1] = encode_tail(v)
        pv_call(v, I, F, P, PU_INIT)
    elif pc == PU_INIT:
        # node->qhead = 0;
        act_store(I, v, qw(I, v, F_QHEAD), _WORD, 0, 0, PU_INIT2)
    elif pc == PU_INIT2:
        # node->mcs.next = NULL;
        act_store(I, v, qw(I, v, F_NEXT), _WORD, 0, 0, PU_INIT3)
    elif pc == PU_INIT3:
        # unfair_init_vars(node): node->qprev = NULL;   (qprev is pv.prev)
        act_store(I, v, qw(I, v, F_PREV), _WORD, 0, 0, PU_INIT4)
    elif pc == PU_INIT4:
        act_store(I, v, qw(I, v, F_PREV_TAIL), _WORD, 0, 0, PU_INIT5)  # node->prev_tail = 0;
    elif pc == PU_INIT5:
        # node->lsteal_mask = LSTEAL_MIN_MASK; then pv_init_vars(&node->pv, cpu_nr) and,
        # as (val & _Q_TAIL_MASK), queue_spin_lock_slowerpath()
        act_store(I, v, qw(I, v, F_LSTEAL_MASK), _WORD, LPa[LP_LSTEAL_MIN_MASK], 0, PQ_PV_INIT)
    elif pc == PU_GETQ_DONE:
        if I[v, OK] != 0:
            # unfair_check_and_clear_tail() is false under PV: break; -> notify_next
            I[v, PC] = PQ_WAIT_NEXT
        else:
            I[v, PC] = PQ_HEAD_WAIT  # stolen: goto retry_queue_wait;
    else:
        pv_qspinlock_v10_step(v, now, I, F, G, LPa, P, n)
