"""Native x86 ticket spinlock (3.12-4.1 ``arch/x86/include/asm/spinlock.h``, no PV).

``arch_spinlock_t`` is a union of ``head_tail`` and ``struct __raw_tickets { head,
tail }`` with head in the low half, so one ``xadd`` of ``{.tail = __TICKET_LOCK_INC}``
takes a ticket and returns both halves. Natively ``__TICKET_LOCK_INC`` is 1 and
``TICKET_SLOWPATH_FLAG`` is 0. Model word ``W_LOCK`` holds head in bits 0..31 and
tail in bits 32..62 (the kernel's u8/u16 halves wrap; equality is all that is ever
compared, so unbounded counters behave identically).

Registers: R0 = my ticket (``inc.tail``).
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import I1, I2, INNER, i8, void
from ..engine.state import (
    CMP_EQ,
    G_STATUS,
    GL_TICKET_NEXT,
    LKI,
    LKW,
    OP_XADD,
    PATH,
    PATH_FAST,
    PATH_SPIN,
    PC,
    R0,
    RES,
    ST_BAD_STATE,
    ST_FIFO,
    W_LOCKED,
    W_UNLOCKED,
    act_mem,
    act_spin,
    act_store,
    gl,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 0

TICKET_LOCK_INC = 1  # __TICKET_LOCK_INC (native)
TICKET_SHIFT = 32
HEAD_MASK = (1 << TICKET_SHIFT) - 1

TK_LOCK = 100  # arch_spin_lock
TK_XADD_DONE = 101
TK_SPIN_DONE = 102
TK_UNLOCK = 110  # arch_spin_unlock


@njit(void(i8, I2, I1, i8), **INNER)
def _granted(v, I, G, path):
    # FIFO check: tickets are granted strictly in the order they were taken
    if I[v, R0] != G[gl(I[v, LKI]) + GL_TICKET_NEXT]:
        G[G_STATUS] = ST_FIFO
    G[gl(I[v, LKI]) + GL_TICKET_NEXT] += 1
    I[v, PATH] = path
    I[v, PC] = W_LOCKED


@njit(**INNER)
def ticket_step(v, now, I, F, G, LP, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc == TK_LOCK:
        # inc = xadd(&lock->tickets, (struct __raw_tickets){ .tail = TICKET_LOCK_INC })
        act_mem(I, v, OP_XADD, lock, -1, TICKET_LOCK_INC << TICKET_SHIFT, 0, TK_XADD_DONE)
    elif pc == TK_XADD_DONE:
        old = I[v, RES]
        head = old & HEAD_MASK
        tail = old >> TICKET_SHIFT
        I[v, R0] = tail
        if head == tail:  # if (likely(inc.head == inc.tail)) goto out;
            _granted(v, I, G, PATH_FAST)
        else:
            # for (;;) { if (READ_ONCE(lock->tickets.head) == inc.tail) goto out;
            #            cpu_relax(); }
            act_spin(I, v, lock, HEAD_MASK, CMP_EQ, tail, -1, TK_SPIN_DONE)
    elif pc == TK_SPIN_DONE:
        _granted(v, I, G, PATH_SPIN)
    elif pc == TK_UNLOCK:
        # __add(&lock->tickets.head, TICKET_LOCK_INC, UNLOCK_LOCK_PREFIX): a plain
        # (non-locked) add by the owner, i.e. a store of head + 1 to the head half
        act_store(I, v, lock, HEAD_MASK, I[v, R0] + TICKET_LOCK_INC, 1, W_UNLOCKED)
    else:
        G[G_STATUS] = ST_BAD_STATE
