"""Native queued spinlock, 4.18+ form (``qspinlock-4.18``): Will Deacon's 2018
determinism series with Peter Zijlstra's x86 ``queued_fetch_set_pending_acquire``, the
form x86 kernels run from 4.20 (at least through 5.10, the newest tree read) when PV
spinlocks are off (``virt_spin_lock``'s test-and-set hijack, :mod:`.tas`, is what a
guest without PV spinlocks runs instead).

Read: torvalds/linux ``kernel/locking/qspinlock.c`` at 0200fbdd431519d730b5d399a12840ec832b27cc
(4.20-5.1 era; the native slowpath is unchanged through 5.10, also read in a 5.10.13
tree) and ``arch/x86/include/asm/qspinlock.h`` at 0b77b97066628deef03a6eac7b29e5c3756f4ab0
(``_Q_PENDING_LOOPS (1 << 9)``, ``lock btsl`` + ``atomic_read``). The 4.18 merge
brought the bounded hand-over wait, the fetch-set-pending with undo, the single
claim cmpxchg and ``atomic_cond_read_acquire``; 4.18-4.19 x86 still set pending
with ``atomic_fetch_or_acquire`` (a ``lock cmpxchg`` loop on x86). 7aa54be29765
("locking/qspinlock, x86: Provide liveness guarantee", 4.20) replaced it with ``lock
btsl`` and a re-read, which is what this file models. Upstream ids of the 4.18
commits could not be pinned from a source: kernel-locks.md §1.5 lists the changes.

Lock word and nodes as in :mod:`.qspinlock` (``_Q_PENDING_BITS == 8``, one node per
CPU on its own line; the benchmark never nests, so ``idx`` is 0). Steps:

- fast path ``queued_spin_lock``: ``atomic_cmpxchg_acquire(&lock->val, 0,
  _Q_LOCKED_VAL)``;
- ``if (val == _Q_PENDING_VAL)``: bounded hand-over wait ``atomic_cond_read_relaxed(
  &lock->val, (VAL != _Q_PENDING_VAL) || !cnt--)`` with ``cnt = _Q_PENDING_LOOPS``:
  at most ``_Q_PENDING_LOOPS + 1`` loads (kernel argument ``LP_PENDING_LOOPS``);
- ``if (val & ~_Q_LOCKED_MASK) goto queue``;
- ``queued_fetch_set_pending_acquire``: ``lock btsl`` of bit 8 (a locked OR on the
  word; its carry flag is the old pending bit), then ``atomic_read`` of the word for
  the other bits;
- contention seen (pending or tail): ``clear_pending`` (byte store of 0 to the pending
  byte) if we were the one to set it, then queue;
- pending: ``atomic_cond_read_acquire(&lock->val, !(VAL & _Q_LOCKED_MASK))`` if it was
  locked, then ``clear_pending_set_locked`` (16-bit store of ``_Q_LOCKED_VAL``);
- queue: ``node->locked = 0; node->next = NULL;``, one ``queued_spin_trylock`` (always,
  unlike v10), ``xchg_tail``; with a predecessor, ``WRITE_ONCE(prev->next, node)``, spin
  on our ``locked`` (``arch_mcs_spin_lock_contended``), then ``next =
  READ_ONCE(node->next); if (next) prefetchw(next);``;
- head: ``val = atomic_cond_read_acquire(&lock->val, !(VAL & _Q_LOCKED_PENDING_MASK))``;
- claim: ``if ((val & _Q_TAIL_MASK) == tail)`` one ``atomic_try_cmpxchg_relaxed(
  &lock->val, &val, _Q_LOCKED_VAL)`` (the mask test also allows n,0,1 -> 0,0,1, which
  only PV lock stealing produces); on failure or another tail, no retry:
  ``set_locked`` (byte store), ``if (!next) next = smp_cond_load_relaxed(&node->next,
  (VAL))``, ``arch_mcs_spin_unlock_contended(&next->locked)`` (store of 1);
- unlock ``native_queued_spin_unlock``: ``smp_store_release(&lock->locked, 0)``.

``prefetchw(next)`` is a request for ownership of next's node line that the CPU does
not wait for. The coherence model has no prefetch operation, so it is a buffered
store with an empty mask: it moves ownership of the line to us and invalidates the
copy next spins on (next re-reads, as on the hardware), writes nothing, and the vCPU
goes on at once. Two differences from a real prefetch: it occupies the one-entry store
buffer, so our next store or locked RMW (the claim, well after it) first waits for it;
with ``memory_model="sc"`` every store blocks, so there the prefetch costs its latency.

Registers: R0 = val, R1 = my tail code, R2 = old pending bit from ``lock btsl``,
R4 = predecessor cpu (-1 if none; the MCS FIFO check), R5 = next cpu (-1: NULL).
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import INNER
from ..engine.state import (
    CMP_EQ,
    CMP_NE,
    G_STATUS,
    LKW,
    LP_PENDING_LOOPS,
    OK,
    OP_CMPXCHG,
    OP_LOAD,
    OP_OR,
    OP_XCHG,
    PATH,
    PATH_FAST,
    PATH_PENDING,
    PC,
    R0,
    R1,
    R2,
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
from .qspinlock import (
    _Q_LOCKED_MASK,
    _Q_LOCKED_PENDING_MASK,
    _Q_LOCKED_VAL,
    _Q_PENDING_MASK,
    _Q_PENDING_VAL,
    _Q_TAIL_MASK,
    _Q_VAL_MASK,
    _WORD,
    _queue_granted,
    decode_tail_cpu,
    encode_tail,
    qnode_locked,
    qnode_next,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 2  # qnodes[0].mcs.locked, qnodes[0].mcs.next (same layout as v10)

Q8_LOCK = 800  # queued_spin_lock (fast path)
Q8_FAST_DONE = 801
Q8_HANDOVER_DONE = 802  # after the bounded wait for 0,1,0 -> 0,0,1
Q8_CONTENDED = 803  # if (val & ~_Q_LOCKED_MASK) goto queue;
Q8_BTS_DONE = 804  # queued_fetch_set_pending_acquire: after lock btsl
Q8_FETCH_DONE = 805  # ... after the re-read
Q8_PEND_SPIN_DONE = 806
Q8_PEND_ACQ = 807
Q8_QUEUE = 810  # queue: node init
Q8_NODE_INIT2 = 811
Q8_TRYLOCK = 812
Q8_TRYLOCK_READ = 813
Q8_TRYLOCK_CAS = 814
Q8_XCHG_TAIL = 815
Q8_XCHG_DONE = 816
Q8_WAIT_LOCKED = 817  # arch_mcs_spin_lock_contended(&node->locked)
Q8_READ_NEXT = 818
Q8_PREFETCH = 819
Q8_HEAD_WAIT = 820
Q8_CLAIM = 821
Q8_CLAIM_CAS = 822
Q8_SET_LOCKED = 823
Q8_NEXT = 824
Q8_NEXT_SEEN = 825
Q8_NOTIFY = 826
Q8_ACQUIRED = 827
Q8_UNLOCK = 830

# A state that only decides where to go sets PC and requests no action: the engine's
# step loop (kernel.run_steps) runs the next state at once, at no simulated cost.


@njit(**INNER)
def qspinlock_418_step(v, now, I, F, G, LPa, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc == Q8_LOCK:
        # queued_spin_lock: val = atomic_cmpxchg_acquire(&lock->val, 0, _Q_LOCKED_VAL);
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, Q8_FAST_DONE)
    elif pc == Q8_FAST_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # queued_spin_lock_slowpath(lock, val)
        val = I[v, RES] & _Q_VAL_MASK
        I[v, R0] = val
        if val == _Q_PENDING_VAL:
            # int cnt = _Q_PENDING_LOOPS; val = atomic_cond_read_relaxed(&lock->val,
            #                 (VAL != _Q_PENDING_VAL) || !cnt--);
            # each iteration loads first: at most cnt + 1 loads
            act_spin(I, v, lock, _Q_VAL_MASK, CMP_NE, _Q_PENDING_VAL,
                     LPa[LP_PENDING_LOOPS] + 1, Q8_HANDOVER_DONE)
        else:
            I[v, PC] = Q8_CONTENDED
    elif pc == Q8_HANDOVER_DONE:
        I[v, R0] = I[v, RES] & _Q_VAL_MASK  # the last value read (cond met or cnt out)
        I[v, PC] = Q8_CONTENDED
    elif pc == Q8_CONTENDED:
        if I[v, R0] & ~_Q_LOCKED_MASK:
            # If we observe any contention; queue.
            I[v, PC] = Q8_QUEUE
        else:
            # val = queued_fetch_set_pending_acquire(lock);
            # x86: GEN_BINARY_RMWcc(LOCK_PREFIX "btsl", ..., _Q_PENDING_OFFSET)
            act_mem(I, v, OP_OR, lock, _Q_VAL_MASK, _Q_PENDING_VAL, 0, Q8_BTS_DONE)
    elif pc == Q8_BTS_DONE:
        # the carry flag: the old pending bit, * _Q_PENDING_VAL
        I[v, R2] = I[v, RES] & _Q_PENDING_VAL
        # val |= atomic_read(&lock->val) & ~_Q_PENDING_MASK;
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, Q8_FETCH_DONE)
    elif pc == Q8_FETCH_DONE:
        val = I[v, R2] | (I[v, RES] & _Q_VAL_MASK & ~_Q_PENDING_MASK)
        I[v, R0] = val
        if val & ~_Q_LOCKED_MASK:
            # If we observe contention, there is a concurrent locker. Undo and queue.
            if (val & _Q_PENDING_MASK) == 0:
                # Undo PENDING if we set it: clear_pending: WRITE_ONCE(lock->pending, 0);
                act_store(I, v, lock, _Q_PENDING_MASK, 0, 0, Q8_QUEUE)
            else:
                I[v, PC] = Q8_QUEUE
        elif val & _Q_LOCKED_MASK:
            # We're pending, wait for the owner to go away: 0,1,1 -> 0,1,0
            # atomic_cond_read_acquire(&lock->val, !(VAL & _Q_LOCKED_MASK));
            act_spin(I, v, lock, _Q_LOCKED_MASK, CMP_EQ, 0, -1, Q8_PEND_SPIN_DONE)
        else:
            I[v, PC] = Q8_PEND_SPIN_DONE
    elif pc == Q8_PEND_SPIN_DONE:
        # clear_pending_set_locked: WRITE_ONCE(lock->locked_pending, _Q_LOCKED_VAL);
        act_store(I, v, lock, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL, 0, Q8_PEND_ACQ)
    elif pc == Q8_PEND_ACQ:
        I[v, PATH] = PATH_PENDING
        I[v, PC] = W_LOCKED
    elif pc == Q8_QUEUE:
        # node = this_cpu_ptr(&qnodes[0].mcs); idx = node->count++;
        # tail = encode_tail(smp_processor_id(), idx); node->locked = 0;
        I[v, R1] = encode_tail(v)
        act_store(I, v, qnode_locked(I, v), _WORD, 0, 0, Q8_NODE_INIT2)
    elif pc == Q8_NODE_INIT2:
        # node->next = NULL; pv_init_node(node) is a no-op natively
        act_store(I, v, qnode_next(I, v), _WORD, 0, 0, Q8_TRYLOCK)
    elif pc == Q8_TRYLOCK:
        # if (queued_spin_trylock(lock)) goto release;  ("touched a cold cacheline")
        # queued_spin_trylock: if (!atomic_read(&lock->val) && ...
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, Q8_TRYLOCK_READ)
    elif pc == Q8_TRYLOCK_READ:
        if (I[v, RES] & _Q_VAL_MASK) == 0:
            # ... atomic_cmpxchg_acquire(&lock->val, 0, _Q_LOCKED_VAL) == 0)
            act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, Q8_TRYLOCK_CAS)
        else:
            I[v, PC] = Q8_XCHG_TAIL
    elif pc == Q8_TRYLOCK_CAS:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
        else:
            I[v, PC] = Q8_XCHG_TAIL
    elif pc == Q8_XCHG_TAIL:
        # smp_wmb() (a compiler barrier on x86); old = xchg_tail(lock, tail): 16-bit xchg
        act_mem(I, v, OP_XCHG, lock, _Q_TAIL_MASK, I[v, R1], 0, Q8_XCHG_DONE)
    elif pc == Q8_XCHG_DONE:
        I[v, R5] = -1  # next = NULL;
        old = I[v, RES]
        if old & _Q_TAIL_MASK:
            # prev = decode_tail(old); WRITE_ONCE(prev->next, node);
            prev = decode_tail_cpu(old)
            I[v, R4] = prev
            act_store(I, v, qnode_next(I, prev), _WORD, v + 1, 0, Q8_WAIT_LOCKED)
        else:
            I[v, R4] = -1
            I[v, PC] = Q8_HEAD_WAIT
    elif pc == Q8_WAIT_LOCKED:
        # arch_mcs_spin_lock_contended(&node->locked): smp_cond_load_acquire(l, VAL)
        act_spin(I, v, qnode_locked(I, v), _WORD, CMP_NE, 0, -1, Q8_READ_NEXT)
    elif pc == Q8_READ_NEXT:
        # next = READ_ONCE(node->next);
        act_mem(I, v, OP_LOAD, qnode_next(I, v), _WORD, 0, 0, Q8_PREFETCH)
    elif pc == Q8_PREFETCH:
        nxt = I[v, RES] - 1
        I[v, R5] = nxt
        if nxt >= 0:
            # if (next) prefetchw(next);  a non-blocking RFO of next's node line (see
            # the module docstring): a store that writes no bits
            act_store(I, v, qnode_locked(I, nxt), 0, 0, 0, Q8_HEAD_WAIT)
        else:
            I[v, PC] = Q8_HEAD_WAIT
    elif pc == Q8_HEAD_WAIT:
        # val = atomic_cond_read_acquire(&lock->val, !(VAL & _Q_LOCKED_PENDING_MASK));
        act_spin(I, v, lock, _Q_LOCKED_PENDING_MASK, CMP_EQ, 0, -1, Q8_CLAIM)
    elif pc == Q8_CLAIM:
        val = I[v, RES] & _Q_VAL_MASK
        I[v, R0] = val
        if (val & _Q_TAIL_MASK) == I[v, R1]:
            # if (atomic_try_cmpxchg_relaxed(&lock->val, &val, _Q_LOCKED_VAL))
            #         goto release; /* No contention */
            act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, val, Q8_CLAIM_CAS)
        else:
            I[v, PC] = Q8_SET_LOCKED
    elif pc == Q8_CLAIM_CAS:
        if I[v, OK] != 0:
            _queue_granted(v, I, G)
        else:
            # Either somebody is queued behind us or _Q_PENDING_VAL got set: no retry
            I[v, PC] = Q8_SET_LOCKED
    elif pc == Q8_SET_LOCKED:
        # set_locked(lock): WRITE_ONCE(lock->locked, _Q_LOCKED_VAL);
        act_store(I, v, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, Q8_NEXT)
    elif pc == Q8_NEXT:
        if I[v, R5] < 0:
            # if (!next) next = smp_cond_load_relaxed(&node->next, (VAL));
            act_spin(I, v, qnode_next(I, v), _WORD, CMP_NE, 0, -1, Q8_NEXT_SEEN)
        else:
            I[v, PC] = Q8_NOTIFY
    elif pc == Q8_NEXT_SEEN:
        I[v, R5] = I[v, RES] - 1
        I[v, PC] = Q8_NOTIFY
    elif pc == Q8_NOTIFY:
        # arch_mcs_spin_unlock_contended(&next->locked): smp_store_release(l, 1)
        act_store(I, v, qnode_locked(I, I[v, R5]), _WORD, 1, 0, Q8_ACQUIRED)
    elif pc == Q8_ACQUIRED:
        # release: __this_cpu_dec(qnodes[0].mcs.count); (local)
        _queue_granted(v, I, G)
    elif pc == Q8_UNLOCK:
        # native_queued_spin_unlock: smp_store_release(&lock->locked, 0);
        act_store(I, v, lock, _Q_LOCKED_MASK, 0, 1, W_UNLOCKED)
    else:
        G[G_STATUS] = ST_BAD_STATE
