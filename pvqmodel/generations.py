"""The generations study: every PV lock and ``virt_spin_lock``'s test-and-set side by
side under the same randomized hypervisor schedules.

Owns the experiment behind notebook 05 and the ``generations-throughput`` and
``generations-counters`` figures: the PV ticket lock, the seed's v10 PV qspinlock (fair
and unfair), every merged PV qspinlock generation (4.2 to 5.4) and ``tas`` (what a guest
without PV spinlocks runs under a hypervisor) run the seed benchmark on dedicated pCPUs
and under pinned overcommit 1.5, 2 and 3 with pause-loop exiting off and on. Replication
``i`` of every lock and schedule runs with the same seed (common random numbers: the
same quanta phases, the same first draws of the schedule), so differences between locks
are not differences of luck in the draws. Each replication is one :func:`simulate` call,
so its acquisition-wait histogram (and so its wait quantiles) is its own. The result
is one tidy row per (lock, schedule, tasks, replication). The kernel constants and the
merged lock's behaviour switches are parameters (``LockTunables``), applied to every
lock that has them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .engine import ensure_compiled
from .locks.pv_generations import GENERATIONS
from .params import PLE_WINDOW_NS, Schedule, Workload
from .sim import PV_LOCKS, PVQ_LOCKS, LockTunables, default_workload, simulate
from .validate import (
    check_bool,
    check_choice,
    check_float,
    check_instance,
    check_int,
    check_seed,
)

__all__ = ["GEN_LOCKS", "GEN_OVERCOMMITS", "WAIT_QUANTILES", "generation_schedules",
           "generations", "wait_quantile"]

#: Every PV lock of the package, then ``tas`` (``virt_spin_lock``'s test-and-set).
GEN_LOCKS = ("pv-ticket", "pv-qspinlock-v10", "pv-qspinlock-v10-unfair", *PVQ_LOCKS, "tas")
#: Overcommit ratios of the overcommitted schedules (all vCPUs per pCPU).
GEN_OVERCOMMITS = (1.5, 2.0, 3.0)
#: Wait quantiles reported per replication (column ``wait_p50_ns`` ...).
WAIT_QUANTILES = (0.5, 0.9, 0.99)


def generation_schedules(*, overcommits=GEN_OVERCOMMITS, ple=(False, True),
                         dedicated: bool = True, quantum_ns: float = 1e5,
                         kick_ns: float = 9300.0, wake_ns: float = 58000.0,
                         ple_window_ns: float = PLE_WINDOW_NS) -> list[dict]:
    """The study's schedules: ``dedicated`` (``Schedule()``: one pCPU per vCPU, no
    scheduler) and, for each overcommit ratio and PLE setting, pinned overcommit with
    exponential quanta of mean ``quantum_ns``, exponential wake latencies of mean
    ``wake_ns``, the kicker's ``kick_ns`` and KVM's pause-loop exiting window
    ``ple_window_ns`` when PLE is on. Returns dicts with ``schedule`` (a label),
    ``overcommit``, ``ple`` and the ``Schedule`` itself (``sched``)."""
    if isinstance(overcommits, (str, bytes)) or not hasattr(overcommits, "__iter__"):
        raise ValueError(f"overcommits must be a sequence of numbers, got {overcommits!r}")
    overcommits = tuple(check_float("overcommits[]", r, 1.0, 64.0) for r in overcommits)
    ple = tuple(check_bool("ple[]", p) for p in ple)
    dedicated = check_bool("dedicated", dedicated)
    out = [dict(schedule="dedicated", overcommit=1.0, ple=False, sched=Schedule())] \
        if dedicated else []
    for r in overcommits:
        for p in ple:
            out.append(dict(
                schedule=f"r={r:g}, PLE {'on' if p else 'off'}", overcommit=r, ple=p,
                sched=Schedule(overcommit=r, quantum_ns=quantum_ns, quantum_dist="exp",
                               kick_ns=kick_ns, wake_ns=wake_ns, wake_dist="exp",
                               ple_window_ns=ple_window_ns if p else None)))
    if not out:
        raise ValueError("no schedule: give overcommits and ple, or dedicated=True")
    return out


def wait_quantile(waits: pd.DataFrame, q: float) -> float:
    """The ``q`` quantile of acquisition waits from one log2 histogram (``SimResult.waits``:
    bin ``[lo_ns, hi_ns)``, ``count``), interpolated geometrically inside its bin (the
    histogram's resolution is a factor 2, so is the quantile's). NaN if empty."""
    c = waits["count"].to_numpy(dtype=float)
    total = c.sum()
    if total <= 0:
        return float("nan")
    cum = np.cumsum(c)
    b = int(np.searchsorted(cum, q * total))
    below = cum[b - 1] if b > 0 else 0.0
    frac = (q * total - below) / c[b] if c[b] > 0 else 0.0
    lo = float(waits["lo_ns"].iloc[b]) + 1.0  # bin b: [2^b - 1, 2^(b+1) - 1)
    hi = float(waits["hi_ns"].iloc[b]) + 1.0
    return lo * (hi / lo) ** frac - 1.0


def _tunables(lock: str, base: dict) -> LockTunables:
    """The study's switches for ``lock``: stealing (``pv_steal``) exists only with the
    4.5+ queue head (which acquires with a cmpxchg and holds pending), so a 4.2-4.4
    generation keeps its ``queued_spin_trylock``; everything else applies as given."""
    kw = dict(base)
    if lock in GENERATIONS and GENERATIONS[lock]["ver"] < 405:
        kw["pv_steal"] = None
    return LockTunables(**kw)


def _row(lock, sch, n, rep, rep_seed, res) -> dict:
    s = res.summary.iloc[0]
    acq = max(int(s["acquisitions"]), 1)
    row = dict(lock=lock, schedule=sch["schedule"], overcommit=sch["overcommit"],
               ple=sch["ple"], tasks=n, rep=rep, seed=rep_seed, status=s["status"],
               ops=int(s["ops"]), acquisitions=int(s["acquisitions"]),
               ns_per_op=float(s["ns_per_op"]), ops_per_ms=1e6 / float(s["ns_per_op"]))
    for col in ("halts", "kicks", "pv_wait_early", "path_steal", "kicks_stale",
                "preemptions", "lhp", "ple_exits", "pv_kick_node", "pv_kick_unlock",
                "pv_hash_calls", "pv_wait_again", "pv_spurious_wakeup"):
        row[col] = int(s[col])
        row[f"{col}_per_1k"] = 1e3 * int(s[col]) / acq
    for q in WAIT_QUANTILES:
        row[f"wait_p{100 * q:g}_ns"] = wait_quantile(res.waits, q)
    return row


def generations(*, locks=GEN_LOCKS, tasks=(4,), ops_per_task: int = 5000, reps: int = 16,
                seed: int = 0, overcommits=GEN_OVERCOMMITS, ple=(False, True),
                dedicated: bool = True, quantum_ns: float = 1e5, kick_ns: float = 9300.0,
                wake_ns: float = 58000.0, ple_window_ns: float = PLE_WINDOW_NS,
                spin_threshold: int = 1 << 15, pv_prev_check_mask: int = 0xFF,
                pv_steal: int | None = None, pv_wait_early: bool | None = None,
                pv_preempted_check: bool | None = None, workload: Workload | None = None,
                return_waits: bool = False, workers: int | None = None,
                progress: bool = False):
    """Run every lock in ``locks`` on every schedule of :func:`generation_schedules`
    (dedicated, and overcommit x PLE off/on) with ``tasks`` contending vCPUs, ``reps``
    replications each; replication ``i`` of every configuration runs with the ``i``-th
    seed of ``SeedSequence(seed)`` (common random numbers).

    The default size (11 locks x 7 schedules x 16 replications of 4 x 5000 operations)
    takes about 30 s on two cores (measured 2026-11-29); the tests use a few hundred
    operations.
    ``spin_threshold`` is ``SPIN_THRESHOLD`` (the PV ticket lock's and the merged PV
    qspinlock's; the v10 locks keep ``QSPIN_THRESHOLD``), ``pv_prev_check_mask``
    ``PV_PREV_CHECK_MASK`` (merged 4.5+ wait-early); ``pv_steal`` (0 trylock, 1 one steal,
    2 hybrid), ``pv_wait_early`` and ``pv_preempted_check`` override every merged
    generation's own behaviour when not None (``pv_steal`` only from 4.5 on: the 4.2-4.4
    head cannot be stolen from). ``workload`` defaults to the calibrated seed benchmark.

    Returns one row per (lock, schedule, tasks, replication): lock, schedule, overcommit,
    ple, tasks, rep, seed, status, ops, acquisitions, ns_per_op, ops_per_ms, the counts
    ``halts``, ``kicks``, ``pv_wait_early``, ``path_steal`` (steals: acquisitions that
    bypassed a queue or a waiter), ``kicks_stale``, ``preemptions``, ``lhp``,
    ``ple_exits`` and a few qstat counters, each also ``*_per_1k`` acquisitions, and
    ``wait_p50_ns``, ``wait_p90_ns``, ``wait_p99_ns`` (:func:`wait_quantile` of the
    replication's acquisition waits). With ``return_waits`` also the wait histograms
    summed over replications, one per (lock, schedule, tasks), with ``share`` and
    ``mid_ns``. ``workers`` threads (default: one per core) run the replications; the
    results do not depend on it.
    """
    if isinstance(locks, str) or not len(locks):
        raise ValueError(f"locks must be a non-empty sequence of lock names, got {locks!r}")
    locks = tuple(check_choice("locks[]", lk, (*PV_LOCKS, "tas")) for lk in locks)
    if isinstance(tasks, (str, bytes)) or not hasattr(tasks, "__iter__") or not len(tasks):
        raise ValueError(f"tasks must be a non-empty sequence of integers, got {tasks!r}")
    tasks = tuple(check_int("tasks[]", n, 1, 64) for n in tasks)
    ops_per_task = check_int("ops_per_task", ops_per_task, 1, 10**8)
    reps = check_int("reps", reps, 1, 10_000)
    seed = check_seed("seed", seed)
    return_waits = check_bool("return_waits", return_waits)
    progress = check_bool("progress", progress)
    workers = max(1, os.cpu_count() or 1) if workers is None else check_int(
        "workers", workers, 1, 256)
    base = dict(spin_threshold=spin_threshold, pv_prev_check_mask=pv_prev_check_mask,
                pv_steal=pv_steal, pv_wait_early=pv_wait_early,
                pv_preempted_check=pv_preempted_check)
    tuns = {lk: _tunables(lk, base) for lk in locks}  # validates the switches up front
    scheds = generation_schedules(overcommits=overcommits, ple=ple, dedicated=dedicated,
                                  quantum_ns=quantum_ns, kick_ns=kick_ns, wake_ns=wake_ns,
                                  ple_window_ns=ple_window_ns)
    wl = default_workload() if workload is None else check_instance("workload", workload,
                                                                   Workload)
    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(reps, np.uint32)]
    jobs = [(lk, sch, n, i) for sch in scheds for n in tasks for lk in locks
            for i in range(reps)]
    ensure_compiled()

    def run(job):
        lk, sch, n, i = job
        res = simulate(lk, n, ops_per_task, workload=wl, schedule=sch["sched"],
                       tunables=tuns[lk], reps=1, seed=seeds[i])
        return _row(lk, sch, n, i, seeds[i], res), res.waits["count"].to_numpy()

    bar = tqdm(total=len(jobs), desc="generations", disable=not progress)
    try:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            out = []
            for r in ex.map(run, jobs):
                out.append(r)
                bar.update()
    finally:
        bar.close()
    df = pd.DataFrame([r for r, _ in out])
    if not return_waits:
        return df
    hists = {}
    for (lk, sch, n, _), (_, h) in zip(jobs, out, strict=True):
        key = (lk, sch["schedule"], n)
        hists[key] = hists[key] + h if key in hists else h.copy()
    frames = []
    for (lk, name, n), h in hists.items():
        b = np.arange(len(h))
        frames.append(pd.DataFrame({"lock": lk, "schedule": name, "tasks": n, "bin": b,
                                    "lo_ns": 2.0**b - 1, "hi_ns": 2.0 ** (b + 1) - 1,
                                    "count": h.astype(np.int64)}))
    w = pd.concat(frames, ignore_index=True)
    w["share"] = w["count"] / w.groupby(["lock", "schedule", "tasks"])["count"].transform(
        "sum").clip(lower=1)
    w["mid_ns"] = np.sqrt(w["lo_ns"].clip(lower=1) * w["hi_ns"])
    return df, w
