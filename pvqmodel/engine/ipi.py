"""Synchronous IPIs of a guest workload: a TLB-shootdown-like call from one vCPU to the
other vCPUs of its VM, the sender waiting until each target has run a short handler.

Owns the sender's side (``ipi_send``, the ``A_IPI`` action of the workload program,
kernel.py); the target's side, which runs when a target that was off its pCPU gets one
back, is ``hypervisor.hv_ipi_ack``. What it models is x86 Linux's
``flush_tlb_mm_range`` -> ``flush_tlb_multi`` -> ``native_flush_tlb_multi``
(arch/x86/mm/tlb.c): ``on_each_cpu_cond_mask(tlb_is_not_lazy, flush_tlb_func, info,
wait=1, cpumask)`` sends the call-function IPI to every CPU of the mm's cpumask that is
not in lazy TLB mode and spins in ``csd_lock_wait`` (kernel/smp.c) until each has run
``flush_tlb_func``. Under KVM with ``KVM_FEATURE_PV_TLB_FLUSH`` (guest 4.16+) the guest's
``kvm_flush_tlb_multi`` (arch/x86/kernel/kvm.c) first reads each target's
``steal_time.preempted``: a target with ``KVM_VCPU_PREEMPTED`` set gets
``KVM_VCPU_FLUSH_TLB`` or-ed in by ``try_cmpxchg`` and is dropped from the mask, and the
host flushes its TLB at its next entry (``record_steal_time``); only the others are
IPI'd and waited for. Read from a recent kvm.c (``kvm_flush_tlb_multi`` as above,
``kvm_smp_send_call_func_ipi``, ``__send_ipi_mask`` with ``KVM_HC_SEND_IPI``) and
tlb.c's ``native_flush_tlb_multi`` (lazy-TLB skip when no page tables were freed).

Model and simplifications:

* **When**: with probability ``P_IPI_PER_OP`` an operation ends with one IPI, after its
  unlock and loop overhead and before its think time (``W_LOOP_DONE``): the sender holds
  no lock (kernel.py checks ``IN_ACQ``), so a target waiting for a lock the sender holds
  cannot stall it; targets ack whatever they do (the seed's ``spin_lock`` runs with
  interrupts on), so senders never wait on each other.
* **Targets**: every other vCPU of the VM except those idling through a sleeping think
  time (``HALT_IDLE``: their CPU is in lazy TLB mode, ``tlb_is_not_lazy`` skips them)
  and those whose task has finished (idle too).
* **Send**: one ``KVM_HC_SEND_IPI`` hypercall for the whole mask (PV send-IPI, 4.19+),
  costing the kick hypercall's time (``P_KICK_NS``); the interrupts are delivered when
  it returns.
* **A running target** takes the interrupt at once and acks after ``P_IPI_HANDLER``;
  if it is computing (a critical section, loop overhead, a compute think time, a kick
  or halt cost: ``M_RUN`` with a timer) that work is postponed by the handler time. A
  target that is spinning or waiting for memory is not postponed (its handler overlaps
  the wait: the spin notices the lock at most a handler later, which is neglected).
  A target preempted during its handler window still acks on time (the window is ~1 us
  against a quantum of ms).
* **A preempted target** (``VS_READY``) acks ``P_IPI_HANDLER`` after it is next
  scheduled in, and its own work waits for the handler: the sender's stall.
* **A target halted in the lock code** (``pv_wait``: ``safe_halt`` with interrupts on)
  is woken by the IPI like a kick (``P_WAKE_NS``; counted among the interrupt wake-ups,
  ``spurious_wakes``), acks after the handler when it runs, and then re-checks its lock
  as after any spurious wake-up.
* **PV TLB flush** (``P_PV_TLB_FLUSH``): a target that reads as preempted at send time
  (``hv_vcpu_preempted``: the guest-visible flag of the host's era; a halted vCPU reads
  as preempted where KVM set the flag at every ``vcpu_put``) is flagged and neither
  IPI'd nor waited for (``try_cmpxchg`` never fails here); the flush at its next entry
  costs nothing in the model. On dedicated pCPUs nothing is ever preempted, so it
  changes nothing.
* **The sender's wait** is not a parked PAUSE loop: pause-loop exiting does not see
  it (KVM would PLE-exit a long ``csd_lock_wait``), and ``kvm_smp_send_call_func_ipi``'s
  yield to a preempted target (``KVM_HC_SCHED_YIELD``, 5.2+, for other call-function
  IPIs) is not modelled. Its time from send until it sees the last ack
  (``F_IPI_WAIT_NS``) includes any time it is itself off its pCPU.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .core import INF, tm_set
from .hypervisor import WAKE_IRQ, WAKE_NONE, draw_time, hv_vcpu_preempted
from .sigs import INNER
from .state import (
    A_NEXT,
    F_IPI_DONE,
    F_IPI_T0,
    G_BLOCKED,
    G_IPI_FLAGGED,
    G_IPI_PREEMPTED,
    G_IPIS,
    HALT_IDLE,
    HALT_SITE,
    IPI_FLAGS,
    IPI_HIT_PRE,
    IPI_MASK0,
    IPI_MASK_WORDS,
    IPI_N,
    IPI_PEND,
    IPI_WAIT,
    LP_NVCPU,
    LP_VCPU0,
    M_DONE,
    M_RUN,
    MODE,
    P_IPI_HANDLER,
    P_KICK_NS,
    P_PV_TLB_FLUSH,
    P_WAKE_EXP,
    P_WAKE_NS,
    PC,
    VS_HALTED,
    VS_RUNNING,
    VSTATE,
    WAKE_PENDING,
)


@njit(**INNER)
def ipi_send(s, t, I, F, G, P, Pv, LPv, TF, TI, rng):
    """vCPU ``s`` sends a synchronous IPI to the other vCPUs of its VM at ``t`` and waits
    for their acks (module docstring). ``P``: row 0 (host-wide costs); ``Pv``/``LPv``:
    s's VM rows. The sender continues at ``A_NEXT`` (``W_IPI_DONE``) when it sees the
    last ack: at once known if every target is running (its timer is set here), else set
    by ``hv_ipi_ack`` when the last descheduled target has run its handler."""
    I[s, PC] = I[s, A_NEXT]
    I[s, MODE] = M_RUN
    I[s, IPI_N] += 1
    G[G_IPIS] += 1
    F[s, F_IPI_T0] = t
    sent = t + P[P_KICK_NS]  # the KVM_HC_SEND_IPI hypercall returns
    F[s, F_IPI_DONE] = sent
    for w in range(IPI_MASK_WORDS):
        I[s, IPI_MASK0 + w] = 0
    I[s, IPI_WAIT] = 0
    h = Pv[P_IPI_HANDLER]
    v0 = LPv[LP_VCPU0]
    for u in range(v0, v0 + LPv[LP_NVCPU]):
        if u == s or I[u, MODE] == M_DONE:
            continue
        vs = I[u, VSTATE]
        if vs == VS_HALTED and I[u, HALT_SITE] == HALT_IDLE:
            continue  # idle: lazy TLB mode, tlb_is_not_lazy() skips it
        if hv_vcpu_preempted(u, I, F):
            I[s, IPI_HIT_PRE] += 1
            G[G_IPI_PREEMPTED] += 1
            if Pv[P_PV_TLB_FLUSH] != 0.0:  # kvm_flush_tlb_multi: KVM_VCPU_FLUSH_TLB
                I[s, IPI_FLAGS] += 1
                G[G_IPI_FLAGGED] += 1
                continue
        if vs == VS_RUNNING:
            if F[s, F_IPI_DONE] < sent + h:
                F[s, F_IPI_DONE] = sent + h
            if I[u, MODE] == M_RUN and TF[u] < INF:
                tm_set(TF, TI, u, TF[u] + h)  # its computation waits for the handler
            continue
        # off its pCPU: it acks when it runs again (hv_ipi_ack)
        I[s, IPI_MASK0 + (u >> 6)] |= np.int64(1) << (u & 63)
        I[s, IPI_WAIT] += 1
        I[u, IPI_PEND] += 1
        if vs == VS_HALTED:
            # the interrupt wakes a vCPU halted in the lock code, as a kick would
            tw = sent + draw_time(P[P_WAKE_NS], P[P_WAKE_EXP], rng)
            if I[u, WAKE_PENDING] == WAKE_NONE:
                G[G_BLOCKED] -= 1
                I[u, WAKE_PENDING] = WAKE_IRQ
                tm_set(TF, TI, u, tw)
            elif tw < TF[u]:
                tm_set(TF, TI, u, tw)
    if I[s, IPI_WAIT] == 0:
        tm_set(TF, TI, s, F[s, F_IPI_DONE])
