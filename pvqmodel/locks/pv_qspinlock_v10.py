"""PV queue spinlock of the seed: Waiman Long's "[PATCH v10 17/19] pvqspinlock: Add
qspinlock para-virtualization support" (``arch/x86/include/asm/pvqspinlock.h``, the
``CONFIG_PARAVIRT_SPINLOCKS`` parts of ``arch/x86/include/asm/qspinlock.h`` and
``kernel/locking/qspinlock.c``), built on the native v10-era qspinlock of
:mod:`pvqmodel.locks.qspinlock` (same lock word, constants, tail encoding).

Each step says where it comes from: **[base]** the native v10 qspinlock unchanged,
**[seed]** the PV code of patch 17, **[v10]** v10-era ``qspinlock.c`` code outside the
patch's diff that only acts with PV on (kernel-locks.md §4.2, §4.3).

- [base] fast path ``queue_spin_lock``: ``atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL)``;
  on failure ``queue_spin_lock_slowpath`` (one ``P_PV_CALL``: the PV hooks of the
  slowpath entry);
- [base] ``trylock_pending``, v10 form (retry budget ``LP_PENDING_RETRY``, hand-over
  wait while only pending is set, cmpxchg to locked or locked|pending);
- [v10] PV pending wait: ``retry = PSPIN_THRESHOLD``; the pending waiter spins on the
  locked byte and on the ``PSPIN_THRESHOLD``-th iteration that still sees it set
  (``--retry == 0``) clears pending with a cmpxchg loop (``new = val &
  ~_Q_PENDING_MASK``) and goes to the queue with the ``*pval`` of before the pending
  cmpxchg; otherwise ``clear_pending_set_locked`` (16-bit store);
- [base] node setup ``node->qhead = 0; node->mcs.next = NULL;`` then [seed]
  ``pv_init_vars``: ``cpustate = PV_CPU_ACTIVE; prev = NULL; mayhalt = false; mycpu =
  cpu`` (four plain stores), then [base] the cold-cacheline trylock unless the observed
  value had a tail, and ``xchg_tail`` (16-bit xchg);
- with a predecessor: [seed] ``pv_set_prev``: ``ACCESS_ONCE(pv->prev) = prev; smp_wmb();``
  (``smp_wmb`` is a compiler barrier on x86; the engine's store buffer is FIFO), [base]
  ``ACCESS_ONCE(prev->mcs.next) = node``, then the node spin
  ``while (!smp_load_acquire(&node->qhead)) { cnt++; pv_queue_spin_check(); }`` with
  [seed] ``pv_queue_spin_check``: at ``cnt == MAYHALT_THRESHOLD`` (= ``QSPIN_THRESHOLD -
  MAYHALT_GAP``) ``mayhalt = true; smp_mb();``; at ``cnt >= QSPIN_THRESHOLD``
  ``cpustate = PV_CPU_HALTED; smp_mb(); if (!mcs->locked) __queue_halt_cpu(PV_HALT_QNODE,
  &cpustate, PV_CPU_HALTED)`` (KVM's halt: re-load ``cpustate`` and halt only if it is
  still ``PV_CPU_HALTED``, as :mod:`pvqmodel.handshake` models it), then ``cpustate =
  PV_CPU_ACTIVE; cnt = 0; mayhalt = false;``. The spin is parked with the budget to the
  next threshold (``MAYHALT_THRESHOLD``, then ``MAYHALT_GAP`` more), so the count is
  exact at both tests;
- without one: [base, v10] ``ACCESS_ONCE(node->qhead) = true``;
- head wait ``retry_queue_wait``: [base] spin until locked and pending are 0, with [seed]
  ``pv_head_spin_check`` per iteration: at ``hcnt >= HEAD_MULT * QSPIN_THRESHOLD``:
  ``cmpxchg(&cpustate, ACTIVE, HALTED)`` (old ``KICKED``: reset), ``lockval =
  cmpxchg((u8 *)lock, _Q_LOCKED_VAL, _Q_LOCKED_SLOWPATH)``, if ``lockval != 0``
  ``__queue_halt_cpu(PV_HALT_QHEAD, ...)`` (re-check, halt), then ``cpustate =
  PV_CPU_ACTIVE; hcnt = 0``;
- [base] claim: ``if (val != tail) get_qlock(lock)`` (byte store) else whole-word
  cmpxchg, retried; ``hcnt = 0`` at every pass (``LOOP_CNT(hcnt = 0)``);
- [base] notify: wait for ``node->mcs.next``, ``arch_mcs_spin_unlock_contended(&next->qhead)``
  (store-release), then [seed] ``pv_halt_check(&next->pv, lock)``: ``if (next->mayhalt) {
  smp_mb(); if (next->cpustate == PV_CPU_HALTED) ACCESS_ONCE(*(u8 *)lock) =
  _Q_LOCKED_SLOWPATH; }`` (plain byte store);
- [seed] unlock ``queue_spin_unlock`` (one ``P_PV_CALL``): ``cmpxchg((u8 *)lock,
  _Q_LOCKED_VAL, 0)``, a locked RMW that releases; if the byte was not
  ``_Q_LOCKED_VAL`` (it is ``_Q_LOCKED_SLOWPATH``), ``queue_spin_unlock_slowpath`` (an
  out-of-line call: one more ``P_PV_CALL``): ``node = decode_tail(atomic_read(&lock->val))``,
  walk ``while (!node->qhead) { prev = pv_get_prev(); if (prev) node = prev; else
  cpu_relax(); }``, ``__queue_spin_unlock`` (byte store of 0: the release, before the
  kick), ``pv_kick_node``: ``xchg(&cpustate, PV_CPU_KICKED)`` and ``__queue_kick_cpu(
  pv->mycpu)`` only if the old state was ``PV_CPU_HALTED`` (else ``G_PV_KICK_NOHALT``).
  Slowpath unlocks are counted in ``G_SLOW_UNLOCKS``, their time in
  ``F[n, GF_SLOW_UNLOCK_NS]``.

The three ``smp_mb()`` of the handshake are real fences (``act_fence``: drain the store
buffer). ``__queue_lockstat`` statistics are not modelled (no memory effect). The PV
checks' per-iteration cost is the engine's (``P_PV_ITER``).

**Approximation.** ``pv_head_spin_check`` tests ``cpustate == PV_CPU_KICKED`` (a load of
the head's own node line) at every head-wait iteration and resets ``hcnt`` when a
non-halted head was kicked. The head wait here is one parked spin on the lock word, so
the test is made only when the spin's budget runs out (where the kernel also makes it,
before its halt branch): a head kicked while spinning that keeps waiting (a pending
waiter or, unfair, a stealer took the lock) resets its count up to ``HEAD_MULT *
QSPIN_THRESHOLD`` iterations later than the kernel, i.e. halts later. A kick followed by
the release lets the head claim at once in both, so the fair table regime is unaffected.

Node words (one line per CPU, ``qw(I, cpu, F_*)``): qhead, next (cpu + 1), cpustate,
mayhalt, mycpu, prev (cpu + 1, 0 = NULL), and the unfair lock's lsteal_mask and prev_tail
(used by :mod:`pv_qspinlock_v10_unfair` only; one layout for both variants). ``idx`` is
always 0 (the benchmark never nests).

Registers: R0 = val (``*pval``, last observed lock word), R1 = my tail, R2 = ``new`` in
trylock_pending, R3 = retry budget, R4 = predecessor cpu (-1 if none), R5 = next cpu /
unlock-walk node, R6 = loop count ``cnt`` (node) / ``hcnt`` (head), R7 = val of the
pending give-up loop.
"""

from __future__ import annotations

from numba import njit

from ..engine.sigs import F1, F2, I2, INNER, i8, void
from ..engine.state import (
    CMP_EQ,
    CMP_NE,
    G_PV_KICK_NOHALT,
    G_SLOW_OPEN,
    G_SLOW_UNLOCKS,
    G_STATUS,
    GF_SLOW_UNLOCK_NS,
    GL_QLAST,
    HALT_HEAD,
    HALT_NODE,
    LKI,
    LKW,
    LP_HEAD_MULT,
    LP_MAYHALT_GAP,
    LP_PENDING_RETRY,
    LP_PSPIN_THRESHOLD,
    LP_QSPIN_THRESHOLD,
    NODEW,
    OK,
    OP_CMPXCHG,
    OP_LOAD,
    OP_XCHG,
    P_PAUSE,
    P_PV_CALL,
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
    R6,
    R7,
    RES,
    ST_BAD_STATE,
    ST_FIFO,
    W_LOCKED,
    W_UNLOCKED,
    act_delay,
    act_fence,
    act_halt,
    act_kick,
    act_mem,
    act_mem_release,
    act_spin,
    act_store,
    gl,
)
from .qspinlock import (
    _Q_LOCKED_MASK,
    _Q_LOCKED_PENDING_MASK,
    _Q_LOCKED_VAL,
    _Q_PENDING_MASK,
    _Q_PENDING_VAL,
    _Q_TAIL_MASK,
    _Q_VAL_MASK,
    decode_tail_cpu,
    encode_tail,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 8
F_QHEAD = 0  # mcs.locked (v10: qhead)
F_NEXT = 1  # mcs.next (cpu + 1, 0 = NULL)
F_CPUSTATE = 2  # pv.cpustate
F_MAYHALT = 3  # pv.mayhalt
F_MYCPU = 4  # pv.mycpu
F_PREV = 5  # pv.prev (cpu + 1, 0 = NULL); the unfair code's qprev
F_LSTEAL_MASK = 6  # unfair lsteal_mask (CONFIG_PARAVIRT_UNFAIR_LOCKS only)
F_PREV_TAIL = 7  # unfair prev_tail (CONFIG_PARAVIRT_UNFAIR_LOCKS only)
_WORD = -1

# pvqspinlock.h
PV_CPU_ACTIVE = 1
PV_CPU_KICKED = 2
PV_CPU_HALTED = -1
# qspinlock.h (CONFIG_PARAVIRT_SPINLOCKS)
_Q_LOCKED_SLOWPATH = _Q_LOCKED_VAL | 2

PQ_LOCK = 600  # queue_spin_lock (fast path)
PQ_FAST_DONE = 601
PQ_TP_LOOP = 602  # trylock_pending: for (;;) { ... }
PQ_TP_REREAD = 603
PQ_TP_READ_DONE = 604
PQ_TP_CAS_DONE = 605
PQ_PEND_SPUN = 606
PQ_PEND_ACQ = 607
PQ_PEND_GIVEUP = 608  # PV: clear the pending bit and exit
PQ_PEND_GIVEUP_DONE = 609
PQ_NODE_INIT = 610
PQ_NODE_INIT2 = 611
PQ_PV_INIT = 612  # pv_init_vars
PQ_PV_INIT2 = 613
PQ_PV_INIT3 = 614
PQ_PV_INIT4 = 615
PQ_TRYLOCK = 616
PQ_TRYLOCK_READ = 617
PQ_TRYLOCK_CAS = 618
PQ_XCHG_TAIL = 619
PQ_XCHG_DONE = 620
PQ_LINK = 621
PQ_NODE_SPIN = 622  # while (!smp_load_acquire(&node->qhead)) { ... }
PQ_NODE_SPUN = 623
PQ_NQ_MAYHALT_MB = 624
PQ_NQ_HALT_MB = 625
PQ_NQ_QHEAD = 626
PQ_NQ_QHEAD_DONE = 627
PQ_NQ_RECHECK = 628
PQ_NQ_RESET = 629
PQ_NQ_RESET2 = 630
PQ_HEAD_WAIT = 640  # retry_queue_wait
PQ_HEAD_SPUN = 641
PQ_HS_STATE = 642  # pv_head_spin_check
PQ_HS_CAS_STATE = 643
PQ_HS_CAS_LOCK = 644
PQ_HS_RECHECK = 645
PQ_HS_RESET = 646
PQ_CLAIM = 650
PQ_CLAIM_CAS = 651
PQ_WAIT_NEXT = 652  # notify_next
PQ_NOTIFY = 653
PQ_HALTCHK = 654  # pv_halt_check
PQ_HALTCHK_MB = 655
PQ_HALTCHK_STATE = 656
PQ_HALTCHK_DONE = 657
PQ_ACQUIRED = 658
PQ_UNLOCK = 670  # queue_spin_unlock (PV)
PQ_UNLOCK_CAS = 671
PQ_UNLOCK_DONE = 672
PQ_US_TAIL = 673  # queue_spin_unlock_slowpath
PQ_US_TAIL_DONE = 674
PQ_US_WALK = 675
PQ_US_QHEAD = 676
PQ_US_PREV = 677
PQ_US_KICK = 678  # pv_kick_node
PQ_US_KICKED = 679
PQ_US_MYCPU = 680
PQ_US_DONE = 681


@njit(i8(I2, i8, i8), **INNER)
def qw(I, cpu, field):
    """Word index of a field of cpu's qnode (qnodes[0]): ``per_cpu_ptr`` is the cpu's node
    base ``I[cpu, NODEW]``."""
    return I[cpu, NODEW] + field


@njit(void(i8, I2, F2, F1, i8), **INNER)
def pv_call(v, I, F, P, nxt):
    """A paravirt hook that costs a call: ``P_PV_CALL`` of local work, then ``nxt``
    (no event at all when the cost is zero)."""
    if P[P_PV_CALL] > 0.0:
        act_delay(I, F, v, P[P_PV_CALL], nxt)
    else:
        I[v, PC] = nxt


@njit(**INNER)
def pv_qspinlock_v10_step(v, now, I, F, G, LPa, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    if pc == PQ_LOCK:
        # [base] queue_spin_lock: if (likely(!atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL)))
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, PQ_FAST_DONE)
    elif pc == PQ_FAST_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # queue_spin_lock_slowpath(lock, val)
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        I[v, R3] = LPa[LP_PENDING_RETRY]  # int retry = 1;
        pv_call(v, I, F, P, PQ_TP_LOOP)
    elif pc == PQ_TP_LOOP:
        _tp_loop(v, I, F, P)
    elif pc == PQ_TP_REREAD:
        # *pval = val = atomic_read(&lock->val);
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, PQ_TP_READ_DONE)
    elif pc == PQ_TP_READ_DONE:
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        _tp_loop(v, I, F, P)
    elif pc == PQ_TP_CAS_DONE:
        if I[v, OK] == 0:
            I[v, R0] = I[v, RES] & _Q_VAL_MASK  # *pval = val = old;
            _tp_loop(v, I, F, P)
            return
        if I[v, R2] == _Q_LOCKED_VAL:  # we won the trylock
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # [v10] if (pv_qspinlock_enabled()) retry = PSPIN_THRESHOLD;
        # while ((val = smp_load_acquire(&lock->val.counter)) & _Q_LOCKED_MASK)
        #         if (pv_qspinlock_enabled() && (--retry == 0)) { clear pending; return 0; }
        act_spin(I, v, lock, _Q_LOCKED_MASK, CMP_EQ, 0, LPa[LP_PSPIN_THRESHOLD],
                 PQ_PEND_SPUN)
    elif pc == PQ_PEND_SPUN:
        if I[v, OK] != 0:
            # clear_pending_set_locked: ACCESS_ONCE(l->locked_pending) = _Q_LOCKED_VAL;
            act_store(I, v, lock, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL, 0, PQ_PEND_ACQ)
        else:
            I[v, R7] = I[v, RES] & _Q_VAL_MASK
            I[v, PC] = PQ_PEND_GIVEUP
            _pend_giveup(v, I)
    elif pc == PQ_PEND_ACQ:
        I[v, PATH] = PATH_PENDING
        I[v, PC] = W_LOCKED
    elif pc == PQ_PEND_GIVEUP:
        _pend_giveup(v, I)
    elif pc == PQ_PEND_GIVEUP_DONE:
        if I[v, OK] != 0:
            _node_init(v, I)  # return 0: be queued (*pval unchanged)
        else:
            I[v, R7] = I[v, RES] & _Q_VAL_MASK  # val = old;
            I[v, PC] = PQ_PEND_GIVEUP
            _pend_giveup(v, I)
    elif pc == PQ_NODE_INIT:
        _node_init(v, I)
    elif pc == PQ_NODE_INIT2:
        # [base] node->mcs.next = NULL;
        act_store(I, v, qw(I, v, F_NEXT), _WORD, 0, 0, PQ_PV_INIT)
    elif pc == PQ_PV_INIT:
        # [seed] pv_init_vars(&node->pv, cpu_nr): pv->cpustate = PV_CPU_ACTIVE;
        act_store(I, v, qw(I, v, F_CPUSTATE), _WORD, PV_CPU_ACTIVE, 0, PQ_PV_INIT2)
    elif pc == PQ_PV_INIT2:
        act_store(I, v, qw(I, v, F_PREV), _WORD, 0, 0, PQ_PV_INIT3)  # pv->prev = NULL;
    elif pc == PQ_PV_INIT3:
        act_store(I, v, qw(I, v, F_MAYHALT), _WORD, 0, 0, PQ_PV_INIT4)  # pv->mayhalt = false;
    elif pc == PQ_PV_INIT4:
        act_store(I, v, qw(I, v, F_MYCPU), _WORD, v, 0, PQ_TRYLOCK)  # pv->mycpu = cpu;
    elif pc == PQ_TRYLOCK:
        # [base] if ((val & _Q_TAIL_MASK) || !queue_spin_trylock(lock))
        #            queue_spin_lock_slowerpath(lock, node, tail);
        if I[v, R0] & _Q_TAIL_MASK:
            _xchg_tail(v, I)
        else:
            act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, PQ_TRYLOCK_READ)
    elif pc == PQ_TRYLOCK_READ:
        if (I[v, RES] & _Q_VAL_MASK) == 0:
            act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, PQ_TRYLOCK_CAS)
        else:
            _xchg_tail(v, I)
    elif pc == PQ_TRYLOCK_CAS:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
        else:
            _xchg_tail(v, I)
    elif pc == PQ_XCHG_TAIL:
        _xchg_tail(v, I)
    elif pc == PQ_XCHG_DONE:
        old = I[v, RES]
        if old & _Q_TAIL_MASK:
            prev = decode_tail_cpu(old)
            I[v, R4] = prev
            # [seed] pv_set_prev(&node->pv, prev): ACCESS_ONCE(pv->prev) = prev; smp_wmb();
            act_store(I, v, qw(I, v, F_PREV), _WORD, prev + 1, 0, PQ_LINK)
        else:
            # [base] ACCESS_ONCE(node->qhead) = true;
            I[v, R4] = -1
            I[v, R6] = 0  # DEF_LOOP_CNT(hcnt)
            act_store(I, v, qw(I, v, F_QHEAD), _WORD, 1, 0, PQ_HEAD_WAIT)
    elif pc == PQ_LINK:
        # [base] ACCESS_ONCE(prev->mcs.next) = (struct mcs_spinlock *)node;
        I[v, R6] = 0  # DEF_LOOP_CNT(cnt)
        act_store(I, v, qw(I, I[v, R4], F_NEXT), _WORD, v + 1, 0, PQ_NODE_SPIN)
    elif pc == PQ_NODE_SPIN:
        _node_spin(v, I, LPa)
    elif pc == PQ_NODE_SPUN:
        if I[v, OK] != 0:
            # we are the queue head: retry_queue_wait
            I[v, R6] = 0
            _head_wait(v, I, LPa)
            return
        q = LPa[LP_QSPIN_THRESHOLD]
        mayhalt_at = q - LPa[LP_MAYHALT_GAP]
        if I[v, R6] < mayhalt_at:
            # the budget ran out at *count == MAYHALT_THRESHOLD
            I[v, R6] = mayhalt_at
            # [seed] pv->mayhalt = true; smp_mb();
            act_store(I, v, qw(I, v, F_MAYHALT), _WORD, 1, 0, PQ_NQ_MAYHALT_MB)
        else:
            # [seed] *count >= QSPIN_THRESHOLD: ACCESS_ONCE(pv->cpustate) = PV_CPU_HALTED;
            I[v, R6] = q
            act_store(I, v, qw(I, v, F_CPUSTATE), _WORD, PV_CPU_HALTED, 0, PQ_NQ_HALT_MB)
    elif pc == PQ_NQ_MAYHALT_MB:
        act_fence(I, v, PQ_NODE_SPIN)  # smp_mb(): mayhalt visible before proceeding
    elif pc == PQ_NQ_HALT_MB:
        act_fence(I, v, PQ_NQ_QHEAD)  # smp_mb(): the 2-variable handshake
    elif pc == PQ_NQ_QHEAD:
        # if (!ACCESS_ONCE(mcs->locked))
        act_mem(I, v, OP_LOAD, qw(I, v, F_QHEAD), _WORD, 0, 0, PQ_NQ_QHEAD_DONE)
    elif pc == PQ_NQ_QHEAD_DONE:
        if I[v, RES] == 0:
            # __queue_halt_cpu(PV_HALT_QNODE, &pv->cpustate, PV_CPU_HALTED): re-check
            act_mem(I, v, OP_LOAD, qw(I, v, F_CPUSTATE), _WORD, 0, 0, PQ_NQ_RECHECK)
        else:
            I[v, PC] = PQ_NQ_RESET  # already the queue head: abort the halt
    elif pc == PQ_NQ_RECHECK:
        if I[v, RES] == PV_CPU_HALTED:
            act_halt(I, v, HALT_NODE, PQ_NQ_RESET)
        else:
            I[v, PC] = PQ_NQ_RESET
    elif pc == PQ_NQ_RESET:
        # ACCESS_ONCE(pv->cpustate) = PV_CPU_ACTIVE; *count = 0;
        I[v, R6] = 0
        act_store(I, v, qw(I, v, F_CPUSTATE), _WORD, PV_CPU_ACTIVE, 0, PQ_NQ_RESET2)
    elif pc == PQ_NQ_RESET2:
        # pv->mayhalt = false; then arch_mutex_cpu_relax() and the loop's qhead load
        act_store(I, v, qw(I, v, F_MAYHALT), _WORD, 0, 0, PQ_NODE_SPIN)
    elif pc == PQ_HEAD_WAIT:
        _head_wait(v, I, LPa)
    elif pc == PQ_HEAD_SPUN:
        if I[v, OK] != 0:
            I[v, R0] = I[v, RES] & _Q_VAL_MASK
            I[v, PC] = PQ_CLAIM  # no action: the unfair variant overrides PQ_CLAIM
            return
        I[v, R6] = LPa[LP_HEAD_MULT] * LPa[LP_QSPIN_THRESHOLD]
        # [seed] pv_head_spin_check: if (pv->cpustate == PV_CPU_KICKED) (see docstring)
        act_mem(I, v, OP_LOAD, qw(I, v, F_CPUSTATE), _WORD, 0, 0, PQ_HS_STATE)
    elif pc == PQ_HS_STATE:
        if I[v, RES] == PV_CPU_KICKED:
            I[v, PC] = PQ_HS_RESET  # *count = 0; pv->cpustate = PV_CPU_ACTIVE;
        else:
            # *count >= 2*QSPIN_THRESHOLD:
            # oldstate = cmpxchg(&pv->cpustate, PV_CPU_ACTIVE, PV_CPU_HALTED);
            act_mem(I, v, OP_CMPXCHG, qw(I, v, F_CPUSTATE), _WORD, PV_CPU_HALTED, PV_CPU_ACTIVE,
                    PQ_HS_CAS_STATE)
    elif pc == PQ_HS_CAS_STATE:
        if I[v, RES] == PV_CPU_KICKED:
            I[v, PC] = PQ_HS_RESET  # goto reset;
        else:
            # lockval = cmpxchg((u8 *)lock, _Q_LOCKED_VAL, _Q_LOCKED_SLOWPATH);
            act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_SLOWPATH,
                    _Q_LOCKED_VAL, PQ_HS_CAS_LOCK)
    elif pc == PQ_HS_CAS_LOCK:
        if I[v, RES] & _Q_LOCKED_MASK:
            # __queue_halt_cpu(PV_HALT_QHEAD, &pv->cpustate, PV_CPU_HALTED): re-check
            act_mem(I, v, OP_LOAD, qw(I, v, F_CPUSTATE), _WORD, 0, 0, PQ_HS_RECHECK)
        else:
            I[v, PC] = PQ_HS_RESET  # the lock is free: no halting needed
    elif pc == PQ_HS_RECHECK:
        if I[v, RES] == PV_CPU_HALTED:
            act_halt(I, v, HALT_HEAD, PQ_HS_RESET)
        else:
            I[v, PC] = PQ_HS_RESET
    elif pc == PQ_HS_RESET:
        # reset: ACCESS_ONCE(pv->cpustate) = PV_CPU_ACTIVE; *count = 0;
        I[v, R6] = 0
        act_store(I, v, qw(I, v, F_CPUSTATE), _WORD, PV_CPU_ACTIVE, 0, PQ_HEAD_WAIT)
    elif pc == PQ_CLAIM:
        # for (;;) { LOOP_CNT(hcnt = 0); if (val != tail) { get_qlock(lock); break; } ...
        I[v, R6] = 0
        val = I[v, R0]
        if val != I[v, R1]:
            # [base] get_qlock: ACCESS_ONCE(l->locked) = _Q_LOCKED_VAL;
            act_store(I, v, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, PQ_WAIT_NEXT)
        else:
            # old = atomic_cmpxchg(&lock->val, val, _Q_LOCKED_VAL);
            act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, val, PQ_CLAIM_CAS)
    elif pc == PQ_CLAIM_CAS:
        if I[v, OK] != 0:
            queue_granted(v, I, G)  # if (old == val) return;  /* No contention */
        elif I[v, RES] & _Q_LOCKED_MASK:
            _head_wait(v, I, LPa)  # else if (old & _Q_LOCKED_MASK) goto retry_queue_wait;
        else:
            I[v, R0] = I[v, RES] & _Q_VAL_MASK  # val = old;
            I[v, PC] = PQ_CLAIM
    elif pc == PQ_WAIT_NEXT:
        # notify_next: while (!(next = ACCESS_ONCE(node->mcs.next))) cpu_relax();
        act_spin(I, v, qw(I, v, F_NEXT), _WORD, CMP_NE, 0, -1, PQ_NOTIFY)
    elif pc == PQ_NOTIFY:
        I[v, R5] = I[v, RES] - 1
        # arch_mcs_spin_unlock_contended(&next->qhead);
        act_store(I, v, qw(I, I[v, R5], F_QHEAD), _WORD, 1, 0, PQ_HALTCHK)
    elif pc == PQ_HALTCHK:
        # [seed] pv_halt_check(&next->pv, lock): if (ACCESS_ONCE(pv->mayhalt))
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_MAYHALT), _WORD, 0, 0, PQ_HALTCHK_MB)
    elif pc == PQ_HALTCHK_MB:
        if I[v, RES] != 0:
            act_fence(I, v, PQ_HALTCHK_STATE)  # smp_mb(): qhead visible first
        else:
            queue_granted(v, I, G)
    elif pc == PQ_HALTCHK_STATE:
        # if (pv->cpustate == PV_CPU_HALTED)
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_CPUSTATE), _WORD, 0, 0, PQ_HALTCHK_DONE)
    elif pc == PQ_HALTCHK_DONE:
        if I[v, RES] == PV_CPU_HALTED:
            # ACCESS_ONCE(*(u8 *)lock) = _Q_LOCKED_SLOWPATH;
            act_store(I, v, lock, _Q_LOCKED_MASK, _Q_LOCKED_SLOWPATH, 0, PQ_ACQUIRED)
        else:
            queue_granted(v, I, G)
    elif pc == PQ_ACQUIRED:
        queue_granted(v, I, G)
    elif pc == PQ_UNLOCK:
        pv_call(v, I, F, P, PQ_UNLOCK_CAS)
    elif pc == PQ_UNLOCK_CAS:
        # [seed] queue_spin_unlock: if (likely(cmpxchg((u8 *)lock, _Q_LOCKED_VAL, 0)
        #                                      == _Q_LOCKED_VAL)) return;
        act_mem_release(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, 0, _Q_LOCKED_VAL,
                        PQ_UNLOCK_DONE)
    elif pc == PQ_UNLOCK_DONE:
        if I[v, OK] != 0:
            I[v, PC] = W_UNLOCKED
            return
        # else queue_spin_unlock_slowpath(lock);
        G[G_SLOW_UNLOCKS] += 1
        F[n, GF_SLOW_UNLOCK_NS] -= now
        G[G_SLOW_OPEN] += 1  # closed at the end, or by sim.py if the run stops first
        pv_call(v, I, F, P, PQ_US_TAIL)
    elif pc == PQ_US_TAIL:
        # node = decode_tail(atomic_read(&lock->val));
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, PQ_US_TAIL_DONE)
    elif pc == PQ_US_TAIL_DONE:
        node = decode_tail_cpu(I[v, RES])
        if node < 0 or node >= n:
            G[G_STATUS] = ST_BAD_STATE  # a slowpath byte with an empty queue
            return
        I[v, R5] = node
        I[v, PC] = PQ_US_WALK
    elif pc == PQ_US_WALK:
        # while (!ACCESS_ONCE(node->qhead)) {
        act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_QHEAD), _WORD, 0, 0, PQ_US_QHEAD)
    elif pc == PQ_US_QHEAD:
        if I[v, RES] != 0:
            # found the queue head: __queue_spin_unlock(lock): ACCESS_ONCE(*(u8 *)lock) = 0
            act_store(I, v, lock, _Q_LOCKED_MASK, 0, 1, PQ_US_KICK)
        else:
            # prev = pv_get_prev(&node->pv);
            act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_PREV), _WORD, 0, 0, PQ_US_PREV)
    elif pc == PQ_US_PREV:
        if I[v, RES] != 0:
            I[v, R5] = I[v, RES] - 1  # node = prev;
            I[v, PC] = PQ_US_WALK
        else:
            act_delay(I, F, v, P[P_PAUSE], PQ_US_WALK)  # arch_mutex_cpu_relax();
    elif pc == PQ_US_KICK:
        # pv_kick_node(&node->pv): oldstate = xchg(&pv->cpustate, PV_CPU_KICKED);
        act_mem(I, v, OP_XCHG, qw(I, I[v, R5], F_CPUSTATE), _WORD, PV_CPU_KICKED, 0,
                PQ_US_KICKED)
    elif pc == PQ_US_KICKED:
        if I[v, RES] == PV_CPU_HALTED:
            # __queue_kick_cpu(pv->mycpu);
            act_mem(I, v, OP_LOAD, qw(I, I[v, R5], F_MYCPU), _WORD, 0, 0, PQ_US_MYCPU)
        else:
            G[G_PV_KICK_NOHALT] += 1  # __queue_lockstat(PV_KICK_NOHALT);
            I[v, PC] = PQ_US_DONE
    elif pc == PQ_US_MYCPU:
        act_kick(I, v, I[v, RES], PQ_US_DONE)
    elif pc == PQ_US_DONE:
        F[n, GF_SLOW_UNLOCK_NS] += now
        G[G_SLOW_OPEN] -= 1
        I[v, PC] = W_UNLOCKED
    else:
        G[G_STATUS] = ST_BAD_STATE


@njit(**INNER)
def _tp_loop(v, I, F, P):
    """[base] One pass of the v10 ``trylock_pending`` for (;;) loop on val = R0."""
    lock = I[v, LKW]  # the lock this operation takes (its word)
    I[v, PC] = PQ_TP_LOOP
    val = I[v, R0]
    if val & _Q_TAIL_MASK:
        _node_init(v, I)  # if (val & _Q_TAIL_MASK) return 0;
        return
    lp = val & _Q_LOCKED_PENDING_MASK
    if lp == (_Q_LOCKED_VAL | _Q_PENDING_VAL):
        # both set: if (!retry) return 0; retry--; cpu_relax(); cpu_relax(); re-read
        if I[v, R3] <= 0:
            _node_init(v, I)
            return
        I[v, R3] -= 1
        act_delay(I, F, v, 2.0 * P[P_PAUSE], PQ_TP_REREAD)
        return
    if lp == _Q_PENDING_VAL:
        # pending set, lock not: cpu_relax(); *pval = val = atomic_read(&lock->val);
        act_spin(I, v, lock, _Q_VAL_MASK, CMP_NE, val, -1, PQ_TP_READ_DONE)
        return
    new = _Q_LOCKED_VAL
    if val == new:
        new |= _Q_PENDING_VAL
    I[v, R2] = new
    # old = atomic_cmpxchg(&lock->val, val, new);
    act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, new, val, PQ_TP_CAS_DONE)


@njit(**INNER, forceinline=True)
def _pend_giveup(v, I):
    """[v10] PV pending give-up: new = val & ~_Q_PENDING_MASK; atomic_cmpxchg(val, new)."""
    lock = I[v, LKW]  # the lock this operation takes (its word)
    val = I[v, R7]
    act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, val & ~_Q_PENDING_MASK, val,
            PQ_PEND_GIVEUP_DONE)


@njit(**INNER)
def _node_init(v, I):
    # [base] node = this_cpu_ptr(&qnodes[0]); idx = node->mcs.count++;
    # tail = encode_tail(cpu_nr = smp_processor_id(), idx); node->qhead = 0;
    I[v, R1] = encode_tail(v)
    I[v, PC] = PQ_NODE_INIT
    act_store(I, v, qw(I, v, F_QHEAD), _WORD, 0, 0, PQ_NODE_INIT2)


@njit(**INNER)
def _xchg_tail(v, I):
    lock = I[v, LKW]  # the lock this operation takes (its word)
    # [base] old = xchg_tail(lock, tail, &val): 16-bit xchg on the tail half-word
    I[v, PC] = PQ_XCHG_TAIL
    act_mem(I, v, OP_XCHG, lock, _Q_TAIL_MASK, I[v, R1], 0, PQ_XCHG_DONE)


@njit(**INNER, forceinline=True)
def _node_spin(v, I, LPa):
    """Park on our qhead until it is set or the loop count reaches the next PV test
    (``MAYHALT_THRESHOLD``, then ``QSPIN_THRESHOLD``)."""
    q = LPa[LP_QSPIN_THRESHOLD]
    mayhalt_at = q - LPa[LP_MAYHALT_GAP]
    cnt = I[v, R6]
    target = mayhalt_at if cnt < mayhalt_at else q
    I[v, PC] = PQ_NODE_SPIN
    act_spin(I, v, qw(I, v, F_QHEAD), _WORD, CMP_NE, 0, target - cnt, PQ_NODE_SPUN)


@njit(**INNER)
def _head_wait(v, I, LPa):
    """retry_queue_wait: spin until locked and pending are both 0, or until ``hcnt``
    reaches ``HEAD_MULT * QSPIN_THRESHOLD`` (``pv_head_spin_check``)."""
    lock = I[v, LKW]  # the lock this operation takes (its word)
    limit = LPa[LP_HEAD_MULT] * LPa[LP_QSPIN_THRESHOLD]
    I[v, PC] = PQ_HEAD_WAIT
    act_spin(I, v, lock, _Q_LOCKED_PENDING_MASK, CMP_EQ, 0, limit - I[v, R6], PQ_HEAD_SPUN)


@njit(**INNER)
def queue_granted(v, I, G):
    """A queue-path acquisition. FIFO check: the MCS queue grants in ``xchg_tail``
    order, so our predecessor must be the previous queue-path acquirer."""
    prev = I[v, R4]
    if prev >= 0 and G[gl(I[v, LKI]) + GL_QLAST] != prev:
        G[G_STATUS] = ST_FIFO
    G[gl(I[v, LKI]) + GL_QLAST] = v
    I[v, PATH] = PATH_QUEUE
    I[v, PC] = W_LOCKED

