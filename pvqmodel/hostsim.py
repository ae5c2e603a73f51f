"""Running VMs on a host: :func:`simulate_host` and its tidy result.

Owns the step from a :class:`~pvqmodel.host.Host` and its :class:`~pvqmodel.host.VM` list
to one engine run per replication and back: the engine's VM order (lock-running VMs
first, CPU-bound ones after; results keep the user's names), the host scheduler's
integer parameters in ``H`` (``engine/fair.py`` ``HP_*``), each scheduling entity's VM
and allowed pCPUs, the costs in ``P`` (halt, kick, wake, PLE window and exit), a
fixed-duration or fixed-work run, and the tidy frames: one row per VM and replication
(throughput, pCPU share against the fair share, steal, preemptions, halts, kicks, PLE
exits, directed yields, halt polls, lock waits and their percentiles, lock-holder and
lock-waiter preemptions, synchronous IPIs and their waits) and one per vCPU thread, the
per-VM lock-wait histograms (``waits``) and acquisitions per lock instance (``locks``),
plus the replication spread of each VM's headline number with a homogeneity flag, so a
cell whose replications disagree is flagged instead of averaged silently.

KVM's in-kernel filter of ``kvm_vcpu_on_spin`` (4.14+: skip a candidate preempted in guest
user mode) never filters here: the modelled guests run their whole loop in kernel mode
(the seed benchmark is a kernel module), so ``KVM.in_kernel_check`` changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .host import SCHEDULERS, Host
from .params import Hardware, Schedule, Workload
from .validate import check_choice, check_float, check_instance, check_int, check_seed

#: Operations per vCPU of a fixed-duration run (more than any run reaches before its
#: ``duration_ns``; a run without ``duration_ns`` does each lock VM's ``ops`` instead).
_DURATION_OPS = 10**8
#: Event budgets (a safety stop, not a result): events per lock operation of a
#: fixed-work run, and events per ns per lock-running vCPU of a fixed-duration run
#: (with a floor of 1e9), far above what any run takes (about 30 per operation).
_EVENTS_PER_OP = 3000
_EVENTS_PER_NS_VCPU = 0.05


@dataclass
class HostResult:
    """What :func:`simulate_host` returns (all frames tidy: one row per observation)."""

    #: one row per (rep, vm): see :data:`VM_COLUMNS`
    vms: pd.DataFrame
    #: one row per (rep, vCPU thread): the engine's per-entity accounting
    vcpus: pd.DataFrame
    #: one row per rep: engine status, events, simulated time, global counters
    summary: pd.DataFrame
    #: one row per vm: the headline number across replications, its 95 % interval and a
    #: homogeneity test of the replications against their own within-run spread
    spread: pd.DataFrame
    host: Host = None
    vm_specs: tuple = ()
    failures: dict = field(default_factory=dict)
    #: one row per (rep, lock vm, bin): its acquisition waits (lock entry -> acquired) as
    #: a log2 histogram, bin b holding waits in [lo_ns, hi_ns) = [2^b - 1, 2^(b+1) - 1)
    waits: pd.DataFrame = None
    #: one row per (rep, lock vm, instance): acquisitions of each of its lock instances
    #: (instance 0 is the hottest under a Zipf lock choice)
    locks: pd.DataFrame = None

    def __repr__(self):
        flagged = int(self.spread["flagged"].sum()) if len(self.spread) else 0
        return (f"HostResult({len(self.vm_specs)} VMs, {self.summary.shape[0]} reps, "
                f"{flagged} flagged)")


#: Columns of :attr:`HostResult.vms` (besides rep and vm) and what they mean
VM_COLUMNS = {
    "lock": "lock name, or None for a CPU-bound VM",
    "vcpus": "vCPUs", "ops": "lock operations done", "sim_ns": "simulated time, ns",
    "ops_per_s": "lock operations per second (the VM's throughput)",
    "pcpus_used": "pCPUs' worth of run time the VM's threads got",
    "fair_pcpus": "pCPUs the VM is entitled to by fair sharing (fair_pcpus())",
    "steal_ns": "time its threads were runnable but not running (summed)",
    "max_wait_ns": "longest single runnable wait of any of its threads",
    "preemptions": "involuntary deschedules", "halts": "lock halts (pv_wait / HLT)",
    "kicks": "kick hypercalls",
    "ple_exits": "pause-loop exits", "yields": "successful directed yields made",
    "boosted": "times a vCPU of it was a directed yield's target",
    "polls_ok": "halts that ended while KVM polled", "migrations": "thread migrations",
    "wake_preemptions": "wake-ups that preempted the running thread",
    "lock_wait_ns": "mean lock wait per acquisition, ns",
    "lhp": "lock-holder preemptions: a vCPU descheduled involuntarily while holding a lock",
    "lwp": "lock-waiter preemptions: ... while waiting for a lock (spinning or in the lock "
           "code; a vCPU halted in pv_wait is not preempted)",
    "ipis": "synchronous IPIs (TLB shootdowns) sent (VM.ipi_per_op)",
    "ipi_wait_ns": "mean sender's wait per completed IPI, from send until it sees the "
                   "last ack (its own time off its pCPU included), ns",
    "ipi_preempted": "IPI targets that read as preempted at send time",
    "pv_flush_flags": "... of them flagged for a flush at their next entry instead of "
                      "waited for (VM.pv_tlb_flush)",
    "lock_wait_p50_ns": "median lock wait: the upper edge of the log2 bin holding it "
                        "(within a factor 2 above the true value; HostResult.waits)",
    "lock_wait_p90_ns": "90th percentile lock wait, the same way",
    "lock_wait_p99_ns": "99th percentile lock wait, the same way",
}


def _wait_percentiles(h) -> dict:
    """The lock-wait percentiles of a log2 histogram ``h`` (bin b: waits in [2^b - 1,
    2^(b+1) - 1) ns): for each, the upper edge of the first bin whose cumulative count
    reaches that fraction (NaN without a lock or without acquisitions)."""
    out = {}
    for q in (50, 90, 99):
        val = float("nan")
        if h is not None and h.sum() > 0:
            c = np.cumsum(h) / h.sum()
            b = int(np.searchsorted(c, q / 100.0))
            val = 2.0 ** (b + 1) - 1
        out[f"lock_wait_p{q}_ns"] = val
    return out


def fair_pcpus(host: Host, vms) -> np.ndarray:
    """pCPUs each VM is entitled to when every thread is runnable: water-filling of the
    host's pCPUs by cgroup shares (``group_per_vm``) or by thread (each thread one
    nice-0 task), no VM getting more than its vCPUs or its cpuset. Exact when the VMs
    share one cpuset (or all pCPUs); with disjoint or partly overlapping cpusets it
    shares the union as one pool (an approximation)."""
    vms = host.check_vms(vms)
    cap = np.array([min(v.vcpus, v.cpus(host)[1] - v.cpus(host)[0]) for v in vms], float)
    if host.group_per_vm:
        w = np.array([v.shares for v in vms], float)
    else:
        w = np.array([v.vcpus for v in vms], float)
    lo = min(v.cpus(host)[0] for v in vms)
    hi = max(v.cpus(host)[1] for v in vms)
    left = float(hi - lo)
    out = np.zeros(len(vms))
    active = np.ones(len(vms), bool)
    while left > 1e-12 and active.any():
        share = left * w / w[active].sum()
        room = cap - out
        hit = active & (share >= room - 1e-12)
        if not hit.any():
            out[active] += share[active]
            break
        out[hit] = cap[hit]
        left -= room[hit].sum()
        active &= ~hit
    return out


def _engine_order(vms) -> list[int]:
    """The engine runs lock-running VMs first, CPU-bound ones after."""
    return [i for i, v in enumerate(vms) if v.lock is not None] + \
        [i for i, v in enumerate(vms) if v.lock is None]


def _hp(host: Host, d: dict, duration_ns: float | None) -> dict:
    """The host scheduler's integer parameters (``engine/fair.py`` ``HP_*``)."""
    from .engine import fair as fr

    code = {"cfs": fr.SCHED_CFS, "eevdf": fr.SCHED_EEVDF, "rr": fr.SCHED_RR}[host.scheduler]
    assert SCHEDULERS[host.scheduler] == d["scheduler"]
    k = host.kvm
    return {
        fr.HP_SCHED: code, fr.HP_NPCPU: host.pcpus,
        fr.HP_GROUPS: d["group_per_vm"], fr.HP_PARITY: d["run_to_parity"],
        fr.HP_PICKBUDDY: d["pick_buddy"], fr.HP_PLACELAG: d["place_lag"],
        fr.HP_LATENCY: d["sched_latency_ns"], fr.HP_MINGRAN: d["sched_min_granularity_ns"],
        fr.HP_WAKEGRAN: d["sched_wakeup_granularity_ns"], fr.HP_SLICE: d["base_slice_ns"],
        fr.HP_SLEEPER: d["sleeper_credit_ns"], fr.HP_TICK: d["tick_ns"],
        fr.HP_MIGCOST: d["migration_cost_ns"],
        fr.HP_BALANCE: d["balance_interval_machine_busy_ns"],
        fr.HP_POLL_MAX: d["halt_poll_ns"] if d["halt_poll_enabled"] else 0,
        fr.HP_POLL_START: d["halt_poll_ns_grow_start"], fr.HP_POLL_GROW: d["halt_poll_ns_grow"],
        fr.HP_POLL_SHRINK: d["halt_poll_ns_shrink"], fr.HP_WAKE_POLL: k.wake_poll_ns,
        fr.HP_WAKE_ENQ: k.wake_enqueue_ns + k.context_switch_ns, fr.HP_WAKE_IDLE: k.wake_idle_ns,
        fr.HP_DY_READY: d["on_spin_candidate"], fr.HP_DY_HALTED: d["on_spin_halted_if_runnable"],
        fr.HP_DY_ELIG: d["on_spin_dy_eligible"], fr.HP_DY_TRIES: d["on_spin_esrch_tries"],
        fr.HP_KICK_YIELD: d["kick_yield"], fr.HP_PREEMPT_FLAG: d["preempted_flag"],
        fr.HP_END_NS: 0 if duration_ns is None else duration_ns,
    }


def _schedule(host: Host, d: dict, vms) -> Schedule:
    """The engine's host-wide schedule values as a :class:`Schedule` (round robin's
    quantum and placement, the halt/kick/wake costs, the PLE window; ``overcommit`` is
    not used: the VMs say who runs)."""
    k = host.kvm
    big = max(v.vcpus for v in vms)
    ple = None
    if d["ple_enabled"]:
        ple = d["ple_window_ns"]
    # a PLE exit: VM exit and entry, kvm_vcpu_on_spin's scan (on average half the VM's
    # other vCPUs before the first candidate under overcommit), yield_to
    exit_ns = k.ple_exit_ns(max(1, (big - 1) // 2), yielded=True)
    pinned = all(v.placement == "pinned" for v in vms)
    return Schedule(pcpus=host.pcpus, overcommit=1.0, quantum_ns=host.quantum_ns,
                    placement="pinned" if pinned else "free", halt_ns=k.halt_exit_ns,
                    kick_ns=k.kick_ns, wake_ns=k.wake_idle_ns, latch=k.pv_unhalted_latch,
                    ple_window_ns=ple, ple_exit_ns=exit_ns, ple_grow=d["ple_window_grow"],
                    ple_window_max_ns=max(d["ple_window_max_ns"], ple or 1.0),
                    ple_gap_ns=d["ple_gap_ns"], wakeup_preempt=bool(d["wakeup_preemption"]),
                    resched_ns=k.vmexit_ns)


def _on_entities(values, vcpu, dtype):
    """A per-vCPU array (``values[v]``) as an entity column: entity j gets
    ``values[vcpu[j]]``, or 0 if it is no lock-running vCPU (``vcpu[j] < 0``)."""
    out = np.zeros(len(vcpu), dtype=dtype)
    on = vcpu >= 0
    out[on] = values[vcpu[on]]
    return out


def simulate_host(host: Host, vms, *, duration_ns: float | None = None, reps: int = 4,
                  seed: int = 0, hardware: Hardware | None = None, max_events: int | None = None,
                  watchdog_ns: float | None = None, trace: int = 256,
                  timer: str = "auto", check: bool = True) -> HostResult:
    """Run ``reps`` replications of ``vms`` sharing ``host``'s pCPUs.

    Every VM's vCPU threads are scheduled by the host's scheduler (``"cfs"``,
    ``"eevdf"`` or the FIFO ``"rr"``) with its KVM (PLE and ``kvm_vcpu_on_spin``, kicks,
    halt polling, the guest-visible preempted flag). A run lasts ``duration_ns`` of
    simulated time, or, with ``duration_ns=None``, until every lock-running vCPU has done
    its VM's ``ops`` (each lock VM must then give ``ops``). ``hardware``: the machine's
    coherence costs (default: the calibrated preset). Seeds: one root ``seed``,
    ``SeedSequence(seed).spawn(reps)``. ``trace``, ``timer``: as :func:`pvqmodel.simulate`.
    Returns a :class:`HostResult`.
    Bad arguments raise ``ValueError`` naming them before any kernel runs."""
    from .engine import ensure_compiled
    from .engine import state as st
    from .engine.hypervisor import hv_entity_frame
    from .sim import (
        STATUS_TEXT,
        TIMERS,
        LockTunables,
        SimulationError,
        VMSpec,
        _trace_frame,
        build_run,
        default_hardware,
        default_watchdog_ns,
        run_state,
    )

    check_instance("host", host, Host)
    vms = host.check_vms(vms)
    hw = default_hardware() if hardware is None else check_instance("hardware", hardware,
                                                                   Hardware)
    if duration_ns is not None:
        duration_ns = check_float("duration_ns", duration_ns, 1e3, 1e13)
    reps = check_int("reps", reps, 1, 10_000)
    seed = check_seed("seed", seed)
    trace = check_int("trace", trace, 0, 10**6)
    timer = check_choice("timer", timer, TIMERS)
    lock_vms = [v for v in vms if v.lock is not None]
    if not lock_vms:
        raise ValueError("vms must include at least one VM with a lock (lock=None VMs are "
                         "CPU-bound co-tenants)")
    if duration_ns is None:
        missing = [v.name for v in lock_vms if v.ops is None]
        if missing:
            raise ValueError(f"duration_ns is None, so every lock VM needs ops; VM(s) "
                             f"{missing} have ops=None")
    if host.kvm.ple_window_shrink != 0:
        raise ValueError("kvm.ple_window_shrink must be 0 (KVM's default: the window goes back "
                         "to its base at sched-in, the only rule the engine runs), got "
                         f"{host.kvm.ple_window_shrink}")
    if host.scheduler == "rr" and any(v.cpuset is not None for v in vms):
        raise ValueError("scheduler='rr' (the FIFO round robin) supports no cpuset: set "
                         "cpuset=None on every VM, or use 'cfs' / 'eevdf'")
    d = host.derived()
    order = _engine_order(vms)
    evms = [vms[i] for i in order]
    sched = _schedule(host, d, evms)
    specs = []
    for v in evms:
        if v.lock is None:
            specs.append(VMSpec(None, v.vcpus))
            continue
        wl = v.workload or Workload()
        ops = _DURATION_OPS if v.ops is None or duration_ns is not None else v.ops
        specs.append(VMSpec(v.lock, v.vcpus, ops_per_task=ops, workload=wl,
                            tunables=v.tunables or LockTunables(), locks=v.locks,
                            lock_choice=v.lock_choice, zipf_s=v.zipf_s,
                            ipi_per_op=v.ipi_per_op, ipi_handler_ns=v.ipi_handler_ns,
                            pv_tlb_flush=v.pv_tlb_flush))
    n = sum(v.vcpus for v in lock_vms)
    if watchdog_ns is None:
        watchdog_ns = max(default_watchdog_ns(hw, s.workload, sched, n, s.lock)
                          for s in specs if s.lock is not None)
        if duration_ns is not None:
            watchdog_ns = max(watchdog_ns, min(duration_ns, 1e12))
    watchdog_ns = check_float("watchdog_ns", watchdog_ns, 1e-3, 1e18)
    run = build_run(specs, hw, sched, float(watchdog_ns))
    # host-wide values the Schedule cannot say: the real entity counts, think sleeping
    LP, P = run["LP"], run["P"]
    nbg = sum(v.vcpus for v in evms if v.lock is None)
    LP[:, st.LP_HV] = 1
    LP[:, st.LP_NPCPU] = host.pcpus
    LP[:, st.LP_NBG] = nbg
    for k, v in enumerate(evms):
        dv = v.derived(host)
        P[k, st.P_THINK] = dv["think_ns"]
        P[k, st.P_THINK_DIST] = float(dv["think_dist"])
        P[k, st.P_THINK_MU] = dv["think_mu"]
        P[k, st.P_THINK_SIGMA] = dv["think_sigma"]
        P[k, st.P_THINK_SLEEP] = float(dv["think_sleep"])
    run["nbg"] = nbg
    ent_vm, lo, hi = [], [], []
    v0s, v1s, row = [], [], 0
    for k, v in enumerate(evms):
        a, b = v.cpus(host)
        for i in range(v.vcpus):
            ent_vm.append(k)
            if v.placement == "pinned":
                lo.append(a + i % (b - a))
                hi.append(a + i % (b - a) + 1)
            else:
                lo.append(a)
                hi.append(b)
        if v.lock is not None:
            v0s.append(row)
            v1s.append(row + v.vcpus)
            row += v.vcpus
        else:
            v0s.append(n)
            v1s.append(n)
    run["host"] = {
        "hp": _hp(host, d, duration_ns), "ent_vm": np.array(ent_vm), "ent_lo": np.array(lo),
        "ent_hi": np.array(hi), "vm_v0": v0s, "vm_v1": v1s,
        "vm_shares": [v.shares for v in evms],
        "cpu_sock": np.arange(host.pcpus) // host.pcpus_per_socket,
        "poll0": d["halt_poll_ns_grow_start"] if d["halt_poll_enabled"] else 0,
    }
    if max_events is None:
        if duration_ns is not None:
            max_events = int(min(2**62, 10**9 + duration_ns * _EVENTS_PER_NS_VCPU * n))
        else:
            max_events = _EVENTS_PER_OP * sum(v.vcpus * v.ops for v in lock_vms) + 10**6
    max_events = check_int("max_events", max_events, 1, 2**62)
    ensure_compiled()
    children = np.random.SeedSequence(seed).spawn(reps)
    fair = fair_pcpus(host, evms)
    vm_rows, ent_rows, sum_rows, failures = [], [], [], {}
    wait_rows, lock_rows = [], []
    for r in range(reps):
        S = run_state(run, np.random.Generator(np.random.PCG64(children[r])), max_events,
                      trace, timer)
        status = S["status"]
        G, I, F = S["G"], S["I"], S["F"]
        if status != st.ST_OK:
            tr = _trace_frame(S)
            msg = (f"host run rep {r}: {STATUS_TEXT.get(status, status)} after "
                   f"{int(G[st.G_EVENTS])} events; last events:\n{tr.tail(40).to_string()}")
            if check:
                raise SimulationError(msg, status, tr)
            failures[r] = tr
        finished = status == st.ST_OK and G[st.G_DONE] >= n
        sim_ns = float(F[:n, st.F_DONE_T].max()) if finished else float(F[n, st.GF_NOW])
        # the per-entity columns as arrays, then one frame (a frame built column by
        # column, and the per-VM sums below taken from frames, were most of a call's
        # fixed cost: 9.4 ms of front-end per simulate_host call before)
        cols = hv_entity_frame(S["H"], n, sim_ns)
        nent = len(cols["entity"])
        ent_vm = cols["vm"]
        cols["vm"] = [evms[k].name for k in ent_vm]
        cols["rep"] = np.full(nent, r, dtype=np.int64)
        vc = cols["vcpu"]
        for col, reg in (("ops", st.OPS_DONE), ("ple_exits", st.PLE_N), ("boosted", st.BOOSTED),
                         ("lhp", st.LHP_N), ("lwp", st.LWP_N), ("ipis", st.IPI_N),
                         ("ipi_preempted", st.IPI_HIT_PRE), ("pv_flush_flags", st.IPI_FLAGS)):
            cols[col] = _on_entities(I[:, reg], vc, np.int64)
        cols["lock_wait_ns"] = _on_entities(F[:, st.F_WAIT_NS], vc, np.float64)
        cols["ipi_wait_ns"] = _on_entities(F[:, st.F_IPI_WAIT_NS], vc, np.float64)
        # an IPI still waiting for its acks when the run stopped has no wait time yet
        cols["ipis_done"] = cols["ipis"] - _on_entities(I[:, st.PC] == st.W_IPI_DONE, vc,
                                                     np.int64)
        cols["acquisitions"] = _on_entities(I[:, st.ACQ_SEQ] - I[:, st.IN_ACQ], vc, np.int64)
        ent_rows.append(pd.DataFrame(cols))
        HO = S["HO"]
        for k, v in enumerate(evms):
            if v.lock is None:
                continue
            h = HO[n + 1:, k]
            b = np.arange(len(h))
            wait_rows.append(pd.DataFrame({"rep": r, "vm": v.name, "bin": b, "lo_ns": 2.0**b - 1,
                                           "hi_ns": 2.0 ** (b + 1) - 1,
                                           "count": h.astype(np.int64)}))
            m = v.locks
            i0 = int(run["LP"][k, st.LP_LOCK0])
            acq = G[st.NG + st.GL_ACQS + st.NGL * i0: st.NG + st.NGL * (i0 + m): st.NGL]
            lock_rows.append(pd.DataFrame({"rep": r, "vm": v.name, "instance": np.arange(m),
                                           "acquisitions": acq.astype(np.int64)}))
        for k, v in enumerate(evms):
            mine = ent_vm == k
            e = {c: x[mine] for c, x in cols.items() if isinstance(x, np.ndarray)}
            ops = int(e["ops"].sum())
            if v.lock is not None and finished:
                t_vm = float(F[:n, st.F_DONE_T][v0s[k]:v1s[k]].max())
            else:
                t_vm = sim_ns
            acqs = int(e["acquisitions"].sum())
            ipis_done = int(e["ipis_done"].sum())
            vm_rows.append({
                "rep": r, "vm": v.name, "lock": v.lock, "vcpus": v.vcpus, "ops": ops,
                "sim_ns": t_vm,
                "ops_per_s": ops / t_vm * 1e9 if (v.lock and t_vm > 0) else float("nan"),
                "pcpus_used": float(e["run_ns"].sum()) / sim_ns if sim_ns > 0 else float("nan"),
                "fair_pcpus": float(fair[k]),
                "steal_ns": int(e["steal_ns"].sum()), "max_wait_ns": int(e["max_wait_ns"].max()),
                "preemptions": int(e["preemptions"].sum()), "halts": int(e["halts"].sum()),
                "kicks": int(e["kicks"].sum()), "ple_exits": int(e["ple_exits"].sum()),
                "yields": int(e["yields"].sum()), "boosted": int(e["boosted"].sum()),
                "polls_ok": int(e["polls_ok"].sum()), "migrations": int(e["migrations"].sum()),
                "wake_preemptions": int(e["wake_preemptions"].sum()),
                "lock_wait_ns": float(e["lock_wait_ns"].sum()) / acqs if acqs else float("nan"),
                "lhp": int(e["lhp"].sum()), "lwp": int(e["lwp"].sum()),
                "ipis": int(e["ipis"].sum()),
                "ipi_wait_ns": float(e["ipi_wait_ns"].sum()) / ipis_done
                if ipis_done else float("nan"),
                "ipi_preempted": int(e["ipi_preempted"].sum()),
                "pv_flush_flags": int(e["pv_flush_flags"].sum()),
                **_wait_percentiles(HO[n + 1:, k] if v.lock is not None else None),
                "per_vcpu_sd": float(np.std(e["ops"] if v.lock else e["run_ns"] / sim_ns,
                                            ddof=1))
                if v.vcpus > 1 else float("nan"),
            })
        sum_rows.append({"rep": r, "status": STATUS_TEXT.get(status, str(status)),
                         "events": int(G[st.G_EVENTS]), "sim_ns": sim_ns,
                         "ple_exits": int(G[st.G_PLE_EXITS]),
                         "directed_yields": int(G[st.G_DYIELDS]),
                         "halts": int(sum(G[st.G_HALT0 + j] for j in range(st.HALT_IDLE))),
                         "idle_halts": int(G[st.G_HALT0 + st.HALT_IDLE]),
                         "kicks": int(G[st.G_KICKS]), "preemptions": int(G[st.G_PREEMPTS]),
                         "lhp": int(G[st.G_LHP]), "lwp": int(G[st.G_LWP]),
                         "ipis": int(G[st.G_IPIS]),
                         "ipi_preempted": int(G[st.G_IPI_PREEMPTED]),
                         "pv_flush_flags": int(G[st.G_IPI_FLAGGED]),
                         "wakeup_preemptions": int(G[st.G_WAKE_PREEMPTS])})
    vmf = pd.DataFrame(vm_rows)
    # keep the user's VM order in every frame
    rank = {v.name: i for i, v in enumerate(vms)}
    vmf = vmf.sort_values(["rep", "vm"], key=lambda s: s.map(rank) if s.name == "vm" else s,
                          kind="stable").reset_index(drop=True)
    summary = pd.DataFrame(sum_rows)
    waits = pd.concat(wait_rows, ignore_index=True)
    locks = pd.concat(lock_rows, ignore_index=True)
    return HostResult(vmf, pd.concat(ent_rows, ignore_index=True), summary,
                      replication_spread(vmf), host, vms, failures, waits, locks)


def replication_spread(vmf: pd.DataFrame) -> pd.DataFrame:
    """Per VM: its headline number across replications (``ops_per_s`` for a lock VM,
    ``pcpus_used`` for a CPU-bound one) with a 95 % t-interval of the mean, and whether
    the replications agree. Each replication's own standard error is taken from the
    spread of its vCPUs (the VM total is a sum over its vCPUs: se = sqrt(vcpus) x their
    sd, scaled like the headline); Cochran's homogeneity statistic sum((x_r - mean)^2 /
    se_r^2) is chi-square with reps - 1 degrees of freedom when the replications measure
    the same thing; ``flagged`` when its p-value is below 0.001, i.e. the replications
    disagree far beyond their own intervals (a bistable or seed-dependent cell)."""
    rows = []
    for name, g in vmf.groupby("vm", sort=False):
        lock = g["lock"].iloc[0]
        lock = lock if isinstance(lock, str) else None
        col = "ops_per_s" if lock else "pcpus_used"
        x = g[col].to_numpy(float)
        R = len(x)
        mean = float(np.mean(x))
        if R > 1:
            sd = float(np.std(x, ddof=1))
            half = float(stats.t.ppf(0.975, R - 1) * sd / math.sqrt(R))
        else:
            sd, half = float("nan"), float("nan")
        # within-replication standard errors, in the headline's units
        nv = g["vcpus"].to_numpy(float)
        per = g["per_vcpu_sd"].to_numpy(float)
        if lock:
            se = np.sqrt(nv) * per / g["sim_ns"].to_numpy(float) * 1e9
        else:
            se = np.sqrt(nv) * per
        p = float("nan")
        if R > 1 and np.all(np.isfinite(se)) and np.all(se > 0):
            q = float(np.sum((x - mean) ** 2 / se**2))
            p = float(stats.chi2.sf(q, R - 1))
        rows.append({"vm": name, "lock": lock, "metric": col, "reps": R, "mean": mean,
                     "sd": sd, "ci_lo": mean - half, "ci_hi": mean + half,
                     "rel_halfwidth": half / mean if mean else float("nan"),
                     "p_homogeneous": p, "flagged": bool(p < 1e-3) if p == p else False})
    return pd.DataFrame(rows)
