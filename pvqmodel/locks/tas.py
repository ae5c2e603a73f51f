"""Test-and-test-and-set on the whole qspinlock word: ``virt_spin_lock``.

``arch/x86/include/asm/qspinlock.h`` (4.2+): on a hypervisor without PV spinlocks the
native slowpath falls back to test-and-set "because fair locks have horrible lock
'holder' preemption issues". Entry is the normal ``queued_spin_lock`` fast-path
cmpxchg; the slowpath is ``do { while (atomic_read(&lock->val) != 0) cpu_relax(); }
while (atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL) != 0);`` (the TTAS read-first
form). Unlock is the native byte store of 0 (``native_queued_spin_unlock``). No
queue, no pending bit, no fairness: per-task completion times spread.
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import INNER
from ..engine.state import (
    CMP_EQ,
    G_STATUS,
    LKW,
    OK,
    OP_CMPXCHG,
    PATH,
    PATH_FAST,
    PATH_SPIN,
    PC,
    ST_BAD_STATE,
    W_LOCKED,
    W_UNLOCKED,
    act_mem,
    act_spin,
    act_store,
)

W_LOCK = 0
N_WORDS_PER_CPU = 0

_Q_LOCKED_VAL = 1
_Q_LOCKED_MASK = 0xFF
_Q_VAL_MASK = 0xFFFFFFFF

TS_LOCK = 300  # queued_spin_lock fast path
TS_FAST_DONE = 301
TS_SPIN = 302  # virt_spin_lock: while (atomic_read(&lock->val) != 0) cpu_relax();
TS_CAS = 303
TS_CAS_DONE = 304
TS_UNLOCK = 310


@njit(**INNER)
def tas_step(v, now, I, F, G, LP, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc == TS_LOCK:
        # if (likely(atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL) == 0)) return;
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, TS_FAST_DONE)
    elif pc == TS_FAST_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
        else:
            I[v, PC] = TS_SPIN
            act_spin(I, v, lock, _Q_VAL_MASK, CMP_EQ, 0, -1, TS_CAS)
    elif pc == TS_SPIN:
        act_spin(I, v, lock, _Q_VAL_MASK, CMP_EQ, 0, -1, TS_CAS)
    elif pc == TS_CAS:
        # } while (atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL) != 0);
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, TS_CAS_DONE)
    elif pc == TS_CAS_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_SPIN
            I[v, PC] = W_LOCKED
        else:
            act_spin(I, v, lock, _Q_VAL_MASK, CMP_EQ, 0, -1, TS_CAS)
    elif pc == TS_UNLOCK:
        # native_queued_spin_unlock: smp_store_release(&lock->locked, 0)
        act_store(I, v, lock, _Q_LOCKED_MASK, 0, 1, W_UNLOCKED)
    else:
        G[G_STATUS] = ST_BAD_STATE
