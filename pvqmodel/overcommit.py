"""The overcommit study's numbers: per-scenario slowdown against fair share and per-op
counters, computed from a sweep's Parquet dataset (never by running the engine).

Owns :func:`overcommit_table`: one row per shared-host scenario of a sweep
(:mod:`pvqmodel.sweeps`) and VM size in it. The **headline** is the slowdown against
fair share, as :mod:`pvqmodel.hoststudy` defines it: ``slowdown = B * (f / v) / X``
where ``X`` is the mean over replications of the scenario's VMs' throughput (lock
operations per second of a whole VM, averaged over the scenario's VMs of that size in
each replication: they are exchangeable), ``B`` the mean throughput of the same VM
(lock, workload, host kernel, PLE and halt-poll setting) alone on ``v`` dedicated pCPUs
(the sweep's ``baseline`` scenarios, with their own seeds), ``v`` its vCPUs and ``f``
its fair share of the host's pCPUs (``fair_pcpus``: water-filling by cgroup shares,
capped at ``v``). 1 means the VM gets exactly what its share of the pCPUs is worth; 2
means each lock operation costs twice the time its share predicts, i.e. the lock loses
half of the VM's share to preemption, PLE exits and halts. A VM that needs less than
its share (think time spent sleeping) can be below 1. Its 95 % interval is
:func:`pvqmodel.hoststudy.slowdown_interval` (delta method over the two independent
sets of replications); ``rel_halfwidth`` is half the interval's width over the
slowdown, and ``meets_target`` says whether it is within :data:`TARGET_REL_HALFWIDTH`.
Per-op counters (halts, kicks, PLE exits, directed yields, steal time) come with
Student-t intervals over replications.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["OVERCOMMIT_COLUMNS", "TARGET_REL_HALFWIDTH", "overcommit_table"]

#: The study's precision target on the headline: a 95 % interval of +-5 %.
TARGET_REL_HALFWIDTH = 0.05
#: Scenario columns that, with the VM size, identify a VM's dedicated baseline.
_MATCH = ("lock", "workload", "preset", "scheduler", "ple", "halt_poll", "duration_ms",
          "ops_per_vcpu")
_SCEN = ("study", "key", "lock", "workload", "preset", "scheduler", "pcpus", "ple",
         "halt_poll", "layout", "n_vms", "total_vcpus", "overcommit", "duration_ms",
         "ops_per_vcpu")
_PER_OP = ("halts", "kicks", "ple_exits", "yields", "steal_ns")
#: columns of HostResult.vms used when the engine reports them (means, and per op)
_OPTIONAL_MEANS = ("lock_wait_p50_ns", "lock_wait_p90_ns", "lock_wait_p99_ns", "ipi_wait_ns")
_OPTIONAL_PER_OP = ("lhp", "lwp", "ipis")

OVERCOMMIT_COLUMNS = {
    "vm_vcpus": "vCPUs of the VMs this row is about (all VMs of that size in the layout)",
    "vms_of_size": "how many such VMs the layout has",
    "reps": "replications", "failed_reps": "replications the engine stopped with a failure",
    "ops_per_s": "mean throughput of one such VM (lock ops/s), with _lo/_hi",
    "base_ops_per_s": "the same VM alone on vm_vcpus dedicated pCPUs (mean), with _lo/_hi",
    "base_reps": "baseline replications",
    "fair_pcpus": "the VM's fair share of pCPUs",
    "pcpus_used": "pCPUs' worth of run time it got (mean)",
    "slowdown": "base_ops_per_s * fair_pcpus / vm_vcpus / ops_per_s, with _lo/_hi (95 %)",
    "rel_halfwidth": "(slowdown_hi - slowdown_lo) / 2 / slowdown",
    "meets_target": "rel_halfwidth <= TARGET_REL_HALFWIDTH",
    "ns_per_op": "1e9 / ops_per_s",
    "lock_wait_ns": "mean lock wait per acquisition (mean over replications)",
    "lock_wait_vcpu_max_ns": "largest per-vCPU mean lock wait (mean over replications)",
    "makespan_ns": "fixed work: time until the VM's last vCPU finished (mean)",
    "lhp_per_op": "lock-holder preemptions of the VM per lock operation (engines without a "
                  "per-VM count: the host's, per lock operation of all VMs)",
    "lwp_per_op": "lock-waiter preemptions per lock operation (when reported)",
    "lock_wait_p99_ns": "99th percentile lock wait (log2-histogram edge; mean over "
                        "replications; also _p50_, _p90_)",
    "ipi_wait_ns": "mean IPI wait (when the workload sends IPIs)",
    **{f"{c}_per_op": f"{c} per lock operation (mean over replications), with _lo/_hi"
       for c in _PER_OP},
}


def _t(x):
    from .hoststudy import _t_interval

    return _t_interval(x)


def _per_rep(rows: pd.DataFrame) -> pd.DataFrame:
    """Per replication: the mean over the VMs in ``rows`` (same scenario, same size)."""
    num = rows.select_dtypes(include=[np.number, "bool"]).columns
    g = rows.groupby("rep", sort=True)
    out = g[list(num.drop("rep", errors="ignore"))].mean()
    out["run_status"] = g["run_status"].first()
    return out


def overcommit_table(df: pd.DataFrame, *, target: float = TARGET_REL_HALFWIDTH
                     ) -> pd.DataFrame:
    """One row per shared-host scenario and VM size of the sweep results ``df``
    (:func:`pvqmodel.sweeps.sweep_results`); see :data:`OVERCOMMIT_COLUMNS` and the
    module docstring for the definitions. Scenarios without a matching baseline get a
    NaN slowdown. Replications with a failure status are left out (``failed_reps``)."""
    from .hoststudy import slowdown_interval

    if df.empty:
        return pd.DataFrame(columns=[*_SCEN, *OVERCOMMIT_COLUMNS])
    df = df.copy()
    df["duration_ms"] = df["duration_ms"].fillna(-1.0)  # NaN never matches in groupby
    ok = df["run_status"] == "ok"
    base = {}
    for k, g in df[(df["role"] == "baseline") & ok].groupby([*_MATCH, "vcpus"],
                                                             sort=False):
        base[k] = g.sort_values("rep")["ops_per_s"].to_numpy(float)
    rows = []
    shared = df[df["role"] == "shared"]
    for (_, size), g in shared.groupby(["key", "vcpus"], sort=False):
        first = g.iloc[0]
        row = {c: first[c] for c in _SCEN}
        reps_all = g["rep"].nunique()
        good = g[g["run_status"] == "ok"]
        per = _per_rep(good) if len(good) else None
        row.update(vm_vcpus=int(size), vms_of_size=int(g["vm"].nunique()),
                   reps=int(per.shape[0]) if per is not None else 0,
                   failed_reps=int(reps_all - (per.shape[0] if per is not None else 0)))
        b = base.get((*(first[c] for c in _MATCH), size), np.array([]))
        row["base_reps"] = int(b.size)
        x = per["ops_per_s"].to_numpy(float) if per is not None else np.array([])
        row["ops_per_s"], row["ops_per_s_lo"], row["ops_per_s_hi"] = _t(x)
        row["base_ops_per_s"], row["base_ops_per_s_lo"], row["base_ops_per_s_hi"] = _t(b)
        fair = float(g["fair_pcpus"].iloc[0])
        row["fair_pcpus"] = fair
        row["pcpus_used"] = float(per["pcpus_used"].mean()) if per is not None else math.nan
        s, lo, hi = slowdown_interval(b, x, fair / size)
        row["slowdown"], row["slowdown_lo"], row["slowdown_hi"] = s, lo, hi
        row["rel_halfwidth"] = (hi - lo) / 2 / s if s == s and s > 0 else math.nan
        row["meets_target"] = bool(row["rel_halfwidth"] <= target)
        row["ns_per_op"] = 1e9 / row["ops_per_s"] if row["ops_per_s"] > 0 else math.inf
        for c in ("lock_wait_ns", "lock_wait_vcpu_max_ns", "makespan_ns", *_OPTIONAL_MEANS):
            if c in g.columns:
                row[c] = float(per[c].mean()) if per is not None else math.nan
        if per is not None:
            ops = np.maximum(per["ops"].to_numpy(float), 1.0)
            for c in (*_PER_OP, *(c for c in _OPTIONAL_PER_OP if c in per.columns)):
                row[f"{c}_per_op"], row[f"{c}_per_op_lo"], row[f"{c}_per_op_hi"] = _t(
                    per[c].to_numpy(float) / ops)
            if "lhp" not in per.columns:  # an engine without per-VM LHP counts
                # run_lhp is host-wide: per operation of all the scenario's VMs
                tot = good.groupby("rep")["ops"].sum().clip(lower=1)
                row["lhp_per_op"] = float((good.groupby("rep")["run_lhp"].first()
                                           / tot).mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    out["duration_ms"] = out["duration_ms"].where(out["duration_ms"] >= 0)
    return out.sort_values(["workload", "ple", "lock", "overcommit", "n_vms"],
                           kind="stable").reset_index(drop=True)
