"""PV ticket spinlock, 3.12-3.19 (``arch/x86/include/asm/spinlock.h`` with
``CONFIG_PARAVIRT_SPINLOCKS``, ``arch/x86/kernel/kvm.c``; kernel-locks.md §3.3).

With ``CONFIG_PARAVIRT_SPINLOCKS`` ``__TICKET_LOCK_INC`` is 2 and bit 0 of the **tail**
is ``TICKET_SLOWPATH_FLAG``: tickets advance by 2 and are compared with the flag masked
off. Model word ``W_LOCK`` holds head in bits 0..31 and tail (flag in bit 32) in bits
32..62, as in :mod:`.ticket` (the kernel's u8/u16 halves wrap; only equality is ever
compared).

- ``arch_spin_lock``: ``xadd`` the tail; ``if (likely(inc.head == inc.tail))`` (raw,
  flag included) the lock is ours; else mask the flag off our ticket and loop: spin
  ``SPIN_THRESHOLD`` iterations (kernel argument ``LP_SPIN_THRESHOLD``) for ``head ==
  ticket``, then the pv-op ``__ticket_lock_spinning`` -> ``kvm_lock_spinning``: publish
  ``klock_waiting`` (``w->lock = NULL; w->want = want; w->lock = lock``; the
  ``smp_wmb()``s are compiler barriers on x86, and the engine's TSO store buffer keeps
  the stores in order), ``cpumask_set_cpu`` (locked ``bts`` on ``waiting_cpus``),
  ``__ticket_enter_slowpath`` (locked ``bts`` of the tail flag), re-check ``head ==
  want`` (``TAKEN_SLOW_PICKUP``: no halt), else HLT; then ``cpumask_clear_cpu``,
  ``w->lock = NULL`` and back to spinning.
- ``arch_spin_unlock`` (``paravirt_spinlocks_enabled``): ``prev = *lock``;
  ``add_smp(&lock->tickets.head, TICKET_LOCK_INC)`` (locked add: releases the lock);
  **re-read** ``lock->tickets.tail`` (the kernel tests the fresh tail, not ``prev``);
  if flagged, ``__ticket_unlock_slowpath(lock, prev)``: ``old = prev`` with ``head +=
  INC``, ``new = old`` without the flag; if ``new.head != new.tail`` or
  ``cmpxchg(&lock->head_tail, old, new)`` fails, ``__ticket_unlock_kick(lock,
  old.head)`` -> ``kvm_unlock_kick``: ``for_each_cpu(cpu, &waiting_cpus)`` (one load
  per bitmap word visited, as ``find_next_bit`` does), read ``w->lock`` then ``w->want``
  (``&&`` short-circuit) and ``kvm_kick_cpu`` the first match only.

Not modelled: ``in_nmi()`` (no NMIs), ``local_irq_save``/``restore`` and the
``halt()`` vs ``safe_halt()`` choice (the benchmark takes the lock with IRQs enabled,
so the HLT is ``safe_halt``: an interrupt wakes it, which the engine's spurious wake-ups
stand for), the debugfs statistics and ``spin_time_start``. Costs: one ``P_PV_CALL``
per pv-op call (``lock_spinning``, ``unlock_kick``) and one for the unlock's paravirt
branch (``static_key_false(&paravirt_spinlocks_enabled)`` taken).

Memory: per-CPU ``klock_waiting`` (2 words on the CPU's line: ``want``, ``lock``); the
``waiting_cpus`` cpumask is ``N_GLOBAL_WORDS`` words (64 CPUs per word) on one shared
line (one per VM, at ``LP_GLOBAL_W0``). ``lock`` holds the lock's word + ``LOCK_PTR`` (its
"address") or 0 (NULL). CPU numbers in the cpumask and the scan are the guest's own
(vCPU ``LP_VCPU0 + cpu`` of the VM), as the kernel's ``smp_processor_id()``.

Registers: R0 = my ticket (``inc.tail`` without the flag); unlock: R1 = ``prev``,
R2 = ``old.head_tail``, R3 = ``find_next_bit`` offset, R4 = candidate cpu.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..engine.sigs import F1, F2, I1, I2, INNER, i8, void
from ..engine.state import (
    CMP_EQ,
    G_SLOW_OPEN,
    G_SLOW_UNLOCKS,
    G_STATUS,
    GF_SLOW_UNLOCK_NS,
    GL_TICKET_NEXT,
    HALT_TICKET,
    LKI,
    LKW,
    LP_GLOBAL_W0,
    LP_NVCPU,
    LP_SPIN_THRESHOLD,
    LP_VCPU0,
    NODEW,
    OK,
    OP_AND,
    OP_CMPXCHG,
    OP_LOAD,
    OP_OR,
    OP_XADD,
    P_PV_CALL,
    PATH,
    PATH_FAST,
    PATH_SPIN,
    PC,
    R0,
    R1,
    R2,
    R3,
    R4,
    RES,
    ST_BAD_STATE,
    ST_FIFO,
    W_LOCKED,
    W_UNLOCKED,
    act_delay,
    act_halt,
    act_kick,
    act_mem,
    act_mem_release,
    act_spin,
    act_store,
    gl,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 2  # per_cpu(klock_waiting): want, lock
F_WANT = 0  # struct kvm_lock_waiting.want
F_WLOCK = 1  # struct kvm_lock_waiting.lock
BITS_PER_LONG = 64
N_GLOBAL_WORDS = 4  # waiting_cpus: a cpumask of 256 CPUs (the engine's maximum)

TICKET_LOCK_INC = 2  # __TICKET_LOCK_INC (CONFIG_PARAVIRT_SPINLOCKS)
TICKET_SLOWPATH_FLAG = 1  # bit 0 of the tail
TICKET_SHIFT = 32
HEAD_MASK = (1 << TICKET_SHIFT) - 1
LOCK_PTR = 1  # w->lock holds the lock's "address": its word + LOCK_PTR; NULL is 0
_WORD = -1

PVT_LOCK = 500  # arch_spin_lock
PVT_XADD_DONE = 501
PVT_SPIN = 502  # for (;;) { unsigned count = SPIN_THRESHOLD; do { ... } while (--count);
PVT_SPIN_DONE = 503
PVT_LS_CALL = 504  # __ticket_lock_spinning(lock, inc.tail): pv-op lock_spinning
PVT_LS_W_NULL = 505  # kvm_lock_spinning: w->lock = NULL;
PVT_LS_W_WANT = 506  # w->want = want;
PVT_LS_W_LOCK = 507  # w->lock = lock;
PVT_LS_SETCPU = 508  # cpumask_set_cpu(cpu, &waiting_cpus);
PVT_LS_SLOWPATH = 509  # __ticket_enter_slowpath(lock);
PVT_LS_RECHECK = 510  # if (ACCESS_ONCE(lock->tickets.head) == want)
PVT_LS_RECHECK_DONE = 511
PVT_LS_OUT = 512  # out: cpumask_clear_cpu(cpu, &waiting_cpus);
PVT_LS_W_CLEAR = 513  # w->lock = NULL;
PVT_UNLOCK = 520  # arch_spin_unlock: static_key_false(&paravirt_spinlocks_enabled)
PVT_UL_PREV = 521  # prev = *lock;
PVT_UL_ADD = 522  # add_smp(&lock->tickets.head, TICKET_LOCK_INC);
PVT_UL_TAIL = 523  # if (unlikely(lock->tickets.tail & TICKET_SLOWPATH_FLAG))
PVT_UL_TAIL_DONE = 524
PVT_UL_CAS_DONE = 525  # __ticket_unlock_slowpath: cmpxchg(&lock->head_tail, old, new)
PVT_UL_KICK_CALL = 526  # __ticket_unlock_kick(lock, old.tickets.head): pv-op unlock_kick
PVT_UL_SCAN = 527  # kvm_unlock_kick: for_each_cpu(cpu, &waiting_cpus) (find_next_bit)
PVT_UL_SCAN_DONE = 528
PVT_UL_W_LOCK_DONE = 529  # ACCESS_ONCE(w->lock) == lock
PVT_UL_W_WANT_DONE = 530  # ACCESS_ONCE(w->want) == ticket
PVT_UL_SLOW_END = 531  # end of __ticket_unlock_slowpath


@njit(i8(I2, i8, i8), **INNER)
def kw(I, cpu, field):
    """Word index of a field of cpu's ``klock_waiting`` (``per_cpu``: the cpu's per-CPU
    base ``I[cpu, NODEW]``)."""
    return I[cpu, NODEW] + field


@njit(i8(I1, i8), **INNER)
def mask_word(LP, k):
    """Word index of word ``k`` of the VM's ``waiting_cpus`` bitmap (its global words)."""
    return LP[LP_GLOBAL_W0] + k


@njit(**INNER, forceinline=True)
def _cpu_bit(cpu):
    """The cpu's bit in its bitmap word (bit 63 is the int64 sign bit)."""
    return np.int64(1) << np.int64(cpu % BITS_PER_LONG)


@njit(**INNER, forceinline=True)
def _ffs(x):
    """__ffs: index of the lowest set bit of a nonzero word."""
    i = 0
    while (x & 1) == 0:
        x >>= 1
        i += 1
    return i


@njit(void(i8, I2, I1, i8), **INNER)
def _granted(v, I, G, path):
    # FIFO check: tickets are granted strictly in the order they were taken
    if I[v, R0] != G[gl(I[v, LKI]) + GL_TICKET_NEXT]:
        G[G_STATUS] = ST_FIFO
    G[gl(I[v, LKI]) + GL_TICKET_NEXT] += TICKET_LOCK_INC
    I[v, PATH] = path
    I[v, PC] = W_LOCKED


@njit(void(i8, I2, F2, F1, i8), **INNER)
def _pv_call(v, I, F, P, nxt):
    """Cost of taking a paravirt hook, then continue at ``nxt`` (no event if free)."""
    if P[P_PV_CALL] > 0.0:
        act_delay(I, F, v, P[P_PV_CALL], nxt)
    else:
        I[v, PC] = nxt


@njit(**INNER, forceinline=True)
def _scan(v, I, LP):
    """``find_next_bit(waiting_cpus, nr_cpu_ids, offset)`` from offset R3: load the
    bitmap word holding it, or end the walk (nobody to kick) past the last cpu. CPU
    numbers are the guest's: vCPU ``LP_VCPU0 + cpu`` of the VM."""
    if I[v, R3] >= LP[LP_NVCPU]:
        I[v, PC] = PVT_UL_SLOW_END
    else:
        act_mem(I, v, OP_LOAD, mask_word(LP, I[v, R3] // BITS_PER_LONG), _WORD, 0, 0,
                PVT_UL_SCAN_DONE)


@njit(**INNER)
def pv_ticket_step(v, now, I, F, G, LP, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    cpu = v - LP[LP_VCPU0]  # smp_processor_id() in the guest
    if pc == PVT_LOCK:
        # inc = xadd(&lock->tickets, (struct __raw_tickets){ .tail = TICKET_LOCK_INC })
        act_mem(I, v, OP_XADD, lock, _WORD, TICKET_LOCK_INC << TICKET_SHIFT, 0,
                PVT_XADD_DONE)
    elif pc == PVT_XADD_DONE:
        old = I[v, RES]
        head = old & HEAD_MASK
        tail = old >> TICKET_SHIFT
        I[v, R0] = tail & ~TICKET_SLOWPATH_FLAG  # inc.tail &= ~TICKET_SLOWPATH_FLAG;
        if head == tail:  # if (likely(inc.head == inc.tail)) goto out;  (flag included)
            _granted(v, I, G, PATH_FAST)
        else:
            I[v, PC] = PVT_SPIN
    elif pc == PVT_SPIN:
        # do { if (ACCESS_ONCE(lock->tickets.head) == inc.tail) goto out; cpu_relax(); }
        # while (--count);
        act_spin(I, v, lock, HEAD_MASK, CMP_EQ, I[v, R0], LP[LP_SPIN_THRESHOLD],
                 PVT_SPIN_DONE)
    elif pc == PVT_SPIN_DONE:
        if I[v, OK] != 0:
            _granted(v, I, G, PATH_SPIN)
        else:
            _pv_call(v, I, F, P, PVT_LS_W_NULL)  # __ticket_lock_spinning(lock, inc.tail)
    # ---- kvm_lock_spinning(lock, want) ------------------------------------------------
    elif pc == PVT_LS_W_NULL:
        # "lock" may only be set non-NULL if "want" is correct: clear it first
        act_store(I, v, kw(I, v, F_WLOCK), _WORD, 0, 0, PVT_LS_W_WANT)  # w->lock = NULL;
    elif pc == PVT_LS_W_WANT:
        act_store(I, v, kw(I, v, F_WANT), _WORD, I[v, R0], 0, PVT_LS_W_LOCK)  # w->want = want;
    elif pc == PVT_LS_W_LOCK:
        act_store(I, v, kw(I, v, F_WLOCK), _WORD, lock + LOCK_PTR, 0,
                  PVT_LS_SETCPU)  # w->lock = lock;
    elif pc == PVT_LS_SETCPU:
        # cpumask_set_cpu(cpu, &waiting_cpus): set_bit, a locked bts
        act_mem(I, v, OP_OR, mask_word(LP, cpu // BITS_PER_LONG), _WORD,
                _cpu_bit(cpu), 0, PVT_LS_SLOWPATH)
    elif pc == PVT_LS_SLOWPATH:
        # __ticket_enter_slowpath: set_bit(0, (volatile unsigned long *)&lock->tickets.tail)
        act_mem(I, v, OP_OR, lock, _WORD, TICKET_SLOWPATH_FLAG << TICKET_SHIFT, 0,
                PVT_LS_RECHECK)
    elif pc == PVT_LS_RECHECK:
        # check again make sure it didn't become free while we weren't looking
        act_mem(I, v, OP_LOAD, lock, _WORD, 0, 0, PVT_LS_RECHECK_DONE)
    elif pc == PVT_LS_RECHECK_DONE:
        if (I[v, RES] & HEAD_MASK) == I[v, R0]:
            I[v, PC] = PVT_LS_OUT  # add_stats(TAKEN_SLOW_PICKUP, 1); goto out;
        else:
            act_halt(I, v, HALT_TICKET, PVT_LS_OUT)  # safe_halt();
    elif pc == PVT_LS_OUT:
        # out: cpumask_clear_cpu(cpu, &waiting_cpus): clear_bit, a locked btr
        act_mem(I, v, OP_AND, mask_word(LP, cpu // BITS_PER_LONG), _WORD,
                ~_cpu_bit(cpu), 0, PVT_LS_W_CLEAR)
    elif pc == PVT_LS_W_CLEAR:
        # w->lock = NULL; then back in arch_spin_lock's for (;;): spin SPIN_THRESHOLD again
        act_store(I, v, kw(I, v, F_WLOCK), _WORD, 0, 0, PVT_SPIN)
    # ---- arch_spin_unlock ---------------------------------------------------------------
    elif pc == PVT_UNLOCK:
        # if (TICKET_SLOWPATH_FLAG && static_key_false(&paravirt_spinlocks_enabled))
        _pv_call(v, I, F, P, PVT_UL_PREV)
    elif pc == PVT_UL_PREV:
        act_mem(I, v, OP_LOAD, lock, _WORD, 0, 0, PVT_UL_ADD)  # prev = *lock;
    elif pc == PVT_UL_ADD:
        I[v, R1] = I[v, RES]
        # add_smp(&lock->tickets.head, TICKET_LOCK_INC): LOCK add on the head half (no
        # carry into the tail: head never reaches bit 32 here); releases the lock
        act_mem_release(I, v, OP_XADD, lock, _WORD, TICKET_LOCK_INC, 0, PVT_UL_TAIL)
    elif pc == PVT_UL_TAIL:
        # add_smp() is a full mb(); a fresh read of the tail
        act_mem(I, v, OP_LOAD, lock, _WORD, 0, 0, PVT_UL_TAIL_DONE)
    elif pc == PVT_UL_TAIL_DONE:
        if ((I[v, RES] >> TICKET_SHIFT) & TICKET_SLOWPATH_FLAG) == 0:
            I[v, PC] = W_UNLOCKED
            return
        # __ticket_unlock_slowpath(lock, prev)
        G[G_SLOW_UNLOCKS] += 1
        F[n, GF_SLOW_UNLOCK_NS] -= now
        G[G_SLOW_OPEN] += 1  # closed at the end, or by sim.py if the run stops first
        old = I[v, R1] + TICKET_LOCK_INC  # old.tickets.head += TICKET_LOCK_INC;
        I[v, R2] = old
        new = old & ~(TICKET_SLOWPATH_FLAG << TICKET_SHIFT)  # clear the slowpath flag
        if (new & HEAD_MASK) != (new >> TICKET_SHIFT):
            # new.tickets.head != new.tickets.tail: still contended
            _pv_call(v, I, F, P, PVT_UL_SCAN)  # __ticket_unlock_kick(lock, old.head)
            I[v, R3] = 0
        else:
            # uncontended: clear the flag, with cmpxchg in case it changes behind our back
            act_mem(I, v, OP_CMPXCHG, lock, _WORD, new, old, PVT_UL_CAS_DONE)
    elif pc == PVT_UL_CAS_DONE:
        if I[v, OK] != 0:
            I[v, PC] = PVT_UL_SLOW_END
        else:
            I[v, R3] = 0
            _pv_call(v, I, F, P, PVT_UL_SCAN)  # __ticket_unlock_kick(lock, old.head)
    # ---- kvm_unlock_kick(lock, ticket) ----------------------------------------------------
    elif pc == PVT_UL_SCAN:
        _scan(v, I, LP)
    elif pc == PVT_UL_SCAN_DONE:
        off = I[v, R3]
        k = off // BITS_PER_LONG
        bits = I[v, RES] & (_WORD << (off % BITS_PER_LONG))  # tmp &= (~0UL << offset)
        if bits != 0:
            c = k * BITS_PER_LONG + _ffs(bits)
            if c >= LP[LP_NVCPU]:
                I[v, PC] = PVT_UL_SLOW_END  # past nr_cpu_ids: nobody to kick
            else:
                I[v, R4] = c
                act_mem(I, v, OP_LOAD, kw(I, LP[LP_VCPU0] + c, F_WLOCK), _WORD, 0, 0,
                        PVT_UL_W_LOCK_DONE)
        else:
            I[v, R3] = (k + 1) * BITS_PER_LONG  # next bitmap word
            _scan(v, I, LP)
    elif pc == PVT_UL_W_LOCK_DONE:
        if I[v, RES] == lock + LOCK_PTR:  # ACCESS_ONCE(w->lock) == lock &&
            act_mem(I, v, OP_LOAD, kw(I, LP[LP_VCPU0] + I[v, R4], F_WANT), _WORD, 0, 0,
                    PVT_UL_W_WANT_DONE)
        else:
            I[v, R3] = I[v, R4] + 1
            I[v, PC] = PVT_UL_SCAN
    elif pc == PVT_UL_W_WANT_DONE:
        if I[v, RES] == (I[v, R2] & HEAD_MASK):  # ACCESS_ONCE(w->want) == ticket
            act_kick(I, v, LP[LP_VCPU0] + I[v, R4], PVT_UL_SLOW_END)  # kvm_kick_cpu(cpu); break;
        else:
            I[v, R3] = I[v, R4] + 1
            I[v, PC] = PVT_UL_SCAN
    elif pc == PVT_UL_SLOW_END:
        F[n, GF_SLOW_UNLOCK_NS] += now
        G[G_SLOW_OPEN] -= 1
        I[v, PC] = W_UNLOCKED
    else:
        G[G_STATUS] = ST_BAD_STATE
