"""Side-by-side studies of the PV locks under a hypervisor schedule.

Owns the small, repeatable experiment behind notebook 03's sliders: the three PV
locks (``pv-ticket``, ``pv-qspinlock-v10``, ``pv-qspinlock-v10-unfair``) run the seed
benchmark on the same schedule and hardware with one root seed, and the results come
back as tidy frames (per replication: ns/op, halts, kicks, stale kicks, wake latency;
and the acquisition wait-time histogram). The thresholds are the kernel's constants
as parameters: the PV ticket lock's ``SPIN_THRESHOLD`` and the v10 ``QSPIN_THRESHOLD``
with its queue-head multiplier; the hypervisor's pause-loop exiting window and
wake-up preemption are switches of the same schedule. Also the hypervisor side
(``ple_study``): native and PV locks under pinned overcommit with pause-loop exiting
off and on, each with and without wake-up preemption.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .params import PLE_WINDOW_NS, Schedule, Workload
from .sim import LOCKS, LockTunables, default_workload, simulate
from .validate import check_choice, check_instance, check_int


def _check_locks(locks) -> tuple:
    if isinstance(locks, str) or not locks:
        raise ValueError(f"locks must be a non-empty sequence of lock names, got {locks!r}")
    return tuple(check_choice("locks[]", lk, tuple(sorted(LOCKS))) for lk in locks)

__all__ = ["PLE_STUDY_LOCKS", "PV_STUDY_LOCKS", "ple_study", "pv_lock_study"]

PV_STUDY_LOCKS = ("pv-ticket", "pv-qspinlock-v10", "pv-qspinlock-v10-unfair")
PLE_STUDY_LOCKS = ("ticket", "qspinlock", "pv-ticket", "pv-qspinlock-v10")


def pv_lock_study(*, spin_threshold: int = 1 << 15, qspin_threshold: int = 1 << 14,
                  head_mult: int = 2, overcommit: float = 2.0, quantum_ns: float = 3e6,
                  kick_ns: float = 9300.0, wake_ns: float = 58000.0,
                  ple_window_ns: float | None = None, wakeup_preempt: bool = False,
                  tasks: int = 4,
                  ops_per_task: int = 2000, reps: int = 2, seed: int = 0,
                  workload: Workload | None = None, locks=PV_STUDY_LOCKS,
                  workers: int | None = None):
    """Run each lock in ``locks`` with the same schedule; returns (summary, waits).

    The schedule is ``Schedule(overcommit=overcommit, quantum_ns=quantum_ns,
    quantum_dist="exp", kick_ns=kick_ns, wake_ns=wake_ns, ple_window_ns=ple_window_ns,
    wakeup_preempt=wakeup_preempt)`` (one pCPU per VM vCPU plus background vCPUs;
    ``ple_window_ns=None``: no pause-loop exiting); ``workload`` defaults to the
    calibrated seed benchmark. Every lock gets the same root ``seed`` (common random
    numbers for the schedule draws). ``workers`` threads run the replications (default
    one per core up to ``reps``; results do not depend on it).
    """
    locks = _check_locks(locks)
    if workers is None:
        workers = max(1, min(check_int("reps", reps, 1, 10_000), os.cpu_count() or 1))
    sched = Schedule(overcommit=overcommit, quantum_ns=quantum_ns, quantum_dist="exp",
                     kick_ns=kick_ns, wake_ns=wake_ns, ple_window_ns=ple_window_ns,
                     wakeup_preempt=wakeup_preempt)
    qspin_threshold = check_int("qspin_threshold", qspin_threshold, 2, 2**30)
    tun = LockTunables(spin_threshold=spin_threshold, qspin_threshold=qspin_threshold,
                       head_mult=head_mult, mayhalt_gap=min(0x10, qspin_threshold - 1))
    wl = default_workload() if workload is None else check_instance("workload", workload,
                                                                   Workload)
    sums, waits = [], []
    for lock in locks:
        r = simulate(lock, tasks, ops_per_task, workload=wl, schedule=sched, tunables=tun,
                     reps=reps, seed=seed, workers=workers)
        s = r.summary.copy()
        acq = s["acquisitions"].clip(lower=1)
        s["ops_per_ms"] = 1e6 / s["ns_per_op"]
        s["halts_per_1k"] = 1e3 * s["halts"] / acq
        s["kicks_per_1k"] = 1e3 * s["kicks"] / acq
        s["stale_kicks_per_1k"] = 1e3 * s["kicks_stale"] / acq
        s["ple_exits_per_1k"] = 1e3 * s["ple_exits"] / acq
        sums.append(s)
        waits.append(r.waits)
    summary = pd.concat(sums, ignore_index=True)
    w = pd.concat(waits, ignore_index=True)
    w["share"] = w["count"] / w.groupby("lock")["count"].transform("sum").clip(lower=1)
    w["mid_ns"] = np.sqrt(w["lo_ns"].clip(lower=1) * w["hi_ns"])
    return summary, w


def ple_study(*, locks=PLE_STUDY_LOCKS, tasks=(2, 4, 6, 8), overcommit: float = 2.0,
              quantum_ns: float = 1e6, ple_window_ns: float = PLE_WINDOW_NS,
              ops_per_task: int = 5000, reps: int = 3, seed: int = 0,
              workload: Workload | None = None, workers: int = 1) -> pd.DataFrame:
    """Each lock in ``locks`` at each number of ``tasks`` under pinned overcommit
    (``Schedule(overcommit=overcommit, quantum_ns=quantum_ns)``: one pCPU per VM vCPU
    plus background vCPUs), with pause-loop exiting off and on (``ple_window_ns``, KVM's
    other defaults) and wake-up preemption off and on: four schedules, the same root
    ``seed`` for all (common random numbers). Returns the summaries, one row per
    replication, with columns ``ple`` and ``wakeup_preempt`` added."""
    locks = _check_locks(locks)
    if isinstance(tasks, (str, bytes)) or not hasattr(tasks, "__iter__") or not len(tasks):
        raise ValueError(f"tasks must be a non-empty sequence of integers, got {tasks!r}")
    tasks = tuple(check_int("tasks[]", n, 1, 256) for n in tasks)
    # every schedule of the loop, validated before the first run
    Schedule(overcommit=overcommit, quantum_ns=quantum_ns, ple_window_ns=ple_window_ns)
    wl = default_workload() if workload is None else check_instance("workload", workload,
                                                                   Workload)
    rows = []
    for lock in locks:
        for n in tasks:
            for ple in (False, True):
                for wp in (False, True):
                    sched = Schedule(overcommit=overcommit, quantum_ns=quantum_ns,
                                     ple_window_ns=ple_window_ns if ple else None,
                                     wakeup_preempt=wp)
                    s = simulate(lock, n, ops_per_task, workload=wl, schedule=sched,
                                 reps=reps, seed=seed, workers=workers).summary
                    rows.append(s.assign(ple=ple, wakeup_preempt=wp))
    return pd.concat(rows, ignore_index=True)
