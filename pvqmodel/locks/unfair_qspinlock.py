"""v10 queue spinlock with ``CONFIG_PARAVIRT_UNFAIR_LOCKS`` enabled (no PV), the
v10-era ``kernel/locking/qspinlock.c`` and ``arch/x86/include/asm/qspinlock.h``
(kernel-locks.md §4.3).

- fast path ``queue_spin_lock_unfair``: ``cmpxchg(&l->locked, 0, _Q_LOCKED_VAL)`` on
  the **byte**, ignoring pending and tail (a steal when waiters are queued); on
  failure ``queue_spin_lock_slowpath(lock, -1)``: the -1 "has a tail", so
  ``trylock_pending`` and the cold-cacheline trylock are skipped and the task queues;
- node setup adds ``unfair_init_vars``: ``qprev = NULL, prev_tail = 0, lsteal_mask =
  LSTEAL_MIN_MASK``; linking adds ``unfair_set_vars``: ``qprev = prev, prev_tail = old``,
  ``lsteal_mask = prev->qhead ? LSTEAL_MIN_MASK : (prev->lsteal_mask << 1) + 1`` capped at
  ``LSTEAL_MAX_MASK`` (kernel arguments ``LP_LSTEAL_MIN_MASK``/``LP_LSTEAL_MAX_MASK``);
- a queued waiter spins on its ``qhead`` and at loop count ``cnt`` with
  ``(cnt & lsteal_mask) == lsteal_mask`` calls ``unfair_get_lock``: a byte trylock
  (``queue_spin_trylock_unfair``: read the byte, cmpxchg 0 -> 1 if it was 0); on failure
  the mask is recomputed from ``qprev``; on success the node **dequeues itself**: if it
  is the tail, ``cmpxchg_tail(tail -> prev_tail)`` (0 if it was the head) and
  ``cmpxchg(&qprev->mcs.next, node, NULL)``; otherwise wait for ``next`` and splice
  ``qprev->next = next, next->qprev = qprev, next->prev_tail = prev_tail``; then
  ``if (node->qhead && node->mcs.next) goto notify_next``;
- the head claims with ``get_qlock`` = byte cmpxchg (it can fail: stolen, back to
  ``retry_queue_wait``) followed by ``unfair_check_and_clear_tail``, or with the
  whole-word cmpxchg when it is the only node (``else if (old & _Q_LOCKED_MASK) goto
  retry_queue_wait``).

The spin between steal attempts is parked with an iteration budget that ends exactly
at the next ``cnt`` with ``(cnt & mask) == mask``. Node words (5 per cpu, one line):
qhead, next (cpu+1), lsteal_mask, prev_tail, qprev (cpu+1). Not FIFO by design: the
FIFO check is off for this lock.

Registers: R0 = val, R1 = my tail, R2 = my lsteal_mask, R3 = loop count cnt,
R4 = isqhead / scratch, R5 = next cpu / scratch.
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import I2, INNER, i8
from ..engine.state import (
    CMP_EQ,
    CMP_NE,
    G_STATUS,
    G_STEALS,
    ITERS,
    LKW,
    LP_LSTEAL_MAX_MASK,
    LP_LSTEAL_MIN_MASK,
    NODEW,
    OK,
    OP_CMPXCHG,
    OP_LOAD,
    OP_XCHG,
    PATH,
    PATH_FAST,
    PATH_QUEUE,
    PATH_STEAL,
    PC,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    RES,
    ST_BAD_STATE,
    W_LOCKED,
    W_UNLOCKED,
    act_mem,
    act_spin,
    act_store,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 5
F_QHEAD = 0
F_NEXT = 1
F_MASK = 2
F_PREV_TAIL = 3
F_QPREV = 4

_Q_LOCKED_VAL = 1
_Q_LOCKED_MASK = 0xFF
_Q_LOCKED_PENDING_MASK = 0xFFFF
_Q_TAIL_CPU_OFFSET = 18
_Q_TAIL_MASK = 0xFFFF0000
_Q_VAL_MASK = 0xFFFFFFFF
_WORD = -1

UQ_LOCK = 400
UQ_FAST_DONE = 401
UQ_INIT1 = 402
UQ_INIT2 = 403
UQ_INIT3 = 404
UQ_INIT4 = 405
UQ_XCHG_TAIL = 406
UQ_XCHG_DONE = 407
UQ_SET_QPREV = 408
UQ_SET_PTAIL = 409
UQ_PREV_QHEAD = 410
UQ_PREV_MASK = 411
UQ_LINK = 412
UQ_WAIT = 413  # while (!smp_load_acquire(&node->qhead)) { cnt++; unfair_get_lock(); }
UQ_WAIT_DONE = 414
UQ_STEAL_READ = 415
UQ_STEAL_CAS = 416
UQ_REMASK_QPREV = 417
UQ_REMASK_QHEAD = 418
UQ_REMASK_MASK = 419
UQ_DQ_ISQHEAD = 420
UQ_DQ_PTAIL = 421
UQ_DQ_READ = 422
UQ_DQ_CTAIL = 423
UQ_DQ_QPREV = 424
UQ_DQ_UNLINK = 425
UQ_DQ_CLRNEXT = 426
UQ_DQ_WAITNEXT = 427
UQ_DQ_SQPREV = 428
UQ_DQ_SPLICE1 = 429
UQ_DQ_SPLICE2 = 430
UQ_DQ_SPLICE3 = 431
UQ_HEAD_WAIT = 440  # retry_queue_wait
UQ_HEAD_SEEN = 441
UQ_CLAIM = 442
UQ_GETQ_DONE = 443
UQ_CHK_READ = 444
UQ_CHK_DONE = 445
UQ_CLAIM_CAS = 446
UQ_NOTIFY_WAIT = 447
UQ_NOTIFY = 448
UQ_ACQ_QUEUE = 449
UQ_ACQ_STEAL = 450
UQ_POST_QHEAD = 451
UQ_POST_NEXT = 452
UQ_STEAL_DONE = 453
UQ_UNLOCK = 460


@njit(i8(I2, i8, i8), **INNER)
def qw(I, cpu, field):
    """Word index of a field of cpu's qnode: ``per_cpu_ptr`` is the cpu's node
    base ``I[cpu, NODEW]``."""
    return I[cpu, NODEW] + field


@njit(**INNER, forceinline=True)
def _next_attempt(cnt, mask):
    """Smallest loop count c > cnt with (c & mask) == mask."""
    c = cnt | mask
    if c == cnt:
        c = cnt + mask + 1
    return c


@njit(**INNER, forceinline=True)
def _wait(v, I):
    """Park on our qhead until it is set or the next steal attempt is due."""
    budget = _next_attempt(I[v, R3], I[v, R2]) - I[v, R3]
    I[v, PC] = UQ_WAIT
    act_spin(I, v, qw(I, v, F_QHEAD), _WORD, CMP_NE, 0, budget, UQ_WAIT_DONE)


@njit(**INNER)
def _head_wait(v, I):
    lock = I[v, LKW]  # the lock this operation takes (its word)
    I[v, PC] = UQ_HEAD_WAIT
    act_spin(I, v, lock, _Q_LOCKED_PENDING_MASK, CMP_EQ, 0, -1, UQ_HEAD_SEEN)


@njit(**INNER, forceinline=True)
def _new_mask(prev_qhead, prev_mask, LPa):
    if prev_qhead != 0:
        return LPa[LP_LSTEAL_MIN_MASK]
    m = (prev_mask << 1) + 1
    if m > LPa[LP_LSTEAL_MAX_MASK]:
        m = LPa[LP_LSTEAL_MAX_MASK]
    return m


@njit(**INNER)
def unfair_qspinlock_step(v, now, I, F, G, LPa, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc == UQ_LOCK:
        # queue_spin_lock_unfair: if (likely(cmpxchg(&l->locked, 0, _Q_LOCKED_VAL) == 0))
        act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, UQ_FAST_DONE)
    elif pc == UQ_FAST_DONE:
        if I[v, OK] != 0:
            if I[v, RES] & _Q_TAIL_MASK:
                G[G_STEALS] += 1
                I[v, PATH] = PATH_STEAL
            else:
                I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # queue_spin_lock_slowpath(lock, -1): trylock_pending() returns 0 (tail "set");
        # node->qhead = 0; node->mcs.next = NULL; unfair_init_vars(node);
        I[v, R1] = (v + 1) << _Q_TAIL_CPU_OFFSET
        I[v, R2] = LPa[LP_LSTEAL_MIN_MASK]
        I[v, R3] = 0
        act_store(I, v, qw(I, v, F_QHEAD), _WORD, 0, 0, UQ_INIT1)
    elif pc == UQ_INIT1:
        act_store(I, v, qw(I, v, F_NEXT), _WORD, 0, 0, UQ_INIT2)
    elif pc == UQ_INIT2:
        act_store(I, v, qw(I, v, F_QPREV), _WORD, 0, 0, UQ_INIT3)  # node->qprev = NULL
    elif pc == UQ_INIT3:
        act_store(I, v, qw(I, v, F_PREV_TAIL), _WORD, 0, 0, UQ_INIT4)  # node->prev_tail = 0
    elif pc == UQ_INIT4:
        # node->lsteal_mask = LSTEAL_MIN_MASK; then (val & _Q_TAIL_MASK) -> slowerpath
        act_store(I, v, qw(I, v, F_MASK), _WORD, I[v, R2], 0, UQ_XCHG_TAIL)
    elif pc == UQ_XCHG_TAIL:
        # old = xchg_tail(lock, tail, &val);
        act_mem(I, v, OP_XCHG, lock, _Q_TAIL_MASK, I[v, R1], 0, UQ_XCHG_DONE)
    elif pc == UQ_XCHG_DONE:
        old = I[v, RES] & _Q_TAIL_MASK
        if old:
            I[v, R0] = old
            I[v, R5] = (old >> _Q_TAIL_CPU_OFFSET) - 1  # prev = decode_tail(old)
            # unfair_set_vars(node, prev, old): node->qprev = prev;
            act_store(I, v, qw(I, v, F_QPREV), _WORD, I[v, R5] + 1, 0, UQ_SET_QPREV)
        else:
            # ACCESS_ONCE(node->qhead) = true;
            act_store(I, v, qw(I, v, F_QHEAD), _WORD, 1, 0, UQ_HEAD_WAIT)
    elif pc == UQ_SET_QPREV:
        # node->prev_tail = prev_tail;
        act_store(I, v, qw(I, v, F_PREV_TAIL), _WORD, I[v, R0], 0, UQ_SET_PTAIL)
    elif pc == UQ_SET_PTAIL:
        # node->lsteal_mask = prev->qhead ? LSTEAL_MIN_MASK : (prev->lsteal_mask << 1) + 1
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_QHEAD), _WORD, 0, 0, UQ_PREV_QHEAD)
    elif pc == UQ_PREV_QHEAD:
        I[v, R4] = I[v, RES]
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_MASK), _WORD, 0, 0, UQ_PREV_MASK)
    elif pc == UQ_PREV_MASK:
        I[v, R2] = _new_mask(I[v, R4], I[v, RES], LPa)
        act_store(I, v, qw(I, v, F_MASK), _WORD, I[v, R2], 0, UQ_LINK)
    elif pc == UQ_LINK:
        # ACCESS_ONCE(prev->mcs.next) = (struct mcs_spinlock *)node;
        act_store(I, v, qw(I, I[v, R5], F_NEXT), _WORD, v + 1, 0, UQ_WAIT)
    elif pc == UQ_WAIT:
        _wait(v, I)
    elif pc == UQ_WAIT_DONE:
        I[v, R3] += I[v, ITERS]  # INC_LOOP_CNT(cnt) for every iteration spent
        if I[v, OK] != 0:
            _head_wait(v, I)  # we are the queue head
        else:
            # unfair_get_lock(): (count & lsteal_mask) == lsteal_mask
            # queue_spin_trylock_unfair: if (!l->locked && cmpxchg(&l->locked, 0, 1) == 0)
            act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, UQ_STEAL_READ)
    elif pc == UQ_STEAL_READ:
        if (I[v, RES] & _Q_LOCKED_MASK) == 0:
            act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, UQ_STEAL_CAS)
        else:
            # lock stealing fails, re-adjust the lsteal mask: struct qnode *prev = qprev
            act_mem(I, v, OP_LOAD, qw(I, v, F_QPREV), _WORD, 0, 0, UQ_REMASK_QPREV)
    elif pc == UQ_STEAL_CAS:
        if I[v, OK] != 0:
            G[G_STEALS] += 1
            # stolen: isqhead = ACCESS_ONCE(node->qhead);
            act_mem(I, v, OP_LOAD, qw(I, v, F_QHEAD), _WORD, 0, 0, UQ_DQ_ISQHEAD)
        else:
            act_mem(I, v, OP_LOAD, qw(I, v, F_QPREV), _WORD, 0, 0, UQ_REMASK_QPREV)
    elif pc == UQ_REMASK_QPREV:
        I[v, R5] = I[v, RES] - 1
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_QHEAD), _WORD, 0, 0, UQ_REMASK_QHEAD)
    elif pc == UQ_REMASK_QHEAD:
        I[v, R4] = I[v, RES]
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_MASK), _WORD, 0, 0, UQ_REMASK_MASK)
    elif pc == UQ_REMASK_MASK:
        I[v, R2] = _new_mask(I[v, R4], I[v, RES], LPa)
        act_store(I, v, qw(I, v, F_MASK), _WORD, I[v, R2], 0, UQ_WAIT)
    elif pc == UQ_DQ_ISQHEAD:
        I[v, R4] = I[v, RES]
        if I[v, R4] != 0:
            I[v, R0] = 0  # prev_tail = isqhead ? 0 : node->prev_tail;
            act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, UQ_DQ_READ)
        else:
            act_mem(I, v, OP_LOAD, qw(I, v, F_PREV_TAIL), _WORD, 0, 0, UQ_DQ_PTAIL)
    elif pc == UQ_DQ_PTAIL:
        I[v, R0] = I[v, RES]
        # Step 1: if ((atomic_read(&lock->val) & _Q_TAIL_MASK) == tail && ...
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, UQ_DQ_READ)
    elif pc == UQ_DQ_READ:
        if (I[v, RES] & _Q_TAIL_MASK) == I[v, R1]:
            # ... cmpxchg_tail(lock, tail, prev_tail))
            act_mem(I, v, OP_CMPXCHG, lock, _Q_TAIL_MASK, I[v, R0], I[v, R1], UQ_DQ_CTAIL)
        else:
            act_spin(I, v, qw(I, v, F_NEXT), _WORD, CMP_NE, 0, -1, UQ_DQ_WAITNEXT)
    elif pc == UQ_DQ_CTAIL:
        if I[v, OK] != 0:
            if I[v, R4] == 0:
                # Step 2: (void)cmpxchg(&node->qprev->mcs.next, &node->mcs, NULL);
                act_mem(I, v, OP_LOAD, qw(I, v, F_QPREV), _WORD, 0, 0, UQ_DQ_QPREV)
            else:
                act_store(I, v, qw(I, v, F_NEXT), _WORD, 0, 0, UQ_ACQ_STEAL)
        else:
            # a next node has to be present: while (!(next = node->mcs.next)) relax;
            act_spin(I, v, qw(I, v, F_NEXT), _WORD, CMP_NE, 0, -1, UQ_DQ_WAITNEXT)
    elif pc == UQ_DQ_QPREV:
        act_mem(I, v, OP_CMPXCHG, qw(I, I[v, RES] - 1, F_NEXT), _WORD, 0, v + 1, UQ_DQ_UNLINK)
    elif pc == UQ_DQ_UNLINK:
        # node->mcs.next = NULL; return true;
        act_store(I, v, qw(I, v, F_NEXT), _WORD, 0, 0, UQ_ACQ_STEAL)
    elif pc == UQ_DQ_WAITNEXT:
        I[v, R5] = I[v, RES] - 1  # next
        if I[v, R4] == 0:
            # Steps 2 & 3: ACCESS_ONCE(node->qprev->mcs.next) = next; ...
            act_mem(I, v, OP_LOAD, qw(I, v, F_QPREV), _WORD, 0, 0, UQ_DQ_SQPREV)
        else:
            I[v, PC] = UQ_ACQ_STEAL
            act_mem(I, v, OP_LOAD, qw(I, v, F_QHEAD), _WORD, 0, 0, UQ_POST_QHEAD)
    elif pc == UQ_DQ_SQPREV:
        I[v, R0] = I[v, RES]  # qprev (cpu + 1)
        act_store(I, v, qw(I, I[v, R0] - 1, F_NEXT), _WORD, I[v, R5] + 1, 0, UQ_DQ_SPLICE1)
    elif pc == UQ_DQ_SPLICE1:
        # ACCESS_ONCE(next->qprev) = node->qprev;
        act_store(I, v, qw(I, I[v, R5], F_QPREV), _WORD, I[v, R0], 0, UQ_DQ_SPLICE2)
    elif pc == UQ_DQ_SPLICE2:
        act_mem(I, v, OP_LOAD, qw(I, v, F_PREV_TAIL), _WORD, 0, 0, UQ_DQ_SPLICE3)
    elif pc == UQ_DQ_SPLICE3:
        # ACCESS_ONCE(next->prev_tail) = node->prev_tail; smp_wmb(); return true;
        act_store(I, v, qw(I, I[v, R5], F_PREV_TAIL), _WORD, I[v, RES], 0, UQ_ACQ_STEAL)
    elif pc == UQ_ACQ_STEAL:
        # return true; caller: if (unlikely(node->qhead && node->mcs.next))
        #                          goto notify_next;
        act_mem(I, v, OP_LOAD, qw(I, v, F_QHEAD), _WORD, 0, 0, UQ_POST_QHEAD)
    elif pc == UQ_POST_QHEAD:
        if I[v, RES] != 0:
            act_mem(I, v, OP_LOAD, qw(I, v, F_NEXT), _WORD, 0, 0, UQ_POST_NEXT)
        else:
            I[v, PATH] = PATH_STEAL
            I[v, PC] = W_LOCKED
    elif pc == UQ_POST_NEXT:
        if I[v, RES] != 0:
            # notify_next: arch_mcs_spin_unlock_contended(&next->qhead);
            act_store(I, v, qw(I, I[v, RES] - 1, F_QHEAD), _WORD, 1, 0, UQ_STEAL_DONE)
        else:
            I[v, PATH] = PATH_STEAL
            I[v, PC] = W_LOCKED
    elif pc == UQ_STEAL_DONE:
        I[v, PATH] = PATH_STEAL
        I[v, PC] = W_LOCKED
    elif pc == UQ_HEAD_WAIT:
        _head_wait(v, I)
    elif pc == UQ_HEAD_SEEN:
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        _claim(v, I)
    elif pc == UQ_CLAIM:
        _claim(v, I)
    elif pc == UQ_GETQ_DONE:
        if I[v, OK] != 0:
            # unfair_check_and_clear_tail(lock, tail)
            act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, UQ_CHK_READ)
        else:
            _head_wait(v, I)  # stolen: goto retry_queue_wait;
    elif pc == UQ_CHK_READ:
        if (I[v, RES] & _Q_TAIL_MASK) == I[v, R1]:
            act_mem(I, v, OP_CMPXCHG, lock, _Q_TAIL_MASK, 0, I[v, R1], UQ_CHK_DONE)
        else:
            _notify(v, I)
    elif pc == UQ_CHK_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_QUEUE
            I[v, PC] = W_LOCKED
        else:
            _notify(v, I)
    elif pc == UQ_CLAIM_CAS:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_QUEUE
            I[v, PC] = W_LOCKED
        elif I[v, RES] & _Q_LOCKED_MASK:
            _head_wait(v, I)
        else:
            I[v, R0] = I[v, RES] & _Q_VAL_MASK
            _claim(v, I)
    elif pc == UQ_NOTIFY:
        # arch_mcs_spin_unlock_contended(&next->qhead);
        act_store(I, v, qw(I, I[v, RES] - 1, F_QHEAD), _WORD, 1, 0, UQ_ACQ_QUEUE)
    elif pc == UQ_ACQ_QUEUE:
        I[v, PATH] = PATH_QUEUE
        I[v, PC] = W_LOCKED
    elif pc == UQ_UNLOCK:
        act_store(I, v, lock, _Q_LOCKED_MASK, 0, 1, W_UNLOCKED)
    else:
        G[G_STATUS] = ST_BAD_STATE


@njit(**INNER)
def _claim(v, I):
    lock = I[v, LKW]  # the lock this operation takes (its word)
    I[v, PC] = UQ_CLAIM
    if I[v, R0] != I[v, R1]:
        # get_qlock(): return cmpxchg(&l->locked, 0, _Q_LOCKED_VAL) == 0;
        act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, UQ_GETQ_DONE)
    else:
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, I[v, R0], UQ_CLAIM_CAS)


@njit(**INNER, forceinline=True)
def _notify(v, I):
    # notify_next: while (!(next = ACCESS_ONCE(node->mcs.next))) cpu_relax();
    I[v, PC] = UQ_NOTIFY_WAIT
    act_spin(I, v, qw(I, v, F_NEXT), _WORD, CMP_NE, 0, -1, UQ_NOTIFY)
