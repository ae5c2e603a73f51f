"""Native queued spinlock, v10-era form (Waiman Long's May 2014 series, the seed's
base), with the merged (4.2-4.4) form noted where it differs. Registered as
``"qspinlock"`` (the name the seed table's ``"queue"`` column and the calibration use)
and ``"qspinlock-v10"``; the 4.18+ native form is :mod:`.qspinlock_418`.

Lock word (``_Q_PENDING_BITS == 8`` layout, NR_CPUS < 16K): locked byte bits 0-7,
pending byte bits 8-15, tail bits 16-31 = ``(cpu + 1) << _Q_TAIL_CPU_OFFSET | idx <<
_Q_TAIL_IDX_OFFSET``. Per-CPU ``qnodes``: node 0 of cpu c has ``mcs.locked`` (v10
calls it ``qhead``) and ``mcs.next`` on its own cache line. The benchmark never
nests, so ``idx`` is always 0.

Steps and the form they follow:

- fast path ``queue_spin_lock``: ``atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL)``
  (same in v10 and merged);
- ``trylock_pending`` (**v10 form**, kernel-locks.md §4.3): queue if the tail is set;
  if locked and pending are both set, ``cpu_relax(); cpu_relax();`` re-read and retry
  once (``retry = 1``, kernel argument ``LP_PENDING_RETRY``), then queue; if only
  pending is set (hand-over in progress) keep re-reading (unbounded, as in 4.2-4.4);
  else cmpxchg to ``_Q_LOCKED_VAL`` (trylock) or ``_Q_LOCKED_VAL|_Q_PENDING_VAL``.
  The pending waiter spins on the locked byte, then ``clear_pending_set_locked``: a
  16-bit store of ``_Q_LOCKED_VAL`` to ``locked_pending``. (Merged 4.2-4.4 has no
  retry budget: it queues at once when locked and pending are both set.)
- node setup, then ``if ((val & _Q_TAIL_MASK) || !queue_spin_trylock(lock))`` go to the
  slowerpath: one trylock (read the word, cmpxchg 0 -> locked if it was 0) "because we
  touched a cold cacheline", skipped when the last observed value had a tail (v10;
  merged 4.2-4.4 always tries);
- ``queue_spin_lock_slowerpath`` (**v10 form**): ``xchg_tail`` (16-bit xchg on the
  tail half-word); with a predecessor, ``ACCESS_ONCE(prev->mcs.next) = node`` and spin
  on our own ``qhead``; without one, ``ACCESS_ONCE(node->qhead) = true`` (v10; merged
  code does not write its own ``locked``);
- queue head: spin (load-acquire) until locked and pending are both 0
  (``retry_queue_wait``);
- claim: ``if (val != tail) get_qlock(lock)`` (native: byte store of
  ``_Q_LOCKED_VAL``) else ``atomic_cmpxchg(&lock->val, val, _Q_LOCKED_VAL)``, retried
  with the returned value (same shape as merged);
- notify: spin until ``node->mcs.next`` is set, then
  ``arch_mcs_spin_unlock_contended(&next->qhead)`` (store-release of 1);
- unlock: ``queue_spin_unlock``: ``ACCESS_ONCE(*(u8 *)lock) = 0`` (byte store).

Registers: R0 = val (last observed lock word), R1 = my tail code, R2 = ``new`` in
trylock_pending, R3 = retry budget left, R4 = predecessor cpu (-1 if none), R5 = next
cpu.
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import I2, INNER, i8
from ..engine.state import (
    CMP_EQ,
    CMP_NE,
    G_STATUS,
    GL_QLAST,
    LKI,
    LKW,
    LP_PENDING_RETRY,
    NODEW,
    OK,
    OP_CMPXCHG,
    OP_LOAD,
    OP_XCHG,
    P_PAUSE,
    PATH,
    PATH_FAST,
    PATH_PENDING,
    PATH_QUEUE,
    PC,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    RES,
    ST_BAD_STATE,
    ST_FIFO,
    W_LOCKED,
    W_UNLOCKED,
    act_delay,
    act_mem,
    act_spin,
    act_store,
    gl,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 2  # qnodes[0].mcs.locked (qhead), qnodes[0].mcs.next


_Q_LOCKED_VAL = 1
_Q_LOCKED_MASK = 0xFF
_Q_PENDING_VAL = 1 << 8
_Q_PENDING_MASK = 0xFF00
_Q_LOCKED_PENDING_MASK = 0xFFFF
_Q_TAIL_OFFSET = 16
_Q_TAIL_CPU_OFFSET = 18
_Q_TAIL_MASK = 0xFFFF0000
_Q_VAL_MASK = 0xFFFFFFFF
_WORD = -1  # a whole-word field of a node

QS_LOCK = 200  # queue_spin_lock (fast path)
QS_FAST_DONE = 201
QS_TP_LOOP = 202  # trylock_pending: for (;;) { ... }
QS_TP_REREAD = 203
QS_TP_READ_DONE = 204
QS_TP_CAS_DONE = 205
QS_PEND_SPIN_DONE = 206
QS_PEND_ACQ = 207
QS_NODE_INIT = 210
QS_NODE_INIT2 = 211
QS_TRYLOCK = 212
QS_TRYLOCK_READ = 213
QS_TRYLOCK_CAS = 214
QS_XCHG_TAIL = 215
QS_XCHG_DONE = 216
QS_WAIT_QHEAD = 217
QS_HEAD_WAIT = 218
QS_HEAD_SEEN = 219
QS_CLAIM = 220
QS_CLAIM_CAS = 221
QS_WAIT_NEXT = 222
QS_NOTIFY = 223
QS_ACQUIRED = 224
QS_UNLOCK = 230


@njit(**INNER)
def qnode_locked(I, cpu):
    return I[cpu, NODEW]  # per_cpu_ptr(&qnodes[0].mcs, cpu)->locked


@njit(i8(I2, i8), **INNER)
def qnode_next(I, cpu):
    return I[cpu, NODEW] + 1


@njit(**INNER)
def encode_tail(cpu):
    return (cpu + 1) << _Q_TAIL_CPU_OFFSET  # idx 0


@njit(i8(i8), **INNER)
def decode_tail_cpu(val):
    return ((val & _Q_TAIL_MASK) >> _Q_TAIL_CPU_OFFSET) - 1


@njit(**INNER)
def qspinlock_step(v, now, I, F, G, LPa, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc == QS_LOCK:
        # queue_spin_lock: if (likely(!atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL)))
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, QS_FAST_DONE)
    elif pc == QS_FAST_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # queue_spin_lock_slowpath(lock, val)
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        I[v, R3] = LPa[LP_PENDING_RETRY]  # int retry = 1;
        I[v, PC] = QS_TP_LOOP
        _tp_loop(v, I, F, P)
    elif pc == QS_TP_LOOP:
        _tp_loop(v, I, F, P)
    elif pc == QS_TP_REREAD:
        # *pval = val = atomic_read(&lock->val);
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, QS_TP_READ_DONE)
    elif pc == QS_TP_READ_DONE:
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        I[v, PC] = QS_TP_LOOP
        _tp_loop(v, I, F, P)
    elif pc == QS_TP_CAS_DONE:
        if I[v, OK] == 0:
            # *pval = val = old; (loop)
            I[v, R0] = I[v, RES] & _Q_VAL_MASK
            I[v, PC] = QS_TP_LOOP
            _tp_loop(v, I, F, P)
            return
        if I[v, R2] == _Q_LOCKED_VAL:  # we won the trylock
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # we're pending, wait for the owner to go away:
        # while ((val = smp_load_acquire(&lock->val.counter)) & _Q_LOCKED_MASK)
        #         arch_mutex_cpu_relax();
        act_spin(I, v, lock, _Q_LOCKED_MASK, CMP_EQ, 0, -1, QS_PEND_SPIN_DONE)
    elif pc == QS_PEND_SPIN_DONE:
        # clear_pending_set_locked: ACCESS_ONCE(l->locked_pending) = _Q_LOCKED_VAL;
        act_store(I, v, lock, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL, 0, QS_PEND_ACQ)
    elif pc == QS_PEND_ACQ:
        I[v, PATH] = PATH_PENDING
        I[v, PC] = W_LOCKED
    elif pc == QS_NODE_INIT:
        # node = this_cpu_ptr(&qnodes[0]); idx = node->mcs.count++;
        # tail = encode_tail(smp_processor_id(), idx); node->qhead = 0;
        I[v, R1] = encode_tail(v)
        act_store(I, v, qnode_locked(I, v), _WORD, 0, 0, QS_NODE_INIT2)
    elif pc == QS_NODE_INIT2:
        # node->mcs.next = NULL;
        act_store(I, v, qnode_next(I, v), _WORD, 0, 0, QS_TRYLOCK)
    elif pc == QS_TRYLOCK and (I[v, R0] & _Q_TAIL_MASK) != 0:
        # if ((val & _Q_TAIL_MASK) || !queue_spin_trylock(lock))
        #         queue_spin_lock_slowerpath(lock, node, tail);
        I[v, PC] = QS_XCHG_TAIL
        _xchg_tail(v, I)
    elif pc == QS_TRYLOCK:
        # queue_spin_trylock: if (!atomic_read(&lock->val) && ...
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, QS_TRYLOCK_READ)
    elif pc == QS_TRYLOCK_READ:
        if (I[v, RES] & _Q_VAL_MASK) == 0:
            # ... (atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL) == 0))
            act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, QS_TRYLOCK_CAS)
        else:
            I[v, PC] = QS_XCHG_TAIL
            _xchg_tail(v, I)
    elif pc == QS_TRYLOCK_CAS:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
        else:
            I[v, PC] = QS_XCHG_TAIL
            _xchg_tail(v, I)
    elif pc == QS_XCHG_TAIL:
        _xchg_tail(v, I)
    elif pc == QS_XCHG_DONE:
        old = I[v, RES]
        if old & _Q_TAIL_MASK:
            # prev = decode_tail(old); ACCESS_ONCE(prev->mcs.next) = node;
            prev = decode_tail_cpu(old)
            I[v, R4] = prev
            act_store(I, v, qnode_next(I, prev), _WORD, v + 1, 0, QS_WAIT_QHEAD)
        else:
            # ACCESS_ONCE(node->qhead) = true;   (v10)
            I[v, R4] = -1
            act_store(I, v, qnode_locked(I, v), _WORD, 1, 0, QS_HEAD_WAIT)
    elif pc == QS_WAIT_QHEAD:
        # while (!smp_load_acquire(&node->qhead)) arch_mutex_cpu_relax();
        act_spin(I, v, qnode_locked(I, v), _WORD, CMP_NE, 0, -1, QS_HEAD_WAIT)
    elif pc == QS_HEAD_WAIT:
        # retry_queue_wait: while ((val = smp_load_acquire(&lock->val.counter))
        #                          & _Q_LOCKED_PENDING_MASK) arch_mutex_cpu_relax();
        act_spin(I, v, lock, _Q_LOCKED_PENDING_MASK, CMP_EQ, 0, -1, QS_HEAD_SEEN)
    elif pc == QS_HEAD_SEEN:
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        I[v, PC] = QS_CLAIM
        _claim(v, I)
    elif pc == QS_CLAIM:
        _claim(v, I)
    elif pc == QS_CLAIM_CAS:
        if I[v, OK] != 0:
            # if (old == val) return;  /* No contention */
            _queue_granted(v, I, G)
        elif I[v, RES] & _Q_LOCKED_MASK:
            # else if (old & _Q_LOCKED_MASK) goto retry_queue_wait;  (only if stolen)
            I[v, PC] = QS_HEAD_WAIT
            act_spin(I, v, lock, _Q_LOCKED_PENDING_MASK, CMP_EQ, 0, -1, QS_HEAD_SEEN)
        else:
            I[v, R0] = I[v, RES] & _Q_VAL_MASK  # val = old;
            I[v, PC] = QS_CLAIM
            _claim(v, I)
    elif pc == QS_WAIT_NEXT:
        # while (!(next = (struct qnode *)ACCESS_ONCE(node->mcs.next)))
        #         arch_mutex_cpu_relax();
        act_spin(I, v, qnode_next(I, v), _WORD, CMP_NE, 0, -1, QS_NOTIFY)
    elif pc == QS_NOTIFY:
        nxt = I[v, RES] - 1
        I[v, R5] = nxt
        # notify_next: arch_mcs_spin_unlock_contended(&next->qhead);
        act_store(I, v, qnode_locked(I, nxt), _WORD, 1, 0, QS_ACQUIRED)
    elif pc == QS_ACQUIRED:
        _queue_granted(v, I, G)
    elif pc == QS_UNLOCK:
        # queue_spin_unlock: ACCESS_ONCE(*(u8 *)lock) = 0;
        act_store(I, v, lock, _Q_LOCKED_MASK, 0, 1, W_UNLOCKED)
    else:
        G[G_STATUS] = ST_BAD_STATE


@njit(**INNER)
def _tp_loop(v, I, F, P):
    """One pass of the v10 ``trylock_pending`` for (;;) loop on val = R0."""
    lock = I[v, LKW]  # the lock this operation takes (its word)
    val = I[v, R0]
    if val & _Q_TAIL_MASK:
        # if (val & _Q_TAIL_MASK) return 0;   -> be queued
        I[v, PC] = QS_NODE_INIT
        act_store(I, v, qnode_locked(I, v), _WORD, 0, 0, QS_NODE_INIT2)
        I[v, R1] = encode_tail(v)
        return
    lp = val & _Q_LOCKED_PENDING_MASK
    if lp == (_Q_LOCKED_VAL | _Q_PENDING_VAL):
        # both set: if (!retry) return 0; retry--; cpu_relax(); cpu_relax(); re-read
        if I[v, R3] <= 0:
            I[v, PC] = QS_NODE_INIT
            I[v, R1] = encode_tail(v)
            act_store(I, v, qnode_locked(I, v), _WORD, 0, 0, QS_NODE_INIT2)
            return
        I[v, R3] -= 1
        act_delay(I, F, v, 2.0 * P[P_PAUSE], QS_TP_REREAD)
        return
    if lp == _Q_PENDING_VAL:
        # pending set, lock not: the pending holder is about to take the lock; wait.
        # cpu_relax(); *pval = val = atomic_read(&lock->val); continue;
        act_spin(I, v, lock, _Q_VAL_MASK, CMP_NE, val, -1, QS_TP_READ_DONE)
        return
    new = _Q_LOCKED_VAL
    if val == new:
        new |= _Q_PENDING_VAL
    I[v, R2] = new
    # old = atomic_cmpxchg(&lock->val, val, new);
    act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, new, val, QS_TP_CAS_DONE)


@njit(**INNER)
def _xchg_tail(v, I):
    lock = I[v, LKW]  # the lock this operation takes (its word)
    # old = xchg_tail(lock, tail): 16-bit xchg on the tail half-word
    act_mem(I, v, OP_XCHG, lock, _Q_TAIL_MASK, I[v, R1], 0, QS_XCHG_DONE)


@njit(**INNER)
def _claim(v, I):
    lock = I[v, LKW]  # the lock this operation takes (its word)
    val = I[v, R0]
    if val != I[v, R1]:
        # get_qlock(lock): ACCESS_ONCE(l->locked) = _Q_LOCKED_VAL; then wait for next
        act_store(I, v, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, QS_WAIT_NEXT)
    else:
        # old = atomic_cmpxchg(&lock->val, val, _Q_LOCKED_VAL);
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, val, QS_CLAIM_CAS)


@njit(**INNER, forceinline=True)
def _queue_granted(v, I, G):
    # FIFO check: the MCS queue grants in xchg_tail order, so our predecessor in the
    # queue must be the previous queue-path acquirer.
    prev = I[v, R4]
    if prev >= 0 and G[gl(I[v, LKI]) + GL_QLAST] != prev:
        G[G_STATUS] = ST_FIFO
    G[gl(I[v, LKI]) + GL_QLAST] = v
    I[v, PATH] = PATH_QUEUE
    I[v, PC] = W_LOCKED
