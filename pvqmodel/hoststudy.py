"""The host study: one lock's VM sharing a Linux/KVM host with co-tenant VMs, under the
FIFO round robin, CFS and EEVDF, with pause-loop exiting and halt polling off and on.

Owns the experiment behind notebook 06, the ``host-schedulers`` figure and
``data/processed/host_study.csv`` (``pvqmodel reproduce``): a lock VM of ``vcpus`` vCPUs
on a host of ``pcpus`` pCPUs (a :class:`~pvqmodel.host.Host` preset with its pCPU count
replaced) beside 0-2 co-tenants of the same size (CPU-bound loops, ``VM(lock=None)``, or
VMs running the same lock), each cell run by :func:`pvqmodel.hostsim.simulate_host` for
a fixed simulated time. Its headline is the **slowdown against fair share**: the VM's
throughput alone on dedicated pCPUs (the same host kernel and KVM with ``pcpus =
vcpus`` and nothing else, run with its own seeds) scaled by ``fair_pcpus / vcpus``,
divided by its throughput on the shared host; 1 means the VM gets exactly what its
share of the pCPUs is worth, above 1 is what the lock loses to preemption, PLE exits and
halts on top of sharing. Beside it the per-operation PLE exits, halts, kicks, directed
yields and steal time, each with a 95 % Student-t interval over replications, and the
replication-homogeneity flag of :func:`pvqmodel.hostsim.replication_spread`. Seeds
come from one root seed: every cell's replication ``i`` uses the same stream (common
random numbers: cells differ by their settings, not by luck), the dedicated baselines
another; cells run on worker threads and the result does not depend on how many.
:func:`host_cost_sweep` runs one cell across a cost parameter's stated preset range
(``Host.preset_ranges``), the costs no kernel source pins down.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from .host import SCHEDULERS, THINK_MODES, VM, Host
from .params import Workload
from .validate import check_bool, check_choice, check_float, check_instance, check_int, check_seed

__all__ = ["COTENANTS", "FULL_SIZE", "HOST_STUDY_COLUMNS", "HOST_STUDY_LOCKS",
           "host_cost_sweep", "host_for", "host_study", "slowdown_interval"]

#: The study's default locks: the current PV qspinlock and the native ticket lock as the
#: reference without PV hooks (it never halts; only PLE can help it).
HOST_STUDY_LOCKS = ("pv-qspinlock", "ticket")
#: What a co-tenant VM runs: ``"cpu"`` a CPU-bound loop (``VM(lock=None)``), ``"lock"``
#: the study's lock with the same workload.
COTENANTS = ("cpu", "lock")
#: The size ``make reproduce`` runs (its ``--host-reps`` / ``--host-duration-ms``
#: defaults): 16 pCPUs and VMs of 16 vCPUs, 50 ms of simulated time, 8 replications per
#: cell; with both co-tenant kinds 120 cells and 24 baselines, about 40 s on two cores (measured
#: 2026-11-29). The tests use 2-4 pCPUs and vCPUs and 1-60 ms.
FULL_SIZE = dict(pcpus=16, vcpus=16, duration_ms=50.0, reps=8)
CONFIDENCE = 0.95

#: Columns of :func:`host_study`'s frame and what they hold (``_lo``/``_hi`` columns
#: are the 95 % interval of the column they follow).
HOST_STUDY_COLUMNS = {
    "lock": "the lock VM's lock", "scheduler": "host scheduler (rr, cfs, eevdf)",
    "ple": "pause-loop exiting on", "halt_poll": "KVM halt polling on",
    "vms": "VMs on the host (the lock VM plus co-tenants)",
    "cotenant": "what the co-tenants run (cpu, lock; none with one VM)",
    "think": "think time spent computing or idle in HLT", "pcpus": "host pCPUs",
    "vcpus": "vCPUs of every VM", "reps": "replications the numbers come from",
    "failed_reps": "replications the engine stopped with a failure status (left out)",
    "ops_per_s": "lock VM throughput on the host (mean)",
    "base_ops_per_s": "lock VM throughput alone on vcpus dedicated pCPUs (mean)",
    "ns_per_op": "1e9 / ops_per_s: simulated ns per lock operation of the whole VM",
    "fair_pcpus": "pCPUs the lock VM is entitled to (fair_pcpus)",
    "pcpus_used": "pCPUs' worth of run time the lock VM got (mean)",
    "cotenant_pcpus_used": "pCPUs' worth each co-tenant got (mean over them; NaN alone)",
    "slowdown": "base_ops_per_s * fair_pcpus / vcpus / ops_per_s",
    "ple_exits_per_op": "PLE exits per lock operation",
    "halts_per_op": "halts per lock operation", "kicks_per_op": "kicks per operation",
    "yields_per_op": "successful directed yields per operation",
    "steal_ns_per_op": "runnable-not-running time of the VM's threads per operation",
    "max_wait_ns": "longest runnable wait of any lock VM thread (max over reps)",
    "p_homogeneous": "replication homogeneity p-value (replication_spread)",
    "flagged": "replications disagree beyond their own intervals",
    "base_flagged": "the dedicated baseline's replications disagree",
}
_PER_OP = ("ple_exits", "halts", "kicks", "yields", "steal_ns")


def _t_interval(x) -> tuple[float, float, float]:
    """Mean of ``x`` with its two-sided 95 % Student-t interval (NaN with < 2 values)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, x.size - 1) * x.std(ddof=1)
                 / math.sqrt(x.size))
    return m, m - half, m + half


def slowdown_interval(base, host, scale: float) -> tuple[float, float, float]:
    """``scale * mean(base) / mean(host)`` with a 95 % interval: the two means are
    independent (different seeds), so the variance of the log of their ratio is the sum
    of their squared relative standard errors (delta method); the interval is
    ``exp(+-t * se)`` around the ratio, ``t`` at the Welch-Satterthwaite degrees of
    freedom. NaN interval if either side has fewer than two finite values."""
    b = np.asarray(base, float)
    h = np.asarray(host, float)
    b, h = b[np.isfinite(b)], h[np.isfinite(h)]
    if b.size == 0 or h.size == 0 or b.mean() <= 0 or h.mean() <= 0:
        return math.nan, math.nan, math.nan
    ratio = scale * float(b.mean()) / float(h.mean())
    if b.size < 2 or h.size < 2:
        return ratio, math.nan, math.nan
    vb = b.var(ddof=1) / b.size / b.mean() ** 2
    vh = h.var(ddof=1) / h.size / h.mean() ** 2
    v = vb + vh
    if v <= 0:
        return ratio, ratio, ratio
    df = v**2 / (vb**2 / (b.size - 1) + vh**2 / (h.size - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(v))
    return ratio, ratio * math.exp(-half), ratio * math.exp(half)


def host_for(preset: str | Host, *, pcpus: int, scheduler: str, ple: bool,
             halt_poll: bool) -> Host:
    """The study's host: ``preset`` (a name or a :class:`Host`) with ``pcpus`` pCPUs
    (on the preset's sockets if they divide evenly, else one socket), ``scheduler``,
    KVM's PLE off with ``ple_gap = 0`` (vmx.c ``hardware_setup``) and halt polling off
    with ``halt_poll_ns = 0`` (both otherwise the preset's own values). A preset without
    halt polling (3.x) stays without it: ``halt_poll=True`` there changes nothing."""
    base = Host.preset(preset) if isinstance(preset, str) else check_instance(
        "preset", preset, Host)
    pcpus = check_int("pcpus", pcpus, 1, 256)
    scheduler = check_choice("scheduler", scheduler, tuple(SCHEDULERS))
    sockets = base.sockets if pcpus % base.sockets == 0 else 1
    kvm = base.kvm
    if not check_bool("ple", ple):
        kvm = kvm.replace(ple_gap=0)
    if not check_bool("halt_poll", halt_poll):
        kvm = kvm.replace(halt_poll_ns=0.0)
    return base.replace(pcpus=pcpus, sockets=sockets, scheduler=scheduler, kvm=kvm)


def _vms(lock, vcpus, nvms, cotenant, think, think_ns, think_dist, workload,
         placement="free"):
    """The lock VM ``a`` and ``nvms - 1`` co-tenants ``c1``, ``c2``, ..."""
    kw = dict(think_ns=think_ns, think_dist=think_dist, think=think, workload=workload,
              placement=placement)
    out = [VM("a", vcpus, lock=lock, **kw)]
    for i in range(1, nvms):
        out.append(VM(f"c{i}", vcpus, placement=placement) if cotenant == "cpu" else
                   VM(f"c{i}", vcpus, lock=lock, **kw))
    return out


def _run(host, vms, duration_ns, reps, seed):
    """One cell: the lock VM's per-replication rows, the co-tenants' mean pCPU share
    per replication, and the lock VM's homogeneity test. A replication the engine
    stops with a failure status (its checks found an impossible state) is left out of
    every number and counted in ``failed_reps``; if all fail, the error is raised."""
    from .hostsim import replication_spread, simulate_host
    from .sim import SimulationError

    res = simulate_host(host, vms, duration_ns=duration_ns, reps=reps, seed=seed,
                        check=False)
    v = res.vms[~res.vms["rep"].isin(list(res.failures))]
    if v.empty:
        raise SimulationError(f"every replication failed on {host.scheduler}, VMs "
                              f"{[m.name for m in vms]}: {res.summary['status'].tolist()}",
                              None, next(iter(res.failures.values())))
    a = v[v["vm"] == "a"].sort_values("rep").reset_index(drop=True)
    co = v[v["vm"] != "a"].groupby("rep")["pcpus_used"].mean()
    sp = replication_spread(v).set_index("vm").loc["a"]
    return a, co, sp, len(res.failures)


def _cell_row(key, a, co, sp, failed, base_a, base_sp) -> dict:
    lock, scheduler, ple, halt_poll, nvms, cotenant, think, pcpus, vcpus = key
    row = dict(lock=lock, scheduler=scheduler, ple=ple, halt_poll=halt_poll, vms=nvms,
               cotenant=cotenant, think=think, pcpus=pcpus, vcpus=vcpus, reps=len(a),
               failed_reps=failed)
    ops = a["ops"].to_numpy(float)
    for name, x in (("ops_per_s", a["ops_per_s"]), ("base_ops_per_s", base_a["ops_per_s"]),
                    ("pcpus_used", a["pcpus_used"])):
        row[name], row[f"{name}_lo"], row[f"{name}_hi"] = _t_interval(x)
    # time per operation of the whole VM (pvqmodel.simulate's ns_per_op): the interval
    # is the throughput's, inverted
    def inv(x):  # an interval end at or below 0 ops/s is an unbounded time per op
        return x if math.isnan(x) else (1e9 / x if x > 0 else math.inf)

    row["ns_per_op"] = inv(row["ops_per_s"])
    row["ns_per_op_lo"], row["ns_per_op_hi"] = inv(row["ops_per_s_hi"]), inv(row["ops_per_s_lo"])
    fair = float(a["fair_pcpus"].iloc[0])
    row["fair_pcpus"] = fair
    row["cotenant_pcpus_used"] = float(co.mean()) if len(co) else math.nan
    row["slowdown"], row["slowdown_lo"], row["slowdown_hi"] = slowdown_interval(
        base_a["ops_per_s"], a["ops_per_s"], fair / vcpus)
    for c in _PER_OP:
        per = a[c].to_numpy(float) / np.maximum(ops, 1.0)
        row[f"{c}_per_op"], row[f"{c}_per_op_lo"], row[f"{c}_per_op_hi"] = _t_interval(per)
    row["max_wait_ns"] = int(a["max_wait_ns"].max())
    row["p_homogeneous"] = float(sp["p_homogeneous"])
    row["flagged"] = bool(sp["flagged"])
    row["base_flagged"] = bool(base_sp["flagged"])
    return row


def _tuple(name, values, check):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must be a non-empty sequence, got {values!r}")
    return tuple(dict.fromkeys(check(f"{name}[]", v) for v in values))


def host_study(*, locks=HOST_STUDY_LOCKS, preset: str | Host = "current-6.13",
               pcpus: int = FULL_SIZE["pcpus"], vcpus: int = FULL_SIZE["vcpus"],
               schedulers=("rr", "cfs", "eevdf"), ple=(False, True), halt_poll=(False, True),
               vms=(1, 2, 3), cotenants=("cpu",), think: str = "compute",
               think_ns: float = 16_000.0, think_dist: str = "exp", cs_ns: float = 250.0,
               workload: Workload | None = None, placement: str = "free",
               duration_ms: float = FULL_SIZE["duration_ms"], reps: int = FULL_SIZE["reps"],
               seed: int = 0, workers: int | None = None, progress: bool = False,
               return_reps: bool = False):
    """Run every combination of ``locks`` x ``schedulers`` x ``ple`` x ``halt_poll`` x
    ``vms`` (VMs on the host) x ``cotenants`` (what the other VMs run; one-VM cells have
    ``cotenant = "none"``) on ``preset`` resized to ``pcpus`` pCPUs (:func:`host_for`),
    every VM with ``vcpus`` vCPUs, for ``duration_ms`` of simulated time, ``reps``
    replications each; and each lock's dedicated baseline under every scheduler, PLE
    and halt-poll setting (the same host with ``pcpus = vcpus`` and the lock VM alone).

    Workload of a lock VM: lock, a critical section of ``cs_ns`` (deterministic), unlock,
    the workload's loop overhead, then ``think_ns`` of think time from ``think_dist``
    (``"det"`` or ``"exp"``), spent computing (``think = "compute"``) or idle in HLT
    (``"sleep"``: KVM's halt polling, then a block, then a timer wake-up). The defaults
    (16 us exponential compute think, 250 ns critical section) are the issue's case of a
    VM that uses its CPUs and takes a moderately contended lock. With ``"sleep"`` the VM
    needs less than its fair share, and a slowdown below 1 is then possible.
    ``workload``: a :class:`~pvqmodel.params.Workload` instead of ``Workload(cs_ns=
    cs_ns)`` (``cs_ns`` is then ignored; e.g. ``default_workload()``, the seed
    benchmark). ``placement``: every VM's vCPUs ``"free"`` (the host balances them) or
    ``"pinned"`` (vCPU i of every VM on pCPU ``i mod pcpus``: with equal VMs, each pCPU
    holds one thread of each, as the old ``Schedule(overcommit=...)`` pinned them).

    Seeds: ``SeedSequence(seed)`` gives one seed for every shared-host cell (replication
    ``i`` of every cell draws the same stream) and one for the baselines. ``workers``
    threads (default: one per core) run the cells; results do not depend on it.

    Returns one row per cell (:data:`HOST_STUDY_COLUMNS`; means with ``_lo``/``_hi``
    95 % t-intervals over replications, the slowdown's by the delta method,
    :func:`slowdown_interval`). With ``return_reps`` also the lock VM's per-replication
    rows of ``simulate_host`` (cell columns added), and those of the baselines."""
    from .locks import ALIASES, BY_NAME

    def lock_name(name, v):
        return check_choice(name, ALIASES.get(v, v) if isinstance(v, str) else v,
                            tuple(BY_NAME))

    locks = _tuple("locks", locks, lock_name)
    pcpus = check_int("pcpus", pcpus, 1, 256)
    vcpus = check_int("vcpus", vcpus, 1, 256)
    schedulers = _tuple("schedulers", schedulers,
                        lambda n, v: check_choice(n, v, tuple(SCHEDULERS)))
    ples = _tuple("ple", ple, check_bool)
    polls = _tuple("halt_poll", halt_poll, check_bool)
    nvms = _tuple("vms", vms, lambda n, v: check_int(n, v, 1, 3))
    cotenants = _tuple("cotenants", cotenants, lambda n, v: check_choice(n, v, COTENANTS))
    think = check_choice("think", think, THINK_MODES)
    think_ns = check_float("think_ns", think_ns, 0.0, 1e10)
    think_dist = check_choice("think_dist", think_dist, ("det", "exp"))
    cs_ns = check_float("cs_ns", cs_ns, 0.0, 1e9)
    wl = Workload(cs_ns=cs_ns) if workload is None else check_instance("workload", workload,
                                                                       Workload)
    placement = check_choice("placement", placement, ("free", "pinned"))
    duration_ns = check_float("duration_ms", duration_ms, 1e-3, 1e7) * 1e6
    reps = check_int("reps", reps, 1, 10_000)
    seed = check_seed("seed", seed)
    workers = max(1, os.cpu_count() or 1) if workers is None else check_int(
        "workers", workers, 1, 256)
    progress = check_bool("progress", progress)
    if isinstance(preset, str):
        Host.preset(preset)  # an unknown name fails here, before any run
    # every host and VM list is built (and so validated) before the first run
    hosts, base_hosts = {}, {}
    for sch in schedulers:
        for p in ples:
            for hp in polls:
                hosts[sch, p, hp] = host_for(preset, pcpus=pcpus, scheduler=sch, ple=p,
                                             halt_poll=hp)
                base_hosts[sch, p, hp] = host_for(preset, pcpus=vcpus, scheduler=sch,
                                                  ple=p, halt_poll=hp)
    cell_seed, base_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(
        2, np.uint64) >> np.uint64(1))
    jobs = []
    for lk in locks:
        for (sch, p, hp), h in base_hosts.items():
            jobs.append(("base", (lk, sch, p, hp), h,
                         _vms(lk, vcpus, 1, "cpu", think, think_ns, think_dist, wl,
                              placement),
                         base_seed))
        for (sch, p, hp), h in hosts.items():
            for n in nvms:
                for co in (("none",) if n == 1 else cotenants):
                    jobs.append(("cell", (lk, sch, p, hp, n, co, think, pcpus, vcpus), h,
                                 _vms(lk, vcpus, n, co, think, think_ns, think_dist, wl,
                                      placement),
                                 cell_seed))
    from .engine import ensure_compiled

    ensure_compiled()

    def run(job):
        kind, key, h, v, s = job
        return _run(h, v, duration_ns, reps, s)

    bar = tqdm(total=len(jobs), desc="host study", disable=not progress)
    out = []
    try:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            for r in ex.map(run, jobs):
                out.append(r)
                bar.update()
    finally:
        bar.close()
    base = {job[1]: r for job, r in zip(jobs, out, strict=True) if job[0] == "base"}
    rows, rep_rows = [], []
    for job, (a, co, sp, failed) in zip(jobs, out, strict=True):
        kind, key = job[0], job[1]
        if kind == "base":
            if return_reps:
                rep_rows.append(a.assign(kind="baseline", scheduler=key[1], ple=key[2],
                                         halt_poll=key[3], vms=1, cotenant="none",
                                         think=think))
            continue
        ba, _, bsp, _ = base[key[:4]]
        rows.append(_cell_row(key, a, co, sp, failed, ba, bsp))
        if return_reps:
            rep_rows.append(a.assign(kind="host", scheduler=key[1], ple=key[2],
                                     halt_poll=key[3], vms=key[4], cotenant=key[5],
                                     think=think))
    df = pd.DataFrame(rows)
    if not return_reps:
        return df
    return df, pd.concat(rep_rows, ignore_index=True)


def _set_param(host: Host, param: str, value) -> Host:
    """``host`` with the dotted parameter ``param`` (``"kvm.vmexit_ns"``, ``"hz"``)
    set to ``value`` (validated by Host/KVM)."""
    if param.startswith("kvm."):
        name = param[4:]
        kind = type(getattr(host.kvm, name))
        return host.replace(kvm=host.kvm.replace(**{name: kind(value)}))
    kind = type(getattr(host, param))
    return host.replace(**{param: kind(value)})


def host_cost_sweep(param: str = "kvm.vmexit_ns", *, values=None, points: int = 5,
                    preset: str = "current-6.13", lock: str = "pv-qspinlock",
                    scheduler: str = "eevdf", ple: bool = True, halt_poll: bool = True,
                    vms: int = 2, cotenant: str = "cpu", pcpus: int = FULL_SIZE["pcpus"],
                    vcpus: int = FULL_SIZE["vcpus"], think: str = "compute",
                    think_ns: float = 16_000.0, think_dist: str = "exp", cs_ns: float = 250.0,
                    duration_ms: float = FULL_SIZE["duration_ms"],
                    reps: int = FULL_SIZE["reps"], seed: int = 0, workers: int | None = None,
                    progress: bool = False) -> pd.DataFrame:
    """One cell of :func:`host_study` across one numeric parameter of ``preset``:
    ``values`` or ``points`` evenly spaced values over the range the preset states for
    ``param`` (``Host.preset_ranges(preset)``; e.g. ``"kvm.vmexit_ns"`` 300-1500 ns on
    current-6.13, ``"kvm.wake_idle_ns"``, ``"kvm.yield_to_ns"``). Each value changes
    the shared host and the dedicated baseline alike. Returns :func:`host_study`'s
    columns plus ``param`` and ``value``, one row per value (common random numbers:
    the same seeds at every value)."""
    ranges = Host.preset_ranges(preset)
    if param not in ranges:
        raise ValueError(f"param must be a numeric parameter of preset {preset!r}: one of "
                         f"{sorted(ranges)}, got {param!r}")
    if param in ("pcpus", "sockets"):
        raise ValueError(f"param must not be pcpus or sockets (the study sets them), "
                         f"got {param!r}")
    lo, hi = ranges[param]
    if values is None:
        points = check_int("points", points, 1, 101)
        values = np.linspace(lo, hi, points) if points > 1 else np.array([lo])
    vals = _tuple("values", values, lambda n, v: check_float(n, v, -1e18, 1e18))
    base = Host.preset(preset)
    frames = []
    it = tqdm(vals, desc=f"sweep {param}", disable=not check_bool("progress", progress))
    for v in it:
        h = _set_param(base, param, v)
        df = host_study(locks=(lock,), preset=h, pcpus=pcpus, vcpus=vcpus,
                        schedulers=(scheduler,), ple=(ple,), halt_poll=(halt_poll,),
                        vms=(vms,), cotenants=(cotenant,), think=think, think_ns=think_ns,
                        think_dist=think_dist, cs_ns=cs_ns, duration_ms=duration_ms,
                        reps=reps, seed=seed, workers=workers)
        frames.append(df.assign(param=param, value=float(v)))
    return pd.concat(frames, ignore_index=True)
