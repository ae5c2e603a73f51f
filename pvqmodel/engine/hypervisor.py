"""Hypervisor layer: pCPUs, run queues, quanta, preemption, halt, kick and wake-up.

Owns which vCPU runs where and when. The VM's vCPUs and the background vCPUs of
other VMs (always runnable, never touching the lock) are *entities* 0..n-1 and
n..n+nbg-1 that pCPUs run round-robin for a quantum each (fixed or exponential, with
a random phase at start), from one run queue per pCPU (pinned placement: entity e
lives on pCPU e mod pCPUs, background entity n+b on b mod pCPUs) or one global
queue (free placement: any idle pCPU takes the next entity). A vCPU can lose its
pCPU between any two steps: its pending timer is cut and the time left is stashed
(``F_STASH``) until it runs again, so its critical section, loop overhead or memory
wait is postponed by exactly its off-CPU time; a parked spinner stops watching its
line and its iteration count stands still, then re-reads when it is back. An
event that fires for a vCPU that is off its pCPU (a memory result) is stashed with
zero delay. A halt (``act_halt``) gives the pCPU away (to the next queued entity;
with no schedule, to nobody) until a kick or an interrupt: a kick makes the target
runnable after the wake latency, an interrupt after an exponential time with mean
``P_SPURIOUS_NS``; the resumed vCPU pays the VM exit/entry of the halt
(``P_HALT_NS``) and then competes for a pCPU. KVM's PV-unhalted latch (a kick that
finds its target not halted is remembered and makes the next HLT return at once)
is a switch (``LP_LATCH``). With no schedule (``LP_HV == 0``) nothing here draws a
random number or sets a timer, so native runs are unchanged bit for bit.
The liveness check lives here too: a halted vCPU with no kick or interrupt on its
way is *blocked*; when every unfinished vCPU is blocked nothing can ever run again
(``ST_LOST_WAKEUP``).

**Wake-up preemption** (``LP_WAKEUP_PREEMPT``; CFS ``check_preempt_wakeup``): a vCPU
woken from a halt runs at once, preempting the entity on its home pCPU (free placement:
an idle pCPU, else one running a background vCPU, else it queues); the preempted
entity goes to the head of its queue. Without it a woken vCPU waits for the current
quantum to end.

**Pause-loop exiting** (``P_PLE_WINDOW > 0``; VMX PLE, kernel-locks.md §5.2). The
hardware counts a PAUSE loop from its first PAUSE; a gap longer than ``ple_gap``
(``P_PLE_GAP``; KVM's 128 cycles, 53 ns at 2.4 GHz) between two PAUSEs starts a new
loop, and so does the first PAUSE after a VM entry. A parked spinner executes PAUSE
every iteration on a valid cached copy (gap: one iteration). The re-read after an
invalidation is a miss, and its gap is the miss latency plus the iteration's PAUSE
and PV checks (spin.py ``ple_loop``): with the calibrated preset the cheapest miss, a
same-socket transfer through the line's home with nobody queued, gives 23 + 25 + 3 =
51 ns (native) or 53 ns (PV), just inside the gap, so the loop goes on; queueing
behind other spinners' re-reads or a cross-socket transfer (115 ns) starts a new
loop. Lock code between two spins, a VM entry (after a preemption or an exit) and
the first PAUSE of a spin start a new loop too. A vCPU whose loop has lasted its
window ``F_PLE_WIN`` while it is parked on its pCPU exits (``hv_ple_exit``; the
deadline is checked at park time: a loop that runs out during a re-read exits at the
next park). The window is per vCPU
(``vmx->ple_window``): ``grow_ple_window`` multiplies it by ``P_PLE_GROW`` at each
exit, capped at ``P_PLE_MAX``; ``vmx_sched_in`` -> ``shrink_ple_window`` with KVM's
default shrink modifier 0 puts it back to the base whenever the vCPU is scheduled in
(``hv_resume``). The exit costs ``P_PLE_EXIT`` on the pCPU (mode ``M_PLE``; a quantum
end may cut it like any timer); its iterations so far count toward the lock's
thresholds. At its end ``kvm_vcpu_on_spin`` (``hv_on_spin``) scans the VM's other
vCPUs round-robin after ``last_boosted_vcpu`` for one runnable but not running: a
``VS_READY`` vCPU (preempted, or woken and queued) or a halted one whose kick is
pending (``kvm_arch_vcpu_runnable``: the PV-unhalted flag). Background vCPUs belong
to other VMs and are never scanned. The target runs next (``yield_to(p,
preempt=true)``): moved to the head of its queue, it preempts the entity on its
home pCPU, which goes back to the head behind it, when the reschedule IPI has landed
and the vCPU there has exited, ``P_RESCHED`` after the boost (``resched_curr``: an
early quantum end); when the target waits on the spinner's own queue (pinned to the
same pCPU, or free placement's single queue) the two exchange places: the target runs
for the rest of the spinner's quantum and the spinner waits in the target's place in
the queue (a fresh quantum per hand-over let two spinners starve the vCPU at their
queue's head; the tail moved a yielding VM behind its co-tenants). A halted target whose
kick is on its way becomes the next buddy instead: it runs (preempting) as soon as
its kick lands, which the yield does not hasten. Then the spinner
``schedule()``s with itself as skip buddy: it gives its pCPU to the next entity of
its queue, if any, and queues behind; otherwise it goes back to spinning. Not
modelled: ``kvm_vcpu_eligible_for_directed_yield`` (a vCPU that is itself inside
``kvm_vcpu_on_spin`` is eligible every other time: only vCPUs in the middle of their
own exit), failed ``yield_to`` calls (``try``), CFS's fairness check on the next
buddy (the target always runs), and the older candidate rule (``vcpu->preempted``,
set only when a *running* vCPU thread is scheduled out, so a woken vCPU that has not
run yet was skipped; commit d73eb57b "KVM: Boost vCPUs that are delivering
interrupts" replaced it by ``vcpu->ready``, also set by ``kvm_vcpu_wake_up``, which
is the rule here).

``H`` (int64) holds the timer-slot bases (pCPU quantum timers, store-buffer drain
timers), ``H[HV_CUR + p]`` the entity on pCPU p (-1 idle), then per queue its head,
length and a ring of entity ids. Timer slots: vCPUs, lines, pCPUs, store buffers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .core import INF, tm_clear, tm_set
from .fair import (
    HC_BAL,
    HC_IDLE0,
    HC_IDLE_NS,
    HC_MINV,
    HC_NEXT,
    HC_NR,
    HC_SKIP,
    HC_SOCK,
    HC_TICK0,
    HE_CPU,
    HE_DL,
    HE_DYELIG,
    HE_EXEC0,
    HE_HALT0,
    HE_HI,
    HE_INSPIN,
    HE_KPRE,
    HE_LASTRUN,
    HE_LO,
    HE_MAXWAIT,
    HE_NHALT,
    HE_NKICK,
    HE_NMIGRATE,
    HE_NPOLL_OK,
    HE_NPREEMPT,
    HE_NWAKEPRE,
    HE_NYIELD,
    HE_ONRQ,
    HE_PARITY,
    HE_POLL,
    HE_POLLING,
    HE_QPOS,
    HE_SLICE0,
    HE_STEAL,
    HE_SUMEX,
    HE_VM,
    HE_VRUN,
    HE_WAIT0,
    HP_BALANCE,
    HP_DY_ELIG,
    HP_DY_HALTED,
    HP_DY_READY,
    HP_DY_TRIES,
    HP_KICK_YIELD,
    HP_NPCPU,
    HP_POLL_GROW,
    HP_POLL_MAX,
    HP_POLL_SHRINK,
    HP_POLL_START,
    HP_PREEMPT_FLAG,
    HP_SCHED,
    HP_SLICE,
    HP_TICK,
    HP_WAKE_ENQ,
    HP_WAKE_IDLE,
    HP_WAKE_POLL,
    HV_CB,
    HV_CUR,
    HV_EB,
    HV_NENT,
    HV_NVM,
    HV_PSLOT,
    HV_QL,
    HV_RRCAP,
    HV_RRQ,
    HV_SBSLOT,
    HV_SCR,
    HV_VB,
    HVM_LASTB,
    HVM_NRUN,
    HVM_SHARES,
    HVM_V0,
    HVM_V1,
    NHC,
    NHE,
    NHP,
    NHVM,
    SCHED_EEVDF,
    SCHED_RR,
    clear_buddies,
    cpu,
    ent,
    migrate,
    pick_next,
    place_entity,
    rq_add,
    rq_del,
    save_lag,
    select_cpu,
    steal_candidate,
    tick_resched,
    update_curr,
    vdelta,
    vmr,
    wake_preempts,
    weight,
)
from .rand import bounded_int, exponential, lognormal, uniform
from .sigs import I1, INNER, i8
from .state import (
    A_NEXT,
    A_VAL,
    ACQ_SEQ,
    BOOSTED,
    DY_NEXT,
    F_DELAY,
    F_IPI_DONE,
    F_IPI_H,
    F_ITER,
    F_KICK_T,
    F_OFF_T0,
    F_PARK_T0,
    F_PLE_WIN,
    F_STASH,
    G_BLOCKED,
    G_CS_PREEMPT_NS,
    G_DY_KICKED,
    G_DYIELDS,
    G_HALT0,
    G_KICK_NOHALT,
    G_KICK_STALE,
    G_KICKS,
    G_LAST_BOOSTED,
    G_LATCH_HITS,
    G_LHP,
    G_LWP,
    G_PLE_EXITS,
    G_PREEMPTS,
    G_SPURIOUS,
    G_STATUS,
    G_WAKE_KICKED,
    G_WAKE_PREEMPTS,
    GF_BLOCKED_NS,
    GF_WAKE_LAT,
    GUEST_PREEMPTED,
    HALT_IDLE,
    HALT_SITE,
    HELD,
    IN_ACQ,
    IPI_MASK0,
    IPI_PEND,
    IPI_WAIT,
    ITERS,
    KICK_SEQ,
    LATCH,
    LHP_N,
    LP_HV,
    LP_LATCH,
    LP_NBG,
    LP_NPCPU,
    LP_PINNED,
    LP_WAKEUP_PREEMPT,
    LWP_N,
    M_HALTED,
    M_PARKED,
    M_PLE,
    M_REREAD,
    M_RUN,
    MODE,
    P_HALT_NS,
    P_KICK_NS,
    P_PLE_EXIT,
    P_PLE_GROW,
    P_PLE_MAX,
    P_PLE_WINDOW,
    P_QUANTUM,
    P_QUANTUM_EXP,
    P_RESCHED,
    P_SPURIOUS_NS,
    P_WAKE_EXP,
    P_WAKE_NS,
    PC,
    PCPU,
    PLE_LOOP,
    PLE_N,
    ST_BAD_STATE,
    VM,
    VS_HALTED,
    VS_READY,
    VS_RUNNING,
    VSTATE,
    WAKE_PENDING,
    WATCH,
)

WAKE_NONE = 0
WAKE_IRQ = 1
WAKE_KICK = 2


def rr_ring_slots(n: int, npcpu: int, nbg: int, pinned: bool) -> int:
    """Slots of each round-robin queue's ring (Python side): one more than the entities
    that can wait in it. Pinned, queue q holds only the entities homed on pCPU q
    (``_home_queue``: vCPU v on v mod pCPUs, background thread b on b mod pCPUs); free
    placement has one queue for all. Sizing every ring for all entities made ``H``
    O(pCPUs x entities), 1 MB of rings at 256 vCPUs under overcommit 2, with each queue's
    few live slots walking around its own 4 KB page (issue 12)."""
    if npcpu <= 0:
        return 1
    if not pinned:
        return n + nbg + 1
    return -(-n // npcpu) + -(-nbg // npcpu) + 1


def hv_size(n: int, npcpu: int, nbg: int, nq: int, nvm: int | None = None,
            fair: bool = False) -> int:
    """Length of ``H`` for ``nq`` round-robin run queues and ``nvm`` VMs (Python side;
    default: the VM and, with background threads, one more for them); ``fair``: with
    the fair schedulers' per-pCPU queues (``HV_QL``, pCPUs x entities), which the round
    robin does not use."""
    nent = n + nbg
    if nvm is None:
        nvm = 2 if nbg > 0 else 1
    scratch = nent if npcpu > 0 else 0
    cap = rr_ring_slots(n, npcpu, nbg, nq != 1)
    return (HV_CUR + npcpu + 2 * nq + nq * cap + scratch + nent * NHE
            + npcpu * NHC + nvm * NHVM + (npcpu * nent if fair else 0))


def hv_alloc(n: int, npcpu: int, nbg: int, pinned: bool, n_lines: int,
             host: dict | None = None) -> np.ndarray:
    """Allocate and fill ``H`` for ``n`` lock-running vCPUs, ``npcpu`` pCPUs (0: no
    schedule) and ``nbg`` CPU-bound threads (Python side).

    ``host`` (None: the round-robin schedule of :class:`pvqmodel.Schedule`, one VM plus
    the CPU-bound threads as VM 1) holds the fair scheduler's parameters and layout:
    ``hp`` ({HP_* index: int value}), ``ent_vm`` (VM of each entity), ``ent_lo`` /
    ``ent_hi`` (allowed pCPUs), ``vm_v0`` / ``vm_v1`` (each VM's rows of I), ``vm_shares``,
    ``cpu_sock`` (socket of each pCPU), ``poll0`` (initial halt_poll_ns of a vCPU)."""
    nent = n + nbg
    nq = (npcpu if pinned else 1) if npcpu > 0 else 0
    host = {} if host is None else host
    ent_vm = np.asarray(host.get("ent_vm", [0] * n + [1] * nbg), dtype=np.int64)
    nvm = int(ent_vm.max()) + 1 if nent > 0 else 1
    fair = int(host.get("hp", {}).get(HP_SCHED, SCHED_RR)) != SCHED_RR
    cap = rr_ring_slots(n, npcpu, nbg, pinned)
    H = np.full(hv_size(n, npcpu, nbg, nq, nvm, fair), -1, dtype=np.int64)
    H[HV_RRCAP] = cap
    H[HV_PSLOT] = n + n_lines
    H[HV_SBSLOT] = n + n_lines + npcpu
    H[HV_NENT] = nent
    H[HV_NVM] = nvm
    H[HP_SCHED:HP_SCHED + NHP] = 0
    H[HP_NPCPU] = npcpu
    for k, val in host.get("hp", {}).items():
        H[k] = int(val)
    rrq = HV_CUR + npcpu
    H[HV_RRQ] = rrq
    H[rrq: rrq + 2 * nq] = 0  # queue heads and lengths
    scr = rrq + 2 * nq + nq * cap
    H[HV_SCR] = scr
    eb = scr + (nent if npcpu > 0 else 0)
    H[HV_EB] = eb
    H[HV_CB] = eb + nent * NHE
    H[HV_VB] = H[HV_CB] + npcpu * NHC
    H[HV_QL] = H[HV_VB] + nvm * NHVM
    E = H[eb: eb + nent * NHE].reshape(nent, NHE)
    E[:, :] = 0
    E[:, HE_VM] = ent_vm
    if "ent_lo" in host:
        E[:, HE_LO] = host["ent_lo"]
        E[:, HE_HI] = host["ent_hi"]
    elif npcpu > 0:
        e = np.arange(nent)
        home = np.where(e < n, e, e - n) % npcpu
        E[:, HE_LO] = home if pinned else 0
        E[:, HE_HI] = home + 1 if pinned else npcpu
    E[:, HE_CPU] = E[:, HE_LO]
    E[:, HE_ONRQ] = 1
    E[:, HE_WAIT0] = -1
    E[:, HE_QPOS] = -1
    E[:, HE_LASTRUN] = -(1 << 40)  # never ran: not cache-hot
    E[:, HE_DYELIG] = 0
    E[:n, HE_POLL] = int(host.get("poll0", 0))
    C = H[H[HV_CB]: H[HV_CB] + npcpu * NHC].reshape(npcpu, NHC)
    C[:, :] = 0
    C[:, HC_NEXT] = -1
    C[:, HC_SKIP] = -1
    C[:, HC_IDLE0] = -1
    C[:, HC_SOCK] = host.get("cpu_sock", 0)
    V = H[H[HV_VB]: H[HV_VB] + nvm * NHVM].reshape(nvm, NHVM)
    V[:, :] = 0
    V[:, HVM_NRUN] = np.bincount(ent_vm, minlength=nvm)
    V[:, HVM_SHARES] = host.get("vm_shares", 1024)
    V[:, HVM_V0] = host.get("vm_v0", [0] + [n] * (nvm - 1))
    V[:, HVM_V1] = host.get("vm_v1", [n] + [n] * (nvm - 1))
    return H


#: Per-entity columns of :func:`hv_entity_frame` (name -> entity-record column)
ENTITY_COLUMNS = {
    "run_ns": HE_SUMEX, "steal_ns": HE_STEAL, "max_wait_ns": HE_MAXWAIT,
    "preemptions": HE_NPREEMPT, "halts": HE_NHALT, "polls_ok": HE_NPOLL_OK,
    "kicks": HE_NKICK, "yields": HE_NYIELD, "migrations": HE_NMIGRATE,
    "wake_preemptions": HE_NWAKEPRE, "halt_poll_ns": HE_POLL,
}


def hv_entity_frame(H: np.ndarray, n: int, now: float) -> dict:
    """Per-entity accounting of a finished run as columns (Python side): run, steal and
    longest-wait times with the run or wait still open at ``now`` closed there, and the
    counters. Entities 0..n-1 are the lock-running vCPUs."""
    nent = int(H[HV_NENT])
    E = H[H[HV_EB]: H[HV_EB] + nent * NHE].reshape(nent, NHE).copy()
    npc = int(H[HP_NPCPU])
    ti = int(now)
    for p in range(npc):  # close the runs in progress
        c = int(H[HV_CUR + p])
        if c >= 0:
            E[c, HE_SUMEX] += ti - E[c, HE_EXEC0]
    waiting = E[:, HE_WAIT0] >= 0
    w = np.where(waiting, ti - E[:, HE_WAIT0], 0)
    E[:, HE_STEAL] += w
    E[:, HE_MAXWAIT] = np.maximum(E[:, HE_MAXWAIT], w)
    out = {"entity": np.arange(nent), "vm": E[:, HE_VM].copy(),
           "vcpu": np.where(np.arange(nent) < n, np.arange(nent), -1)}
    for name, col in ENTITY_COLUMNS.items():
        out[name] = E[:, col].copy()
    return out


@njit(i8(I1), **INNER)
def _nq(LP):
    return LP[LP_NPCPU] if LP[LP_PINNED] != 0 else 1


@njit(i8(i8, i8, I1), **INNER)
def _home_queue(e, n, LP):
    if LP[LP_PINNED] == 0:
        return 0
    if e < n:
        return e % LP[LP_NPCPU]
    return (e - n) % LP[LP_NPCPU]


@njit(i8(I1), **INNER)
def _qbase(H):
    return H[HV_RRQ]


@njit(**INNER, forceinline=True)
def _idle_pcpu(H, LP):
    """The lowest-numbered idle pCPU, or -1 if every pCPU runs an entity."""
    for p in range(LP[LP_NPCPU]):
        if H[HV_CUR + p] < 0:
            return p
    return -1


@njit(**INNER)
def _enqueue(H, q, e, n, LP, t):
    qb = _qbase(H)
    cap = H[HV_RRCAP]
    head = H[qb + 2 * q]
    ln = H[qb + 2 * q + 1]
    k = (head + ln) % cap
    H[qb + 2 * _nq(LP) + q * cap + k] = e
    H[ent(H, e, HE_QPOS)] = k
    H[qb + 2 * q + 1] = ln + 1
    _acct_wait(H, e, t)


@njit(**INNER)
def _dequeue(H, q, n, LP):
    """Next entity of queue q, or -1 if it is empty."""
    qb = _qbase(H)
    cap = H[HV_RRCAP]
    ln = H[qb + 2 * q + 1]
    if ln <= 0:
        return -1
    head = H[qb + 2 * q]
    e = H[qb + 2 * _nq(LP) + q * cap + head]
    H[ent(H, e, HE_QPOS)] = -1
    H[qb + 2 * q] = (head + 1) % cap
    H[qb + 2 * q + 1] = ln - 1
    return e


@njit(**INNER, forceinline=True)
def _push_front(H, q, e, n, LP, t):
    """Put e at the head of queue q: a preempted entity that had not used up its turn
    (CFS keeps its vruntime; it is the next one picked after the entity that took over)."""
    qb = _qbase(H)
    cap = H[HV_RRCAP]
    head = (H[qb + 2 * q] + cap - 1) % cap
    H[qb + 2 * _nq(LP) + q * cap + head] = e
    H[ent(H, e, HE_QPOS)] = head
    H[qb + 2 * q] = head
    H[qb + 2 * q + 1] += 1
    _acct_wait(H, e, t)


@njit(**INNER, forceinline=True)
def _waiting_at(H, q, e, cap, ring):
    """Where entity e waits in queue q: its place among the waiting (0 = the head), or -1
    if it does not wait there. Its remembered ring slot (``HE_QPOS``) counts only if it is
    one of q's live slots and holds e (a slot of q's that e once held is no proof)."""
    qb = _qbase(H)
    pos = H[ent(H, e, HE_QPOS)]
    k = (pos - H[qb + 2 * q] + cap) % cap
    if pos < 0 or k >= H[qb + 2 * q + 1] or H[ring + pos] != e:
        return -1
    return k


@njit(**INNER, forceinline=True)
def _remove(H, q, e, n, LP):
    """Take entity e out of queue q wherever it waits (the order of the others is kept:
    those behind it move up one slot). Returns False if e is not in the queue."""
    qb = _qbase(H)
    cap = H[HV_RRCAP]
    ring = qb + 2 * _nq(LP) + q * cap
    k = _waiting_at(H, q, e, cap, ring)
    if k < 0:
        return False
    head = H[qb + 2 * q]
    ln = H[qb + 2 * q + 1]
    for j in range(k, ln - 1):
        dst = (head + j) % cap
        e2 = H[ring + (dst + 1) % cap]
        H[ring + dst] = e2
        H[ent(H, e2, HE_QPOS)] = dst
    H[ent(H, e, HE_QPOS)] = -1
    H[qb + 2 * q + 1] = ln - 1
    return True


@njit(**INNER, forceinline=True)
def _replace(H, q, e, e2, n, LP):
    """Put entity e2 in e's place in queue q (e leaves it). False if e is not queued."""
    qb = _qbase(H)
    cap = H[HV_RRCAP]
    ring = qb + 2 * _nq(LP) + q * cap
    if _waiting_at(H, q, e, cap, ring) < 0:
        return False
    pos = H[ent(H, e, HE_QPOS)]
    H[ring + pos] = e2
    H[ent(H, e2, HE_QPOS)] = pos
    H[ent(H, e, HE_QPOS)] = -1
    return True


# ---- run and wait accounting (every scheduler) ----------------------------------------

@njit(**INNER)
def _acct_wait(H, e, t):
    """e is runnable and waits for a pCPU from t (unless it already waits)."""
    if H[ent(H, e, HE_WAIT0)] < 0:
        H[ent(H, e, HE_WAIT0)] = int(t)


@njit(**INNER)
def _acct_switch(p, e, t, H):
    """pCPU p switches to e (-1: idle) at t: close the run of the entity there and the
    wait of e (steal time, longest wait), open e's run."""
    ti = int(t)
    c = H[HV_CUR + p]
    if c >= 0 and c != e:
        H[ent(H, c, HE_SUMEX)] += ti - H[ent(H, c, HE_EXEC0)]
        H[ent(H, c, HE_EXEC0)] = ti
        H[ent(H, c, HE_LASTRUN)] = ti
    if c < 0 and e >= 0 and H[cpu(H, p, HC_IDLE0)] >= 0:
        H[cpu(H, p, HC_IDLE_NS)] += ti - H[cpu(H, p, HC_IDLE0)]
        H[cpu(H, p, HC_IDLE0)] = -1
    if e < 0:
        if c >= 0:
            H[cpu(H, p, HC_IDLE0)] = ti
        H[HV_CUR + p] = -1
        return
    if c != e:
        w0 = H[ent(H, e, HE_WAIT0)]
        if w0 >= 0:
            w = ti - w0
            H[ent(H, e, HE_STEAL)] += w
            if w > H[ent(H, e, HE_MAXWAIT)]:
                H[ent(H, e, HE_MAXWAIT)] = w
            H[ent(H, e, HE_WAIT0)] = -1
        H[ent(H, e, HE_EXEC0)] = ti
        H[ent(H, e, HE_SLICE0)] = H[ent(H, e, HE_SUMEX)]
    H[ent(H, e, HE_CPU)] = p
    H[HV_CUR + p] = e


@njit(**INNER, forceinline=True)
def draw_time(mean, expo, rng):
    """A duration: exponential with this mean if ``expo`` else the mean itself."""
    if expo != 0.0 and mean > 0.0:
        return exponential(rng, mean)
    return mean


@njit(**INNER, forceinline=True)
def draw_dist(mean, dist, mu, sigma, rng):
    """A duration of one of three laws (a workload's critical section or think time):
    ``dist`` 0.0 the mean itself, 1.0 exponential with this mean, 2.0 lognormal with
    parameters ``mu``, ``sigma`` (chosen by the front end so its mean is ``mean``)."""
    if dist == 2.0 and mean > 0.0:
        return lognormal(rng, mu, sigma)
    return draw_time(mean, dist, rng)


@njit(**INNER, forceinline=True)
def hv_resume(v, t, I, F, G, P, TF, TI):
    """vCPU v gets a pCPU at t: re-arm the timer it had when it lost its pCPU."""
    n = I.shape[0]
    if I[v, IPI_PEND] > 0:  # synchronous IPIs sent while it was off its pCPU (ipi.py)
        hv_ipi_ack(v, t, I, F, TF, TI)
    I[v, VSTATE] = VS_RUNNING
    # vmx_sched_in -> shrink_ple_window: with ple_window_shrink = 0 (KVM's default) the
    # window goes back to its base each time the vCPU thread is scheduled in
    F[v, F_PLE_WIN] = P[P_PLE_WINDOW]
    I[v, PLE_LOOP] = 0  # the first PAUSE after a VM entry starts a new PAUSE loop
    if I[v, HELD] >= 0 and F[v, F_OFF_T0] >= 0.0:
        G[G_CS_PREEMPT_NS] += int(t - F[v, F_OFF_T0])
    F[v, F_OFF_T0] = -1.0
    if F[v, F_KICK_T] >= 0.0:
        F[n, GF_WAKE_LAT] += t - F[v, F_KICK_T]
        F[v, F_KICK_T] = -1.0
    if F[v, F_STASH] >= 0.0:
        tm_set(TF, TI, v, t + F[v, F_STASH])
        F[v, F_STASH] = -1.0


@njit(**INNER, forceinline=True)
def hv_preempt(v, t, I, F, G, P, TF, TI, H):
    """Take the running vCPU v off its pCPU at t (involuntarily: a quantum end, a
    wake-up preemption, a directed yield's resched of its pCPU): stash its timer."""
    G[G_PREEMPTS] += 1
    H[ent(H, v, HE_NPREEMPT)] += 1
    if I[v, HELD] >= 0:  # it holds a lock instance (lock-holder preemption)
        G[G_LHP] += 1
        I[v, LHP_N] += 1
    if I[v, IN_ACQ] != 0:  # it waits for one (lock-waiter preemption)
        G[G_LWP] += 1
        I[v, LWP_N] += 1
    I[v, VSTATE] = VS_READY
    F[v, F_OFF_T0] = t
    if I[v, MODE] == M_PARKED:
        # a spinner off its pCPU does not spin: stop watching, count the iterations
        # done so far, and re-read when it is back
        I[v, ITERS] += int((t - F[v, F_PARK_T0]) / F[v, F_ITER])
        I[v, WATCH] = -1
        I[v, MODE] = M_REREAD
        tm_clear(TF, TI, v)
        F[v, F_STASH] = 0.0
    elif TF[v] < INF:
        F[v, F_STASH] = TF[v] - t
        tm_clear(TF, TI, v)
    else:
        F[v, F_STASH] = -1.0  # a memory result will arrive and be stashed then


@njit(**INNER)
def _switch_in(p, e, t, I, F, G, P, H, TF, TI):
    """pCPU p starts running entity e at t; its quantum timer is the caller's."""
    _acct_switch(p, e, t, H)
    if H[cpu(H, p, HC_NEXT)] == e:
        H[cpu(H, p, HC_NEXT)] = -1  # a directed yield's resched is served
    if e < I.shape[0]:
        I[e, PCPU] = p
        hv_resume(e, t, I, F, G, P, TF, TI)


@njit(**INNER)
def hv_run(p, e, t, I, F, G, P, LP, H, TF, TI, rng):
    """pCPU p starts running entity e at t for one quantum (sooner if a directed yield's
    reschedule IPI for another entity is on its way: it still lands)."""
    _switch_in(p, e, t, I, F, G, P, H, TF, TI)
    slot = H[HV_PSLOT] + p
    end = t + draw_time(P[P_QUANTUM], P[P_QUANTUM_EXP], rng)
    if H[cpu(H, p, HC_NEXT)] >= 0 and TF[slot] < end:
        end = TF[slot]
    tm_set(TF, TI, slot, end)


@njit(**INNER)
def hv_release(p, t, I, F, G, P, LP, H, TF, TI, rng):
    """pCPU p's entity stops running (halted or finished): run the next queued one."""
    if H[HP_SCHED] != SCHED_RR:
        _fs_block(p, t, I, F, G, P, LP, H, TF, TI)
        return
    n = I.shape[0]
    q = p if LP[LP_PINNED] != 0 else 0
    e = _dequeue(H, q, n, LP)
    if e >= 0:
        hv_run(p, e, t, I, F, G, P, LP, H, TF, TI, rng)
    else:
        _acct_switch(p, NOBODY, t, H)
        tm_clear(TF, TI, H[HV_PSLOT] + p)


@njit(**INNER)
def hv_make_ready(e, t, I, F, G, P, LP, H, TF, TI, rng):
    """Entity e is runnable at t: run it on an idle pCPU it may use, else queue it."""
    if LP[LP_HV] == 0:
        hv_resume(e, t, I, F, G, P, TF, TI)  # dedicated pCPU: always free for its vCPU
        return
    n = I.shape[0]
    if LP[LP_PINNED] != 0:
        p = _home_queue(e, n, LP)
        if H[HV_CUR + p] < 0:
            hv_run(p, e, t, I, F, G, P, LP, H, TF, TI, rng)
            return
        _enqueue(H, p, e, n, LP, t)
        return
    p = _idle_pcpu(H, LP)
    if p >= 0:
        hv_run(p, e, t, I, F, G, P, LP, H, TF, TI, rng)
        return
    _enqueue(H, ZERO, e, n, LP, t)


@njit(**INNER)
def hv_quantum_end(p, t, I, F, G, P, LP, H, TF, TI, rng):
    """Quantum end on pCPU p: the next queued entity (if any) takes the pCPU (a fair
    scheduler: the host tick, fs_tick)."""
    if H[HP_SCHED] != SCHED_RR:
        fs_tick(p, t, I, F, G, P, LP, H, TF, TI)
        return
    n = I.shape[0]
    q = p if LP[LP_PINNED] != 0 else 0
    e2 = _dequeue(H, q, n, LP)
    if e2 < 0:  # nobody waiting: the current entity runs another quantum
        tm_set(TF, TI, H[HV_PSLOT] + p, t + draw_time(P[P_QUANTUM], P[P_QUANTUM_EXP], rng))
        return
    if H[cpu(H, p, HC_NEXT)] == e2:  # a directed yield's resched: the preempted entity
        _preempt_current(p, q, t, I, F, G, P, TF, TI, H, LP)  # runs next (head)
    else:
        e = H[HV_CUR + p]
        if e >= 0:
            if e < n:
                hv_preempt(e, t, I, F, G, P, TF, TI, H)
            _enqueue(H, q, e, n, LP, t)
    hv_run(p, e2, t, I, F, G, P, LP, H, TF, TI, rng)


@njit(**INNER)
def _shuffled_entities(H, tot, rng):
    """Entities 0..tot-1 in random order (Fisher-Yates) in H's scratch (no allocation in
    a kernel); returns where the order starts."""
    order = H[HV_SCR]
    for k in range(tot):
        H[order + k] = k
    for k in range(tot - 1, 0, -1):
        j = bounded_int(rng, 0, k + 1)
        H[order + k], H[order + j] = H[order + j], H[order + k]
    return order


@njit(**INNER)
def hv_init(I, F, G, P, LP, H, TF, TI, rng):
    """Start the schedule at t = 0: every pCPU runs a random one of its entities with a
    random phase of its first quantum; the rest queue in random order."""
    n = I.shape[0]
    for v in range(n):
        F[v, F_STASH] = -1.0
        F[v, F_OFF_T0] = -1.0
        F[v, F_KICK_T] = -1.0
        F[v, F_PLE_WIN] = P[P_PLE_WINDOW]
        I[v, GUEST_PREEMPTED] = 0 if H[HP_SCHED] == SCHED_RR else 1
    if LP[LP_HV] == 0:
        return
    if H[HP_SCHED] != SCHED_RR:
        fs_init(I, F, G, P, LP, H, TF, TI, rng)
        return
    npc = LP[LP_NPCPU]
    tot = n + LP[LP_NBG]
    order = _shuffled_entities(H, tot, rng)
    for k in range(tot):
        e = H[order + k]
        if e < n:
            # not on a pCPU yet: its start timer waits until it gets one
            I[e, VSTATE] = VS_READY
            F[e, F_STASH] = TF[e] if TF[e] < INF else -1.0
            tm_clear(TF, TI, e)
            F[e, F_OFF_T0] = 0.0
        hv_make_ready(e, 0.0, I, F, G, P, LP, H, TF, TI, rng)
    for p in range(npc):  # random phase: the first quantum is a uniform part of one
        if H[HV_CUR + p] >= 0:
            tm_set(TF, TI, H[HV_PSLOT] + p,
                   uniform(rng) * draw_time(P[P_QUANTUM], P[P_QUANTUM_EXP], rng))


@njit(**INNER)
def hv_halt(v, t, I, F, G, P, LP, H, TF, TI, rng):
    """``act_halt``: HLT. Returns at once (after the exit/entry cost) if the latch holds
    a kick; otherwise the vCPU is halted until a kick or an interrupt wakes it."""
    site = I[v, A_VAL]
    I[v, PC] = I[v, A_NEXT]
    I[v, MODE] = M_RUN
    if LP[LP_LATCH] != 0 and I[v, LATCH] != 0 and site != HALT_IDLE:
        I[v, LATCH] = 0
        G[G_LATCH_HITS] += 1
        tm_set(TF, TI, v, t + P[P_HALT_NS])
        return
    I[v, LATCH] = 0
    G[G_HALT0 + site] += 1
    if site != HALT_IDLE:  # (an idle HLT the latch ends at once is simply executed again)
        H[ent(H, v, HE_NHALT)] += 1
    I[v, HALT_SITE] = site
    I[v, VSTATE] = VS_HALTED
    I[v, MODE] = M_HALTED
    F[v, F_OFF_T0] = t
    F[v, F_STASH] = P[P_HALT_NS]  # the VM exit/entry, paid when it runs again
    if site == HALT_IDLE:
        # the guest's idle HLT through a sleeping think time: its timer interrupt wakes it
        I[v, WAKE_PENDING] = WAKE_IRQ
        tm_set(TF, TI, v, t + F[v, F_DELAY])
    elif P[P_SPURIOUS_NS] > 0.0:
        I[v, WAKE_PENDING] = WAKE_IRQ
        tm_set(TF, TI, v, t + exponential(rng, P[P_SPURIOUS_NS]))
    else:
        I[v, WAKE_PENDING] = WAKE_NONE
        G[G_BLOCKED] += 1
    if LP[LP_HV] != 0:
        if H[HP_SCHED] != SCHED_RR:
            fs_halt(v, t, I, F, G, P, LP, H, TF, TI)
        else:
            hv_release(I[v, PCPU], t, I, F, G, P, LP, H, TF, TI, rng)


@njit(**INNER)
def hv_kick(v, t, I, F, G, P, LP, H, TF, TI, rng):
    """``act_kick``: the KVM_HC_KICK_CPU hypercall from v to ``A_VAL``."""
    u = I[v, A_VAL]
    I[v, PC] = I[v, A_NEXT]
    I[v, MODE] = M_RUN
    tm_set(TF, TI, v, t + P[P_KICK_NS])
    G[G_KICKS] += 1
    H[ent(H, v, HE_NKICK)] += 1
    fair = LP[LP_HV] != 0 and H[HP_SCHED] != SCHED_RR
    if I[u, VSTATE] == VS_HALTED and I[u, WAKE_PENDING] != WAKE_KICK:
        lat = P[P_WAKE_NS]
        if fair:  # the kick -> running latency depends on where the target is
            if H[ent(H, u, HE_POLLING)] != 0:
                lat = float(H[HP_WAKE_POLL])
            else:
                q = select_cpu(H, u)
                idle = H[HV_CUR + q] < 0 and H[cpu(H, q, HC_NR)] == 0
                lat = float(H[HP_WAKE_IDLE] if idle else H[HP_WAKE_ENQ])
        tw = t + draw_time(lat, P[P_WAKE_EXP], rng)
        if I[u, WAKE_PENDING] == WAKE_NONE:
            G[G_BLOCKED] -= 1
        if I[u, WAKE_PENDING] == WAKE_NONE or tw < TF[u]:
            I[u, WAKE_PENDING] = WAKE_KICK
            tm_set(TF, TI, u, tw)
        I[u, KICK_SEQ] = I[u, ACQ_SEQ]
        F[u, F_KICK_T] = t
    else:
        G[G_KICK_NOHALT] += 1
        if I[u, IN_ACQ] == 0:
            G[G_KICK_STALE] += 1
        if LP[LP_LATCH] != 0:
            I[u, LATCH] = 1
    if fair and H[HP_KICK_YIELD] != 0 and H[cpu(H, I[v, PCPU], HC_NR)] > 0:
        # 5.3+ KVM_HC_KICK_CPU -> kvm_sched_yield (266e85a5): unless the kicker's thread
        # is alone on its pCPU, it yields to the kicked vCPU. kvm_vcpu_kick woke the
        # target inside the hypercall, so a blocked target is runnable at once here.
        if I[u, VSTATE] == VS_HALTED and H[ent(H, u, HE_POLLING)] == 0:
            tm_clear(TF, TI, u)
            _wake_account(u, t, I, F, G)
            _poll_adjust(u, t, H)
            _fs_enqueue_wake(u, t, I, F, G, P, LP, H, TF, TI)
        if I[u, VSTATE] == VS_READY and I[v, VSTATE] == VS_RUNNING:
            if fs_yield_to(v, u, t, I, F, G, P, LP, H, TF, TI) > 0:
                fs_schedule(I[v, PCPU], t, OFF_YIELD, I, F, G, P, LP, H, TF, TI)


@njit(**INNER, forceinline=True)
def _wake_account(v, t, I, F, G):
    """Halted vCPU v is runnable again at t (its kick landed or an interrupt came)."""
    n = I.shape[0]
    if I[v, WAKE_PENDING] == WAKE_KICK:
        G[G_WAKE_KICKED] += 1
        if I[v, IN_ACQ] == 0 or I[v, ACQ_SEQ] != I[v, KICK_SEQ]:
            G[G_KICK_STALE] += 1
    else:
        G[G_SPURIOUS] += 1
        F[v, F_KICK_T] = -1.0
    I[v, WAKE_PENDING] = WAKE_NONE
    F[n, GF_BLOCKED_NS] += t - F[v, F_OFF_T0]
    I[v, MODE] = M_RUN
    I[v, VSTATE] = VS_READY


@njit(**INNER, forceinline=True)
def _preempt_current(p, q, t, I, F, G, P, TF, TI, H, LP):
    """Whatever runs on pCPU p is preempted to the head of queue q (its run queue)."""
    n = I.shape[0]
    e = H[HV_CUR + p]
    if e >= 0:
        if e < n:
            hv_preempt(e, t, I, F, G, P, TF, TI, H)
        _push_front(H, q, e, n, LP, t)
    return e


@njit(**INNER, forceinline=True)
def _wake_preempt(v, t, I, F, G, P, LP, H, TF, TI, rng):
    """CFS ``check_preempt_wakeup`` -> ``resched_curr``: the woken vCPU v runs at once,
    preempting the entity on its pCPU (pinned: its home pCPU; free: an idle pCPU if any,
    else the first pCPU running a background vCPU, else it queues). The preempted entity
    goes to the head of its queue. The model preempts whenever it can: a vCPU that has
    slept is placed at ``min_vruntime - sched_latency / 2`` (``place_entity``), far more
    than ``sched_wakeup_granularity`` behind a busy entity. Also the wake-up of a
    directed yield's next buddy (``DY_NEXT``)."""
    n = I.shape[0]
    npc = LP[LP_NPCPU]
    if LP[LP_PINNED] != 0:
        p = _home_queue(v, n, LP)
        q = p
    else:
        q = 0
        p = _idle_pcpu(H, LP)
        if p >= 0:
            hv_run(p, v, t, I, F, G, P, LP, H, TF, TI, rng)
            return
        for k in range(npc):
            if H[HV_CUR + k] >= n:
                p = k
                break
        if p < 0:
            _enqueue(H, ZERO, v, n, LP, t)
            return
    if _preempt_current(p, q, t, I, F, G, P, TF, TI, H, LP) >= 0:
        G[G_WAKE_PREEMPTS] += 1
    hv_run(p, v, t, I, F, G, P, LP, H, TF, TI, rng)


@njit(**INNER)
def hv_wake(v, t, I, F, G, P, LP, H, TF, TI, rng):
    """The timer of a halted vCPU fired: a kick landed or an interrupt came. It runs at
    once with wake-up preemption, or if a directed yield made it the next buddy while
    its kick was on its way (``DY_NEXT``); otherwise it waits for a pCPU."""
    _wake_account(v, t, I, F, G)
    if LP[LP_HV] != 0 and H[HP_SCHED] != SCHED_RR:
        fs_wake(v, t, I, F, G, P, LP, H, TF, TI)
        return
    if LP[LP_HV] != 0 and (LP[LP_WAKEUP_PREEMPT] != 0 or I[v, DY_NEXT] != 0):
        I[v, DY_NEXT] = 0
        _wake_preempt(v, t, I, F, G, P, LP, H, TF, TI, rng)
    else:
        I[v, DY_NEXT] = 0
        hv_make_ready(v, t, I, F, G, P, LP, H, TF, TI, rng)


# ---- pause-loop exiting and directed yield -------------------------------------------

@njit(**INNER)
def hv_ple_exit(v, t, I, F, G, P, TF, TI):
    """v has been parked on its pCPU for its whole PLE window: the PAUSE-loop exit
    (``handle_pause``). Its iterations so far count (they were executed); it stops
    watching its line (it is in the hypervisor, not spinning) and spends the exit cost
    in ``M_PLE`` on its pCPU, then ``hv_on_spin`` decides. ``grow_ple_window`` comes
    first in ``handle_pause``: the window is multiplied by ``ple_window_grow``, capped."""
    I[v, ITERS] += int((t - F[v, F_PARK_T0]) / F[v, F_ITER])
    I[v, WATCH] = -1
    I[v, MODE] = M_PLE
    I[v, PLE_LOOP] = 0  # back in the guest after the exit: a new PAUSE loop
    G[G_PLE_EXITS] += 1
    I[v, PLE_N] += 1
    w = F[v, F_PLE_WIN] * P[P_PLE_GROW]
    F[v, F_PLE_WIN] = w if w < P[P_PLE_MAX] else P[P_PLE_MAX]
    tm_set(TF, TI, v, t + P[P_PLE_EXIT])


@njit(**INNER, forceinline=True)
def _yield_pcpu(s, t, I, F, TF, TI):
    """Spinner s leaves its pCPU after ``yield_to`` (``schedule()`` with s as the skip
    buddy): runnable, not running; it re-reads its spin word when it is back."""
    I[s, VSTATE] = VS_READY
    I[s, MODE] = M_REREAD
    F[s, F_OFF_T0] = t
    F[s, F_STASH] = 0.0
    tm_clear(TF, TI, s)


@njit(**INNER, forceinline=True)
def _boost(u, s, t, I, F, G, P, LP, H, TF, TI, rng):
    """``kvm_vcpu_yield_to(u)`` from spinner s -> ``yield_to(task, 1)``: u runs next.
    u on another pCPU's queue (pinned): u goes to the head of that queue and that pCPU
    reschedules to it ``P_RESCHED`` later (``resched_curr``: the IPI, the exit of the
    vCPU there), the entity there going back to the head behind u; then s's own
    ``schedule()`` gives s's pCPU to the next entity of s's queue if there is one. u on
    s's queue (pinned to s's pCPU, or free placement's single queue): s and u exchange
    places (u runs for the rest of s's quantum, s waits where u waited).
    A halted u whose kick is on its way (KVM: its PV-unhalted flag is set, so it counts
    as runnable) becomes the *next buddy*: it runs at once, preempting, when its kick
    lands (``DY_NEXT``, ``hv_wake``), not earlier: ``wake_ns`` is the model's kick ->
    runnable time (IPI, wake-up, a pCPU leaving idle), which a yield does not shorten.
    Returns True if s keeps its pCPU (goes back to spinning)."""
    n = I.shape[0]
    G[G_DYIELDS] += 1
    H[ent(H, s, HE_NYIELD)] += 1
    I[u, BOOSTED] += 1
    if I[u, VSTATE] == VS_HALTED:
        G[G_DY_KICKED] += 1
        I[u, DY_NEXT] = 1
        if LP[LP_HV] == 0:
            return True
    else:
        if LP[LP_HV] == 0:  # dedicated pCPUs: nobody is ever runnable but not running
            G[G_STATUS] = ST_BAD_STATE
            return True
        qu = _home_queue(u, n, LP)
        if LP[LP_PINNED] == 0 or qu == I[s, PCPU]:  # same run queue: s hands over its pCPU
            # The round robin's directed yield is an exchange: u runs for the rest of s's
            # quantum and s waits in u's place in the queue. A fresh quantum per hand-over
            # let two spinners of one queue pass the pCPU back and forth for ever past the
            # vCPU at its head; s going to the tail instead moved a yielding VM's vCPUs
            # behind always-busy co-tenants, round after round (it lost its share).
            if not _replace(H, qu, u, s, n, LP):
                G[G_STATUS] = ST_BAD_STATE  # a runnable, not running vCPU is always queued
                return True
            ps = I[s, PCPU]
            _yield_pcpu(s, t, I, F, TF, TI)
            _acct_wait(H, s, t)
            _switch_in(ps, u, t, I, F, G, P, H, TF, TI)
            return False
        if not _remove(H, qu, u, n, LP):
            G[G_STATUS] = ST_BAD_STATE  # a runnable, not running vCPU is always queued
            return True
        # resched_curr(p_rq) is a reschedule IPI: u waits at the head of its queue, and
        # its pCPU switches to it (the entity there back to the head behind it) when the
        # IPI has landed and the vCPU running there has exited, P_RESCHED from now: an
        # early quantum end (hv_quantum_end). Switching at once gave a vCPU that had
        # just been handed that pCPU no time at all when several spinners' PLE exits
        # ended together, and the one woken queue head never ran again.
        _push_front(H, qu, u, n, LP, t)
        H[cpu(H, qu, HC_NEXT)] = u
        if TF[H[HV_PSLOT] + qu] > t + P[P_RESCHED]:
            tm_set(TF, TI, H[HV_PSLOT] + qu, t + P[P_RESCHED])
    ps = I[s, PCPU]
    qs = ps if LP[LP_PINNED] != 0 else 0
    e = _dequeue(H, qs, n, LP)
    if e < 0:
        return True  # nobody else on s's run queue: schedule() picks s again
    _yield_pcpu(s, t, I, F, TF, TI)
    _enqueue(H, qs, s, n, LP, t)
    _switch_in(ps, e, t, I, F, G, P, H, TF, TI)  # (the rest of s's quantum, as above)
    return False


@njit(**INNER)
def hv_on_spin(v, t, I, F, G, P, LP, H, TF, TI, rng):
    """End of v's PLE exit: ``kvm_vcpu_on_spin``. Scan the VM's other vCPUs round-robin
    from ``last_boosted_vcpu + 1`` (wrapping, as the kernel's two passes do) for one that
    is runnable but not running: preempted or woken and waiting in a run queue
    (``VS_READY``), or halted with a kick pending (``kvm_arch_vcpu_runnable``: the
    PV-unhalted flag). Never a background vCPU (another VM), never a running one, never
    a halted one without a kick. The first found is boosted (``_boost``) and becomes
    ``last_boosted_vcpu``. Returns True if v goes back to spinning on its pCPU. Under a
    fair scheduler: fs_on_spin."""
    if H[HP_SCHED] != SCHED_RR:
        return fs_on_spin(v, t, I, F, G, P, LP, H, TF, TI)
    n = I.shape[0]
    u = G[G_LAST_BOOSTED]
    for _ in range(n):
        u += 1  # (last + k) % n, without a division per candidate
        if u >= n:
            u = 0
        if u == v or I[u, VM] != I[v, VM]:  # other VMs' vCPUs are never candidates
            continue
        vs = I[u, VSTATE]
        if vs == VS_READY or (vs == VS_HALTED and I[u, WAKE_PENDING] == WAKE_KICK):
            G[G_LAST_BOOSTED] = u
            return _boost(u, v, t, I, F, G, P, LP, H, TF, TI, rng)
    return True


# ---- steal-time "preempted" flag ------------------------------------------------------

@njit(cache=True, _nrt=False, forceinline=True)
def hv_vcpu_preempted(u, I, F):
    """``vcpu_is_preempted(u)`` as a KVM guest reads it (``kvm_vcpu_is_preempted``: the
    ``preempted`` byte of u's steal-time area). KVM sets it in ``kvm_arch_vcpu_put``
    only when ``vcpu->preempted``, i.e. when the vCPU thread was scheduled out while
    running (``kvm_sched_out`` with the task still ``TASK_RUNNING``), and clears it at
    the next guest entry (``record_steal_time``). Here: u is off its pCPU but runnable
    (``VS_READY``) and was not woken by a kick it has not yet run after (``F_KICK_T``
    set: a halted vCPU blocked in ``kvm_vcpu_block``, so its flag was never set). Two
    cases read as preempted although KVM's flag is clear: a vCPU woken by an interrupt
    (spurious wake-up) that waits for a pCPU, and, at the start of a run, a vCPU that
    has not had a pCPU yet. With dedicated pCPUs (``LP_HV == 0``) no vCPU is ever
    ``VS_READY``, so this is always false, as in KVM."""
    g = I[u, GUEST_PREEMPTED]
    if g != 0:  # a fair host scheduler keeps the byte as its KVM era writes it (2: set)
        return g == 2
    return I[u, VSTATE] == VS_READY and F[u, F_KICK_T] < 0.0


# ---- fair host schedulers (CFS, EEVDF): carrying out fair.py's decisions --------------
# Integer arguments passed as numpy scalars: numba compiles a function once per *literal*
# value a call site passes (fs_schedule was compiled four times, once per ``how``), so
# constants handed to jitted functions are np.int64, which types as plain int64.
NOBODY = np.int64(-1)
ZERO = np.int64(0)
ONE = np.int64(1)
TWO = np.int64(2)
INVOLUNTARY = np.int64(1)
VOLUNTARY = np.int64(0)
# How an entity leaves its pCPU while still runnable (fs_schedule's ``how``)
OFF_PREEMPT = np.int64(0)  # involuntary: a tick, a wake-up preemption, a remote resched
OFF_PLE_YIELD = np.int64(1)  # the spinner yields inside its PLE exit (kvm_vcpu_on_spin)
OFF_YIELD = np.int64(2)  # a voluntary yield elsewhere (kvm_sched_yield after a kick)
OFF_BLOCKED = np.int64(3)  # the running entity blocked (halted, finished): it is not runnable


@njit(**INNER)
def _fs_tick_arm(p, t, H, TF, TI):
    """Arm pCPU p's tick at the next multiple of the tick period (its phase) after t."""
    tick = H[HP_TICK]
    ph = H[cpu(H, p, HC_TICK0)]
    k = (int(t) - ph) // tick + 1
    tm_set(TF, TI, H[HV_PSLOT] + p, float(ph + k * tick))


@njit(**INNER)
def _guest_flag(v, I, H, involuntary):
    """The preempted byte KVM writes at vcpu_put for a vCPU leaving its pCPU:
    HP_PREEMPT_FLAG 0 (before 4.10): never; 1 (4.10-5.x): at every vcpu_put, halts
    included; 2 (6.1+): only for an involuntary preemption at an interrupt exit."""
    mode = H[HP_PREEMPT_FLAG]
    if mode == 1 or (mode == 2 and involuntary):
        I[v, GUEST_PREEMPTED] = 2


@njit(**INNER)
def _fs_start(p, e, t, I, F, G, P, H, TF, TI):
    """pCPU p starts running e (taken out of its queue by the caller)."""
    n = I.shape[0]
    _acct_switch(p, e, t, H)
    H[ent(H, e, HE_PARITY)] = 1  # set_next_entity: "same slice" for RUN_TO_PARITY
    clear_buddies(H, p, e)
    if e < n:
        I[e, PCPU] = p
        H[ent(H, e, HE_KPRE)] = 0  # kvm_sched_in clears preempted and ready
        H[ent(H, e, HE_INSPIN)] = 0
        I[e, GUEST_PREEMPTED] = 1  # record_steal_time clears it at the next entry
        hv_resume(e, t, I, F, G, P, TF, TI)
    if TF[H[HV_PSLOT] + p] == INF:
        _fs_tick_arm(p, t, H, TF, TI)


@njit(**INNER)
def _fs_off(c, t, how, I, F, G, P, TF, TI, H):
    """Runnable entity c leaves its pCPU at t (``how``: OFF_*)."""
    n = I.shape[0]
    if c >= n:
        return
    H[ent(H, c, HE_KPRE)] = 1  # kvm_sched_out with the thread still runnable
    if how == OFF_PREEMPT:
        hv_preempt(c, t, I, F, G, P, TF, TI, H)
        _guest_flag(c, I, H, INVOLUNTARY)
    elif how == OFF_PLE_YIELD:
        H[ent(H, c, HE_INSPIN)] = 1  # it sleeps inside kvm_vcpu_on_spin
        _yield_pcpu(c, t, I, F, TF, TI)
        _guest_flag(c, I, H, VOLUNTARY)
    else:
        # like a preemption (its pending timer is stashed), without being one
        I[c, VSTATE] = VS_READY
        F[c, F_OFF_T0] = t
        if TF[c] < INF:
            F[c, F_STASH] = TF[c] - t
            tm_clear(TF, TI, c)
        else:
            F[c, F_STASH] = -1.0
        _guest_flag(c, I, H, VOLUNTARY)


@njit(**INNER)
def fs_schedule(p, t, how, I, F, G, P, LP, H, TF, TI):
    """schedule() on pCPU p at t: pick the next entity (fair.pick_next); if it is not the
    running one, the running one leaves (``how``) and, if still runnable, queues. An
    idle pCPU pulls a waiting thread it may run (newidle_balance)."""
    c = H[HV_CUR + p]
    nx = pick_next(H, p)
    if nx == c and c >= 0:
        return
    if c >= 0 and H[ent(H, c, HE_ONRQ)] != 0:
        _fs_off(c, t, how, I, F, G, P, TF, TI, H)
        rq_add(H, p, c, int(t))
    if nx < 0:
        e = steal_candidate(H, p, int(t), ONE)
        if e >= 0:
            migrate(H, e, H[ent(H, e, HE_CPU)], p)
            nx = e
    if nx >= 0:
        rq_del(H, p, nx)
        _fs_start(p, nx, t, I, F, G, P, H, TF, TI)
        return
    _acct_switch(p, NOBODY, t, H)
    tm_clear(TF, TI, H[HV_PSLOT] + p)


@njit(**INNER)
def _fs_block(p, t, I, F, G, P, LP, H, TF, TI):
    """The entity running on p blocks at t (a halt without polling, the end of a poll,
    a finished task): dequeue_entity, then schedule()."""
    c = H[HV_CUR + p]
    update_curr(H, p, int(t))
    save_lag(H, p, c)
    H[ent(H, c, HE_ONRQ)] = 0
    clear_buddies(H, p, c)  # dequeue_entity: __clear_buddies
    H[vmr(H, H[ent(H, c, HE_VM)], HVM_NRUN)] -= 1
    H[ent(H, c, HE_POLLING)] = 0
    _guest_flag(c, I, H, VOLUNTARY)
    fs_schedule(p, t, OFF_BLOCKED, I, F, G, P, LP, H, TF, TI)


@njit(**INNER)
def _fs_enqueue_wake(e, t, I, F, G, P, LP, H, TF, TI):
    """try_to_wake_up of e at t: select_task_rq_fair, place_entity, enqueue, and
    check_preempt_wakeup against whatever runs there (a polling vCPU there stops polling:
    need_resched)."""
    ti = int(t)
    H[ent(H, e, HE_ONRQ)] = 1
    H[vmr(H, H[ent(H, e, HE_VM)], HVM_NRUN)] += 1
    prev = H[ent(H, e, HE_CPU)]
    p = select_cpu(H, e)
    if p != prev and H[HP_SCHED] != SCHED_EEVDF:
        H[ent(H, e, HE_VRUN)] += H[cpu(H, p, HC_MINV)] - H[cpu(H, prev, HC_MINV)]
        H[ent(H, e, HE_NMIGRATE)] += 1
    place_entity(H, p, e)
    c = H[HV_CUR + p]
    rq_add(H, p, e, ti)
    if c < 0:
        rq_del(H, p, e)
        _fs_start(p, e, t, I, F, G, P, H, TF, TI)
        return
    if c < I.shape[0] and H[ent(H, c, HE_POLLING)] != 0:
        _fs_block(p, t, I, F, G, P, LP, H, TF, TI)  # the poller blocks; e is picked
        return
    if LP[LP_WAKEUP_PREEMPT] != 0 and wake_preempts(H, p, e, ti):
        fs_schedule(p, t, OFF_PREEMPT, I, F, G, P, LP, H, TF, TI)
        if H[HV_CUR + p] == e:
            G[G_WAKE_PREEMPTS] += 1
            H[ent(H, e, HE_NWAKEPRE)] += 1


@njit(cache=True, _nrt=False)
def _poll_adjust(v, t, H):
    """KVM's halt-poll window update after a halt of v ended at t (grow_halt_poll_ns /
    shrink_halt_poll_ns; every wake-up here is a valid one)."""
    mx = H[HP_POLL_MAX]
    if mx <= 0:
        return
    halt_ns = int(t) - H[ent(H, v, HE_HALT0)]
    poll = H[ent(H, v, HE_POLL)]
    if halt_ns <= poll:
        return
    if poll != 0 and halt_ns > mx:
        sh = H[HP_POLL_SHRINK]
        val = 0 if sh == 0 else poll // sh
        if val < H[HP_POLL_START]:
            val = 0
        H[ent(H, v, HE_POLL)] = val
    elif poll < mx and halt_ns < mx:
        val = poll * H[HP_POLL_GROW]
        if val < H[HP_POLL_START]:
            val = H[HP_POLL_START]
        H[ent(H, v, HE_POLL)] = val if val < mx else mx


@njit(**INNER)
def fs_halt(v, t, I, F, G, P, LP, H, TF, TI):
    """A halted vCPU under a fair scheduler: it polls on its pCPU for its halt_poll_ns
    while nothing else is runnable there (single_task_running), else it blocks."""
    p = I[v, PCPU]
    H[ent(H, v, HE_HALT0)] = int(t)
    poll = H[ent(H, v, HE_POLL)]
    if H[HP_POLL_MAX] > 0 and poll > 0 and H[cpu(H, p, HC_NR)] == 0:
        H[ent(H, v, HE_POLLING)] = 1
        tm_set(TF, TI, H[HV_PSLOT] + p, t + poll)  # the poll's end, on the pCPU's timer
        return
    _fs_block(p, t, I, F, G, P, LP, H, TF, TI)


@njit(**INNER)
def fs_wake(v, t, I, F, G, P, LP, H, TF, TI):
    """Halted v's wake-up (kick or interrupt) at t: a polling vCPU goes on on its pCPU
    without a schedule; a blocked one is woken (try_to_wake_up)."""
    _poll_adjust(v, t, H)
    if H[ent(H, v, HE_POLLING)] != 0:
        p = I[v, PCPU]
        H[ent(H, v, HE_POLLING)] = 0
        H[ent(H, v, HE_NPOLL_OK)] += 1
        I[v, VSTATE] = VS_RUNNING
        F[v, F_OFF_T0] = -1.0
        if F[v, F_KICK_T] >= 0.0:
            F[I.shape[0], GF_WAKE_LAT] += t - F[v, F_KICK_T]
            F[v, F_KICK_T] = -1.0
        if I[v, IPI_PEND] > 0:  # it runs again without hv_resume: handle its IPIs here
            hv_ipi_ack(v, t, I, F, TF, TI)
        if F[v, F_STASH] >= 0.0:
            tm_set(TF, TI, v, t + F[v, F_STASH])
            F[v, F_STASH] = -1.0
        tm_clear(TF, TI, H[HV_PSLOT] + p)
        _fs_tick_arm(p, t, H, TF, TI)
        return
    _fs_enqueue_wake(v, t, I, F, G, P, LP, H, TF, TI)


@njit(**INNER)
def fs_tick(p, t, I, F, G, P, LP, H, TF, TI):
    """pCPU p's timer at t: the end of a halt poll, or the host tick (update_curr and
    check_preempt_tick / update_deadline; every HP_BALANCE a periodic balance pull)."""
    n = I.shape[0]
    c = H[HV_CUR + p]
    if c < 0:
        return
    if c < n and H[ent(H, c, HE_POLLING)] != 0:
        _fs_block(p, t, I, F, G, P, LP, H, TF, TI)  # polled the whole window: block
        return
    ti = int(t)
    if tick_resched(H, p, ti):
        fs_schedule(p, t, OFF_PREEMPT, I, F, G, P, LP, H, TF, TI)
    if H[HP_BALANCE] > 0 and ti >= H[cpu(H, p, HC_BAL)]:
        H[cpu(H, p, HC_BAL)] = ti + H[HP_BALANCE]
        e = steal_candidate(H, p, ti, TWO)
        if e >= 0:
            migrate(H, e, H[ent(H, e, HE_CPU)], p)
    if H[HV_CUR + p] >= 0:
        _fs_tick_arm(p, t, H, TF, TI)


@njit(**INNER)
def fs_yield_to(s, u, t, I, F, G, P, LP, H, TF, TI):
    """``yield_to(u, preempt=true)`` from the running vCPU s: -1 (-ESRCH: both run queues
    hold one task), 0 (u runs, or is not runnable), 1 (u is next buddy on its queue, s
    the skip buddy, or under EEVDF s's deadline moves a slice on; u's pCPU, if another,
    reschedules). s's own schedule() is the caller's."""
    ps = I[s, PCPU]
    pu = H[ent(H, u, HE_CPU)]
    nr_s = H[cpu(H, ps, HC_NR)] + 1
    nr_u = H[cpu(H, pu, HC_NR)] + (1 if H[HV_CUR + pu] >= 0 else 0)
    if nr_s == 1 and nr_u == 1:
        return -1
    if H[ent(H, u, HE_ONRQ)] == 0 or H[ent(H, u, HE_QPOS)] < 0:
        return 0  # blocked (not TASK_RUNNING) or running on a pCPU
    ti = int(t)
    H[cpu(H, pu, HC_NEXT)] = u  # yield_to_task_fair: set_next_buddy(p)
    if nr_s > 1:  # yield_task_fair
        update_curr(H, ps, ti)
        if H[HP_SCHED] == SCHED_EEVDF:
            H[ent(H, s, HE_DL)] += vdelta(H[HP_SLICE], weight(H, s))
        else:
            clear_buddies(H, ps, s)
            H[cpu(H, ps, HC_SKIP)] = s
    H[ent(H, s, HE_NYIELD)] += 1
    if pu != ps:
        update_curr(H, pu, ti)
        fs_schedule(pu, t, OFF_PREEMPT, I, F, G, P, LP, H, TF, TI)  # resched_curr(p_rq)
    return 1


@njit(**INNER)
def fs_on_spin(v, t, I, F, G, P, LP, H, TF, TI):
    """``kvm_vcpu_on_spin`` at the end of v's PLE exit under a fair scheduler: scan the
    VM's other vCPUs round-robin after ``last_boosted_vcpu`` with the era's candidate
    rules (HP_DY_*), ``yield_to`` the first that passes, three -ESRCH and it gives up;
    then v's schedule(). Returns True if v goes back to spinning on its pCPU."""
    k = H[ent(H, v, HE_VM)]
    v0 = H[vmr(H, k, HVM_V0)]
    nv = H[vmr(H, k, HVM_V1)] - v0
    last = H[vmr(H, k, HVM_LASTB)]
    tries = H[HP_DY_TRIES]
    yielded = False
    idx = last
    for _ in range(nv):
        idx += 1  # (last + j) % nv, without a division per candidate
        if idx >= nv:
            idx = 0
        u = v0 + idx
        if u == v:
            continue
        vs = I[u, VSTATE]
        kicked = vs == VS_HALTED and I[u, WAKE_PENDING] == WAKE_KICK
        if H[HP_DY_READY] != 0:
            if vs != VS_READY and not kicked:  # vcpu->ready (5.3+): preempted or woken
                continue
        elif vs != VS_READY or H[ent(H, u, HE_KPRE)] == 0:
            continue  # vcpu->preempted (3.10-5.2): scheduled out while runnable
        if vs == VS_HALTED and (H[HP_DY_HALTED] == 0 or not kicked):
            continue
        if H[HP_DY_ELIG] != 0 and H[ent(H, u, HE_INSPIN)] != 0:
            # kvm_vcpu_eligible_for_directed_yield: a spinner is eligible every other time
            el = H[ent(H, u, HE_DYELIG)]
            H[ent(H, u, HE_DYELIG)] = 1 - el
            if el == 0:
                continue
        r = fs_yield_to(v, u, t, I, F, G, P, LP, H, TF, TI)
        if r > 0:
            H[vmr(H, k, HVM_LASTB)] = idx
            G[G_DYIELDS] += 1
            I[u, BOOSTED] += 1
            yielded = True
            break
        if r < 0:
            tries -= 1
            if tries == 0:
                break
    if not yielded:
        H[ent(H, v, HE_DYELIG)] = 0
        return True
    p = I[v, PCPU]
    fs_schedule(p, t, OFF_PLE_YIELD, I, F, G, P, LP, H, TF, TI)
    if H[HV_CUR + p] == v:
        H[ent(H, v, HE_INSPIN)] = 0
        H[ent(H, v, HE_DYELIG)] = 0
        return True
    return False


@njit(**INNER)
def fs_init(I, F, G, P, LP, H, TF, TI, rng):
    """t = 0 under a fair scheduler: entities in random order go to an idle allowed pCPU,
    else the allowed one with the fewest (fork balancing); each pCPU's tick gets a
    random phase; EEVDF deadlines one slice ahead."""
    n = I.shape[0]
    npc = H[HP_NPCPU]
    tot = H[HV_NENT]
    order = _shuffled_entities(H, tot, rng)
    for p in range(npc):
        H[cpu(H, p, HC_TICK0)] = int(uniform(rng) * H[HP_TICK])
        H[cpu(H, p, HC_BAL)] = H[cpu(H, p, HC_TICK0)] + H[HP_BALANCE]
    for k in range(tot):
        e = H[order + k]
        H[ent(H, e, HE_DL)] = vdelta(H[HP_SLICE], weight(H, e))
        lo = H[ent(H, e, HE_LO)]
        hi = H[ent(H, e, HE_HI)]
        p = NOBODY
        best = 0
        for q in range(lo, hi):
            ln = H[cpu(H, q, HC_NR)] + (1 if H[HV_CUR + q] >= 0 else 0)
            if p < 0 or ln < best:
                p = q
                best = ln
        if e < n:
            I[e, VSTATE] = VS_READY
            F[e, F_STASH] = TF[e] if TF[e] < INF else -1.0
            tm_clear(TF, TI, e)
            F[e, F_OFF_T0] = 0.0
        if H[HV_CUR + p] < 0:
            _fs_start(p, e, 0.0, I, F, G, P, H, TF, TI)
        else:
            rq_add(H, p, e, ZERO)


# ---- synchronous IPIs: the target's side (the sender's is engine/ipi.py) ---------------

@njit(**INNER)
def hv_ipi_ack(u, t, I, F, TF, TI):
    """vCPU u is back on a pCPU at t with synchronous IPIs sent to it while it was off
    (preempted, or halted in the lock code and woken by the IPI): the pending interrupt is
    injected at this VM entry, so its handler (``F_IPI_H``) runs first: whatever u was
    doing is postponed by that time (its stashed timer), and each sender waiting for u
    gets u's ack at ``t + handler``. A sender whose last ack this is sees it then: its
    timer is set to its latest ack (if it is itself off its pCPU, the timer fires there
    and it goes on when it runs again, like any event of a descheduled vCPU)."""
    h = F[u, F_IPI_H]
    ack = t + h
    if F[u, F_STASH] >= 0.0:
        F[u, F_STASH] += h
    w = IPI_MASK0 + (u >> 6)
    bit = np.int64(1) << (u & 63)
    for s in range(I.shape[0]):
        if I[u, IPI_PEND] <= 0:
            break
        if I[s, IPI_WAIT] > 0 and (I[s, w] & bit) != 0:
            I[s, w] &= ~bit
            I[u, IPI_PEND] -= 1
            I[s, IPI_WAIT] -= 1
            if F[s, F_IPI_DONE] < ack:
                F[s, F_IPI_DONE] = ack
            if I[s, IPI_WAIT] == 0:
                tm_set(TF, TI, s, F[s, F_IPI_DONE])
