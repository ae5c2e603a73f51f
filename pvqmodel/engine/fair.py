"""Fair host scheduling: CFS and EEVDF run queues of vCPU threads, one per pCPU.

Owns the host scheduler's *policy* and its state in ``H``: per entity (a vCPU thread of
any VM: the lock-running vCPUs 0..n-1, then the CPU-bound ones) its VM, allowed pCPUs,
vruntime, EEVDF deadline and lag, run and wait accounting; per pCPU its run queue (the
entities waiting, not the one running), ``min_vruntime`` and buddies; per VM its
runnable count, cgroup shares and KVM's ``last_boosted_vcpu``. The functions here decide
(who runs next, whether a tick or a wake-up preempts, where a waking thread goes, what
``yield_to`` does) and keep the accounting; hypervisor.py carries the decisions out on
the vCPUs (stashing and re-arming their timers). Integer nanoseconds throughout, as the
kernel's ``u64`` clocks. What each policy keeps and simplifies
(host-scheduling.md §1, §2, §2.7):

* **CFS** (``LP_SCHED == SCHED_CFS``, kernel 3.x-6.5 ``fair.c``): ``update_curr`` advances
  ``vruntime`` by ``delta * NICE_0_LOAD / weight``; ``pick_next_entity``: the leftmost,
  the second if the leftmost is the skip buddy and the second is within
  ``wakeup_gran``, the next buddy if within ``wakeup_gran`` of the leftmost;
  ``check_preempt_tick`` at each host tick (``HZ``: no HRTICK), slice ``sched_slice`` =
  ``period * w / W`` with ``period`` = ``sched_latency`` up to ``sched_nr_latency``
  entities, else ``nr * min_granularity``; ``place_entity`` on wake-up with the sleeper
  credit; ``check_preempt_wakeup`` against whatever runs (siblings included) with
  ``wakeup_gran`` in the wakee's virtual time; ``yield_task_fair`` (skip buddy) and
  ``yield_to_task_fair`` (next buddy on the target's queue, ``resched_curr`` of its pCPU).
  The last buddy is not modelled (``LAST_BUDDY`` applies only from 8 runnable entities up).
* **EEVDF** (``SCHED_EEVDF``, 6.6+): ``avg_vruntime`` V over the queue and the running
  entity, eligibility ``v <= V``, virtual deadline ``v + slice / w`` renewed when crossed
  (then a resched, seen at the tick), ``pick_eevdf`` = the earliest deadline among the
  eligible with ``RUN_TO_PARITY`` (the running entity keeps the pCPU while eligible and
  in the same slice), ``PLACE_LAG`` (the lag saved at dequeue, clamped, inflated by
  ``(W + w) / W``), wake-up preemption iff the wakee is what ``pick_eevdf`` would pick,
  ``yield_task_fair`` pushes the yielder's deadline one slice, and the next buddy of
  ``yield_to`` is honoured only with ``PICK_BUDDY`` (6.13) and only if eligible.
  Not modelled: ``DELAY_DEQUEUE``, ``PREEMPT_SHORT``, ``PLACE_REL_DEADLINE``.
* **Groups** (``LP_GROUPS``; libvirt's one cgroup per VM with equal ``cpu.shares``): the
  two-level hierarchy is flattened: a runnable entity of VM k weighs ``shares_k / R_k``
  (``R_k`` its runnable vCPU threads, at least ``MIN_SHARES``), which is the long-run
  share ``calc_group_shares`` gives a group split across pCPUs by where its threads are,
  with the instantaneous runnable count for PELT's load average. Without groups every
  thread weighs ``NICE_0_LOAD``.
* **Placement and balance**: a waking thread goes to its previous pCPU if idle, else an
  idle allowed pCPU on the same socket, else any idle allowed pCPU, else its previous one
  (``select_task_rq_fair`` with ``select_idle_sibling``; ``wake_affine`` toward the waker
  is not modelled); a pCPU that goes idle pulls the longest-waiting queued thread it may
  run from the busiest queue (``newidle_balance``), and a busy pCPU balances every
  ``balance`` ns (``busy_factor`` x its domain's interval) by pulling one thread from a
  queue two or more longer than its own. ``task_hot`` (a thread that ran within
  ``migration_cost`` resists migration) applies to both pulls.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .sigs import I1, INNER, i8

# ---- H header (int64): where each part of the hypervisor state starts -----------------
HV_PSLOT = 0  # timer slot of pCPU 0's tick / quantum (pCPU p: + p)
HV_SBSLOT = 1  # timer slot of vCPU 0's store buffer (x86-TSO drain)
HV_NENT = 2  # entities: lock-running vCPUs then CPU-bound threads
HV_NVM = 3
HV_EB = 4  # entity records (NHE each)
HV_CB = 5  # pCPU records (NHC each)
HV_VB = 6  # VM records (NHVM each)
HV_QL = 7  # fair run queues: pCPU p's waiting entities at H[H[HV_QL] + p * nent + i]
HV_RRQ = 8  # round-robin queues (head, length per queue, then the rings)
HV_SCR = 9  # scratch (hv_init's shuffle)
# host parameters (integers; times in ns), written by the front-end (sim.py / host.py)
HP_SCHED = 10  # SCHED_RR / SCHED_CFS / SCHED_EEVDF
HP_NPCPU = 11
HP_GROUPS = 12  # 1: one cgroup per VM (flattened group weights)
HP_PARITY = 13  # EEVDF RUN_TO_PARITY
HP_PICKBUDDY = 14  # EEVDF 6.13 PICK_BUDDY: an eligible next buddy is picked
HP_PLACELAG = 15  # EEVDF PLACE_LAG
HP_LATENCY = 16  # CFS sysctl_sched_latency (scaled), ns
HP_MINGRAN = 17  # CFS sysctl_sched_min_granularity (scaled), ns
HP_WAKEGRAN = 18  # CFS sysctl_sched_wakeup_granularity (scaled), ns
HP_SLICE = 19  # EEVDF sysctl_sched_base_slice (scaled), ns
HP_SLEEPER = 20  # CFS sleeper credit (sched_latency / 2 with GENTLE_FAIR_SLEEPERS), ns
HP_TICK = 21  # host tick (1e9 / HZ), ns
HP_MIGCOST = 22  # sysctl_sched_migration_cost (task_hot), ns
HP_BALANCE = 23  # periodic balance interval of a busy pCPU, ns (0: none)
HP_POLL_MAX = 24  # KVM halt_poll_ns (0: no halt polling), ns
HP_POLL_START = 25  # halt_poll_ns_grow_start, ns
HP_POLL_GROW = 26  # halt_poll_ns_grow
HP_POLL_SHRINK = 27  # halt_poll_ns_shrink (0: reset to 0)
HP_WAKE_POLL = 28  # kick -> running for a vCPU that is polling, ns
HP_WAKE_ENQ = 29  # kick -> runnable (queued) for a vCPU blocked while its pCPU is busy, ns
HP_DY_READY = 30  # kvm_vcpu_on_spin candidates: 0 vcpu->preempted (3.10-5.2), 1 ->ready
HP_DY_HALTED = 31  # a halted candidate counts if runnable (kick pending; 3.19+)
HP_DY_ELIG = 32  # kvm_vcpu_eligible_for_directed_yield (3.6+)
HP_DY_TRIES = 33  # -ESRCH tries before giving up (3)
HP_KICK_YIELD = 34  # 5.3+: the kicker yields to the kicked vCPU (kvm_sched_yield)
HP_PREEMPT_FLAG = 35  # guest-visible preempted: 0 none, 1 every vcpu_put, 2 involuntary
HP_WAKE_IDLE = 36  # kick -> running for a vCPU blocked with its pCPU idle, ns
HP_END_NS = 37  # > 0: the run stops at this time (a fixed-duration run), ns
NHP = 38
HV_RRCAP = HP_SCHED + NHP  # slots of each round-robin queue's ring (see hv_alloc)
HV_CUR = HV_RRCAP + 1  # H[HV_CUR + p]: the entity on pCPU p (-1: idle)

# ---- entity record ---------------------------------------------------------------------
HE_VM = 0
HE_CPU = 1  # pCPU it runs on, waits on, or last ran on
HE_LO = 2  # allowed pCPUs [HE_LO, HE_HI) (pinned: one)
HE_HI = 3
HE_ONRQ = 4  # 1: runnable (running or queued)
HE_VRUN = 5  # vruntime, ns of weighted run time
HE_DL = 6  # EEVDF virtual deadline
HE_VLAG = 7  # EEVDF lag saved at dequeue (V - v)
HE_EXEC0 = 8  # update_curr's exec_start, ns
HE_SLICE0 = 9  # sum_exec at pick (prev_sum_exec_runtime: check_preempt_tick)
HE_SUMEX = 10  # run time, ns (sum_exec_runtime)
HE_WAIT0 = 11  # time it became runnable and not running, ns (-1: not waiting)
HE_STEAL = 12  # time runnable and not running, ns (steal time as KVM reports it)
HE_MAXWAIT = 13  # longest single runnable wait, ns
HE_NPREEMPT = 14  # involuntary preemptions
HE_PARITY = 15  # EEVDF RUN_TO_PARITY: 1 while in the slice it was picked for
HE_QPOS = 16  # where it waits (-1: not queued): index in its fair queue, or its ring slot
HE_INSPIN = 17  # KVM in_spin_loop (inside kvm_vcpu_on_spin)
HE_DYELIG = 18  # KVM dy_eligible
HE_POLL = 19  # KVM halt_poll_ns of this vCPU, ns
HE_POLLING = 20  # 1: halted and polling on its pCPU
HE_HALT0 = 21  # time of the halt being polled / blocked, ns
HE_LASTRUN = 22  # time it last stopped running, ns (task_hot)
HE_NMIGRATE = 23  # migrations by the balancer or wake placement
HE_NWAKEPRE = 24  # times its wake-up preempted the running entity
HE_KPRE = 25  # KVM vcpu->preempted: scheduled out while runnable (kvm_sched_out)
HE_NPOLL_OK = 26  # halts that ended while polling (no schedule)
HE_NHALT = 27  # halts that did not return at once (latch)
HE_NKICK = 28  # kick hypercalls it made
HE_NYIELD = 29  # successful directed yields it made (PLE or kick)
NHE = 30

# ---- pCPU record -----------------------------------------------------------------------
HC_NR = 0  # entities waiting in its run queue (the running one excluded)
HC_MINV = 1  # min_vruntime
HC_NEXT = 2  # next buddy (-1 none)
HC_SKIP = 3  # skip buddy
HC_IDLE0 = 4  # time it went idle (-1: busy)
HC_IDLE_NS = 5  # idle time, ns
HC_BAL = 6  # time of its next periodic balance, ns
HC_SOCK = 7  # socket
HC_TICK0 = 8  # phase of its tick, ns
NHC = 9

# ---- VM record -------------------------------------------------------------------------
HVM_NRUN = 0  # runnable entities of the VM (group weight)
HVM_SHARES = 1  # cpu.shares of its cgroup
HVM_V0 = 2  # its lock-running vCPUs are rows [HVM_V0, HVM_V1) of I (CPU-bound VM: empty)
HVM_V1 = 3
HVM_LASTB = 4  # kvm->last_boosted_vcpu (an index into the VM's vCPUs)
NHVM = 5

# ---- scheduler codes (LP_SCHED) --------------------------------------------------------
SCHED_RR = 0
SCHED_CFS = 1
SCHED_EEVDF = 2

NICE_0_LOAD = 1024
#: -1 as an int64 (not a literal: numba would compile a callee once more for it)
NONE = np.int64(-1)
MIN_SHARES = 2
SCHED_NR_LATENCY = 8  # sched_nr_latency = sched_latency / min_granularity


@njit(i8(I1, i8, i8), cache=True, _nrt=False)
def ent(H, e, c):
    """Index of column c of entity e's record in H."""
    return H[HV_EB] + e * NHE + c


@njit(i8(I1, i8, i8), cache=True, _nrt=False)
def cpu(H, p, c):
    return H[HV_CB] + p * NHC + c


@njit(i8(I1, i8, i8), cache=True, _nrt=False)
def vmr(H, k, c):
    return H[HV_VB] + k * NHVM + c


@njit(**INNER)
def weight(H, e):
    """The entity's load weight: NICE_0_LOAD, or its VM's shares split over the VM's
    runnable threads (flattened group scheduling)."""
    if H[HP_GROUPS] == 0:
        return NICE_0_LOAD
    k = H[ent(H, e, HE_VM)]
    r = H[vmr(H, k, HVM_NRUN)]
    w = H[vmr(H, k, HVM_SHARES)] // (r if r > 0 else 1)
    return w if w > MIN_SHARES else MIN_SHARES


@njit(i8(i8, i8), **INNER)
def vdelta(ns, w):
    """calc_delta_fair: ns of run time in virtual time for weight w."""
    return ns * NICE_0_LOAD // w


@njit(**INNER)
def rq_avg_vruntime(H, p):
    """EEVDF avg_vruntime V of pCPU p: the load-weighted mean vruntime of the queue and
    the running entity (if runnable); min_vruntime when it is empty."""
    nent = H[HV_NENT]
    ql = H[HV_QL] + p * nent
    v0 = H[cpu(H, p, HC_MINV)]
    sw = 0
    swv = 0
    for i in range(H[cpu(H, p, HC_NR)]):
        e = H[ql + i]
        w = weight(H, e)
        sw += w
        swv += (H[ent(H, e, HE_VRUN)] - v0) * w
    c = H[HV_CUR + p]
    if c >= 0 and H[ent(H, c, HE_ONRQ)] != 0:
        w = weight(H, c)
        sw += w
        swv += (H[ent(H, c, HE_VRUN)] - v0) * w
    if sw == 0:
        return v0
    # the kernel rounds toward the left (avg_vruntime: "sign flips effective floor")
    q = swv // sw
    return v0 + q


@njit(**INNER)
def rq_weight(H, p):
    """Sum of the load weights of pCPU p's queue and running entity."""
    nent = H[HV_NENT]
    ql = H[HV_QL] + p * nent
    sw = 0
    for i in range(H[cpu(H, p, HC_NR)]):
        sw += weight(H, H[ql + i])
    c = H[HV_CUR + p]
    if c >= 0 and H[ent(H, c, HE_ONRQ)] != 0:
        sw += weight(H, c)
    return sw


@njit(**INNER)
def update_min_vruntime(H, p):
    """min_vruntime only moves forward: to the smaller of the running and the leftmost."""
    nent = H[HV_NENT]
    ql = H[HV_QL] + p * nent
    c = H[HV_CUR + p]
    have = False
    m = 0
    if c >= 0 and H[ent(H, c, HE_ONRQ)] != 0:
        m = H[ent(H, c, HE_VRUN)]
        have = True
    for i in range(H[cpu(H, p, HC_NR)]):
        v = H[ent(H, H[ql + i], HE_VRUN)]
        if not have or v < m:
            m = v
            have = True
    if have and m > H[cpu(H, p, HC_MINV)]:
        H[cpu(H, p, HC_MINV)] = m


@njit(cache=True, _nrt=False)
def update_curr(H, p, t):
    """update_curr of pCPU p at t (ns): charge the running entity its run time since
    exec_start in real and virtual time; under EEVDF renew a crossed deadline
    (update_deadline). Returns True if EEVDF asks for a resched (deadline crossed with
    others queued)."""
    c = H[HV_CUR + p]
    if c < 0:
        return False
    d = t - H[ent(H, c, HE_EXEC0)]
    if d < 0:
        d = 0
    H[ent(H, c, HE_EXEC0)] = t
    H[ent(H, c, HE_SUMEX)] += d
    w = weight(H, c)
    H[ent(H, c, HE_VRUN)] += vdelta(d, w)
    resched = False
    if H[HP_SCHED] == SCHED_EEVDF and H[ent(H, c, HE_VRUN)] >= H[ent(H, c, HE_DL)]:
        H[ent(H, c, HE_DL)] = H[ent(H, c, HE_VRUN)] + vdelta(H[HP_SLICE], w)
        H[ent(H, c, HE_PARITY)] = 0
        if H[cpu(H, p, HC_NR)] > 0:
            resched = True
            H[cpu(H, p, HC_NEXT)] = -1
            H[cpu(H, p, HC_SKIP)] = -1
    update_min_vruntime(H, p)
    return resched


@njit(cache=True, _nrt=False)
def rq_add(H, p, e, t):
    """Put e in pCPU p's run queue (waiting, not running); its wait starts now."""
    nent = H[HV_NENT]
    n = H[cpu(H, p, HC_NR)]
    H[H[HV_QL] + p * nent + n] = e
    H[ent(H, e, HE_QPOS)] = n
    H[cpu(H, p, HC_NR)] = n + 1
    H[ent(H, e, HE_CPU)] = p
    if H[ent(H, e, HE_WAIT0)] < 0:
        H[ent(H, e, HE_WAIT0)] = t


@njit(**INNER)
def rq_del(H, p, e):
    """Take e out of pCPU p's run queue (the last one fills its place)."""
    nent = H[HV_NENT]
    ql = H[HV_QL] + p * nent
    i = H[ent(H, e, HE_QPOS)]
    n = H[cpu(H, p, HC_NR)] - 1
    last = H[ql + n]
    H[ql + i] = last
    H[ent(H, last, HE_QPOS)] = i
    H[ql + n] = -1
    H[ent(H, e, HE_QPOS)] = -1
    H[cpu(H, p, HC_NR)] = n


@njit(**INNER)
def wakeup_preempt_entity(H, curr, se):
    """CFS wakeup_preempt_entity(curr, se): -1 if se is not behind curr, 1 if it is more
    than wakeup_gran (in se's virtual time) behind, else 0."""
    vdiff = H[ent(H, curr, HE_VRUN)] - H[ent(H, se, HE_VRUN)]
    if vdiff <= 0:
        return -1
    if vdiff > vdelta(H[HP_WAKEGRAN], weight(H, se)):
        return 1
    return 0


@njit(**INNER, forceinline=True)
def _member(H, p, e):
    """e is runnable on pCPU p: waiting in its queue, or running there."""
    return e >= 0 and H[ent(H, e, HE_ONRQ)] != 0 and H[ent(H, e, HE_CPU)] == p and (
        H[ent(H, e, HE_QPOS)] >= 0 or H[HV_CUR + p] == e)


@njit(cache=True, _nrt=False)
def pick_next(H, p):
    """The entity pCPU p runs next, from its queue and its running entity if runnable
    (-1: idle). CFS pick_next_entity with skip and next buddies; EEVDF pick_eevdf with
    RUN_TO_PARITY (and PICK_BUDDY). Chooses only; the caller switches."""
    nent = H[HV_NENT]
    ql = H[HV_QL] + p * nent
    nq = H[cpu(H, p, HC_NR)]
    c = H[HV_CUR + p]
    if c >= 0 and H[ent(H, c, HE_ONRQ)] == 0:
        c = NONE
    if H[HP_SCHED] == SCHED_EEVDF:
        V = rq_avg_vruntime(H, p)
        if c >= 0 and H[ent(H, c, HE_VRUN)] > V:
            c = NONE  # not eligible
        if c >= 0 and H[HP_PARITY] != 0 and H[ent(H, c, HE_PARITY)] != 0:
            return c  # RUN_TO_PARITY
        nb = H[cpu(H, p, HC_NEXT)]
        if H[HP_PICKBUDDY] != 0 and _member(H, p, nb) and H[ent(H, nb, HE_VRUN)] <= V:
            return nb  # PICK_BUDDY
        best = c
        for i in range(nq):
            e = H[ql + i]
            if H[ent(H, e, HE_VRUN)] > V:
                continue
            if best < 0 or H[ent(H, e, HE_DL)] < H[ent(H, best, HE_DL)]:
                best = e
        if best < 0:  # nobody eligible can happen only through rounding: take the leftmost
            for i in range(nq):
                e = H[ql + i]
                if best < 0 or H[ent(H, e, HE_VRUN)] < H[ent(H, best, HE_VRUN)]:
                    best = e
        return best
    # CFS: left = leftmost of the queue, or curr if smaller
    left = c
    second = NONE
    for i in range(nq):
        e = H[ql + i]
        if left < 0 or H[ent(H, e, HE_VRUN)] < H[ent(H, left, HE_VRUN)]:
            second = left
            left = e
        elif second < 0 or H[ent(H, e, HE_VRUN)] < H[ent(H, second, HE_VRUN)]:
            second = e
    if left < 0:
        return -1
    se = left
    if H[cpu(H, p, HC_SKIP)] == left and second >= 0:
        if wakeup_preempt_entity(H, second, left) < 1:
            se = second
    nb = H[cpu(H, p, HC_NEXT)]
    if _member(H, p, nb) and wakeup_preempt_entity(H, nb, left) < 1:
        se = nb
    return se


@njit(**INNER)
def clear_buddies(H, p, e):
    if H[cpu(H, p, HC_NEXT)] == e:
        H[cpu(H, p, HC_NEXT)] = -1
    if H[cpu(H, p, HC_SKIP)] == e:
        H[cpu(H, p, HC_SKIP)] = -1


@njit(cache=True, _nrt=False)
def sched_slice(H, p, e):
    """CFS sched_slice of e on pCPU p, ns: period * w / W (at least min_granularity, as
    6.1's BASE_SLICE)."""
    nr = H[cpu(H, p, HC_NR)] + (1 if H[HV_CUR + p] >= 0 else 0)
    lat = H[HP_LATENCY]
    ming = H[HP_MINGRAN]
    period = lat if nr <= SCHED_NR_LATENCY else nr * ming
    W = rq_weight(H, p)
    if W <= 0:
        return period
    s = period * weight(H, e) // W
    return s if s > ming else ming


@njit(**INNER)
def tick_resched(H, p, t):
    """The host tick on pCPU p: update_curr, then CFS check_preempt_tick or EEVDF's
    update_deadline. True if the running entity must give way."""
    c = H[HV_CUR + p]
    if c < 0:
        return False
    r = update_curr(H, p, t)
    if H[cpu(H, p, HC_NR)] == 0:
        return False
    if H[HP_SCHED] == SCHED_EEVDF:
        return r
    ideal = sched_slice(H, p, c)
    delta_exec = H[ent(H, c, HE_SUMEX)] - H[ent(H, c, HE_SLICE0)]
    if delta_exec > ideal:
        H[cpu(H, p, HC_NEXT)] = -1
        H[cpu(H, p, HC_SKIP)] = -1
        return True
    if delta_exec < H[HP_MINGRAN]:
        return False
    nent = H[HV_NENT]
    ql = H[HV_QL] + p * nent
    left = H[ql]
    for i in range(1, H[cpu(H, p, HC_NR)]):
        e = H[ql + i]
        if H[ent(H, e, HE_VRUN)] < H[ent(H, left, HE_VRUN)]:
            left = e
    return H[ent(H, c, HE_VRUN)] - H[ent(H, left, HE_VRUN)] > ideal


@njit(**INNER)
def place_entity(H, p, e):
    """place_entity on a wake-up onto pCPU p. CFS: vruntime at least min_vruntime minus
    the sleeper credit. EEVDF (PLACE_LAG): at V minus the saved lag, inflated by
    (W + w) / W; a new virtual deadline one slice ahead."""
    if H[HP_SCHED] == SCHED_EEVDF:
        V = rq_avg_vruntime(H, p)
        w = weight(H, e)
        lag = H[ent(H, e, HE_VLAG)]
        W = rq_weight(H, p)
        if H[HP_PLACELAG] != 0 and W > 0:
            lag = lag * (W + w) // W
        elif H[HP_PLACELAG] == 0:
            lag = 0
        H[ent(H, e, HE_VRUN)] = V - lag
        H[ent(H, e, HE_DL)] = H[ent(H, e, HE_VRUN)] + vdelta(H[HP_SLICE], w)
        H[ent(H, e, HE_PARITY)] = 0
        return
    v = H[cpu(H, p, HC_MINV)] - H[HP_SLEEPER]
    if H[ent(H, e, HE_VRUN)] < v:
        H[ent(H, e, HE_VRUN)] = v


@njit(**INNER)
def save_lag(H, p, e):
    """EEVDF update_entity_lag at dequeue: vlag = V - v, clamped to
    +-calc_delta_fair(max(2 slices, one tick))."""
    if H[HP_SCHED] != SCHED_EEVDF:
        return
    V = rq_avg_vruntime(H, p)
    lim_ns = 2 * H[HP_SLICE]
    if H[HP_TICK] > lim_ns:
        lim_ns = H[HP_TICK]
    lim = vdelta(lim_ns, weight(H, e))
    lag = V - H[ent(H, e, HE_VRUN)]
    if lag > lim:
        lag = lim
    if lag < -lim:
        lag = -lim
    H[ent(H, e, HE_VLAG)] = lag


@njit(**INNER)
def wake_preempts(H, p, e, t):
    """check_preempt_wakeup: does the woken e (queued on busy pCPU p) preempt what runs
    there? CFS: the running entity is more than wakeup_gran ahead of it (then e becomes
    the next buddy). EEVDF: pick_eevdf would pick e."""
    c = H[HV_CUR + p]
    if c < 0:
        return True
    update_curr(H, p, t)
    if H[HP_SCHED] == SCHED_EEVDF:
        return pick_next(H, p) == e
    if wakeup_preempt_entity(H, c, e) == 1:
        H[cpu(H, p, HC_NEXT)] = e
        return True
    return False


@njit(**INNER)
def select_cpu(H, e):
    """select_task_rq_fair for a waking e: its previous pCPU if idle, else an idle
    allowed pCPU on the same socket, else any idle allowed one, else the previous."""
    prev = H[ent(H, e, HE_CPU)]
    lo = H[ent(H, e, HE_LO)]
    hi = H[ent(H, e, HE_HI)]
    if prev < lo or prev >= hi:
        prev = lo
    if H[HV_CUR + prev] < 0 and H[cpu(H, prev, HC_NR)] == 0:
        return prev
    sock = H[cpu(H, prev, HC_SOCK)]
    other = NONE
    for q in range(lo, hi):
        if H[HV_CUR + q] < 0 and H[cpu(H, q, HC_NR)] == 0:
            if H[cpu(H, q, HC_SOCK)] == sock:
                return q
            if other < 0:
                other = q
    if other >= 0:
        return other
    return prev


@njit(**INNER)
def steal_candidate(H, p, t, min_gap):
    """A queued entity pCPU p may pull (newidle or periodic balance): from the longest
    queue whose length exceeds p's own by at least ``min_gap``, the one that has waited
    longest among those allowed on p and not cache-hot (ran within ``mig_ns``). -1: none."""
    npc = H[HP_NPCPU]
    nent = H[HV_NENT]
    mine = H[cpu(H, p, HC_NR)] + (1 if H[HV_CUR + p] >= 0 else 0)
    best = NONE
    best_len = 0
    for q in range(npc):
        if q == p:
            continue
        ln = H[cpu(H, q, HC_NR)] + (1 if H[HV_CUR + q] >= 0 else 0)
        if ln - mine < min_gap or ln <= best_len:
            continue
        ql = H[HV_QL] + q * nent
        pick = NONE
        for i in range(H[cpu(H, q, HC_NR)]):
            e = H[ql + i]
            if p < H[ent(H, e, HE_LO)] or p >= H[ent(H, e, HE_HI)]:
                continue
            if t - H[ent(H, e, HE_LASTRUN)] < H[HP_MIGCOST]:
                continue
            if pick < 0 or H[ent(H, e, HE_WAIT0)] < H[ent(H, pick, HE_WAIT0)]:
                pick = e
        if pick >= 0:
            best = pick
            best_len = ln
    return best


@njit(**INNER)
def migrate(H, e, src, dst):
    """Move queued e from src's run queue to dst's, renormalizing its vruntime (CFS:
    relative to min_vruntime; EEVDF keeps the lag through place_entity's V)."""
    rq_del(H, src, e)
    clear_buddies(H, src, e)
    if H[HP_SCHED] != SCHED_EEVDF:
        H[ent(H, e, HE_VRUN)] += H[cpu(H, dst, HC_MINV)] - H[cpu(H, src, HC_MINV)]
    else:
        V0 = rq_avg_vruntime(H, src)
        lag = V0 - H[ent(H, e, HE_VRUN)]
        dl = H[ent(H, e, HE_DL)] - H[ent(H, e, HE_VRUN)]
        V1 = rq_avg_vruntime(H, dst)
        H[ent(H, e, HE_VRUN)] = V1 - lag
        H[ent(H, e, HE_DL)] = H[ent(H, e, HE_VRUN)] + dl
    wait0 = H[ent(H, e, HE_WAIT0)]
    rq_add(H, dst, e, wait0)
    H[ent(H, e, HE_NMIGRATE)] += 1
