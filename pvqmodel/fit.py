"""Fitting the analytical models of :mod:`pvqmodel.queueing` to the seed table.

Owns which model applies to which column and N range, the least-squares fits
(``scipy.optimize.least_squares`` on relative residuals, so every cell weighs the same
whatever its size), the 95 % parameter intervals (from the Jacobian with Student-t
quantiles, or a residual bootstrap), and the report: a tidy ``params`` table, a tidy
``points`` table with every cell of each fitted column (cells outside a model's fit
range are kept, marked ``in_fit=False`` and explained in ``note``), and a ``summary``
that compares each fit's worst relative error with the project's target.

Why these ranges (see ``../shared/reference/models.md`` §0-§2): with N >= 2 the lock is
never idle (the loop body is a few ns against a handoff of 100+ ns), so every contended
cell is the saturated limit N K h(N) and the think time is not identifiable (a free
fit of Z in the BW chain returns 0.6 ns with an interval spanning zero; it is fixed at
0, the saturated limit). N = 1 runs the uncontended fast path with the lock line
resident in the one task's cache: no handoff, so no contention model applies to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from . import queueing
from .data import SEED_OPS_PER_TASK, seed_table
from .validate import check_choice, check_instance, check_int, check_seed

__all__ = ["AnalyticFit", "ModelSpec", "MODEL_SPECS", "fit_analytic", "fit_model"]


@dataclass(frozen=True)
class ModelSpec:
    """One analytical model applied to one column of the table."""

    model: str  #: short stable name
    lock: str  #: "ticket" | "queue"
    pv: str  #: "off" | "on"
    min_tasks: int  #: fit range is min_tasks..8
    names: tuple[str, ...]  #: fitted parameter names
    units: tuple[str, ...]
    p0: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    ns_per_op: Callable[[np.ndarray, np.ndarray], np.ndarray]  #: (tasks, params) -> ns/op
    target: float | None  #: max |rel err| the project aims for in the fit range
    fixed: dict = field(default_factory=dict)  #: name -> (value, unit, why)
    remark: str = ""  #: what the fitted values mean physically, shown in the summary


def _bw_ns_per_op(tasks, p):
    # Z = 0: the saturated limit, see module docstring.
    return np.array([queueing.bw_chain(n, p[0], p[1], 0.0).time_per_op for n in tasks])


def _constant_ns_per_op(tasks, p):
    return queueing.constant_handoff_time(tasks, 1.0, p[0]) / np.asarray(tasks, float)


def _repairman_ns_per_op(tasks, p):
    return np.array([queueing.repairman(n, p[0], p[1]).time_per_op for n in tasks])


_BW = dict(
    names=("serial", "per_waiter"),
    units=("ns", "ns"),
    p0=(70.0, 30.0),
    lower=(1.0, 0.0),
    upper=(1000.0, 500.0),
    ns_per_op=_bw_ns_per_op,
    fixed={"think": (0.0, "ns", "saturated limit: Z not identifiable when Z << S")},
)
_CONST = dict(
    names=("handoff",), units=("ns",), p0=(140.0,), lower=(1.0,), upper=(1000.0,),
    ns_per_op=_constant_ns_per_op,
)

#: The fits :func:`fit_analytic` performs, with the project's targets.
MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("bw-chain", "ticket", "off", 2, target=0.02, **_BW),
    ModelSpec("bw-chain", "ticket", "on", 3, target=None, **_BW, remark=(
        "per_waiter rises from ~30 to ~44 ns: the PV unlock's locked add and slowpath-flag "
        "re-read compete with every spinner's re-read of the lock line")),
    ModelSpec("constant-handoff", "queue", "off", 4, target=0.025, **_CONST),
    ModelSpec("constant-handoff", "queue", "on", 5, target=0.025, **_CONST),
    ModelSpec(
        "repairman", "queue", "off", 4, target=None,
        names=("service", "think"), units=("ns", "ns"), p0=(140.0, 100.0),
        lower=(1.0, 0.0), upper=(1000.0, 5000.0), ns_per_op=_repairman_ns_per_op,
        remark=("fits closely, but the fitted think time (~160 ns) is far above the loop "
                "overhead (<= 27 ns/op at N=1): exponential curvature absorbs the N=4 "
                "bump, it is not a real think time; prefer constant-handoff"),
    ),
)

#: Why cells outside a model's fit range miss it: (lock, pv, tasks) -> explanation.
_CELL_NOTES = {
    ("*", "*", 1): (
        "N=1: uncontended fast path, the lock line stays in the task's own cache; "
        "no handoff, so no contention model applies (27-36 ns/op is fast path plus "
        "loop overhead)"
    ),
    ("ticket", "on", 2): (
        "ticket PV on at N=2: only +6% over PV off; with one spinner the PV unlock's "
        "extra locked add and flag re-read do not compete with a crowd of re-readers, "
        "so the per-spinner PV cost seen from N=3 on has not appeared yet"
    ),
    ("queue", "*", 2): (
        "queue N=2: the second contender takes the pending-bit path (spins on the lock "
        "word, no MCS node): a different code path from the MCS plateau"
    ),
    ("queue", "*", 3): (
        "queue N=3: pending bit plus the first MCS queue node, the tier transition; the "
        "queue head's extra line transfers make this the most expensive cell per op"
    ),
    ("queue", "on", 4): (
        "queue PV on N=4: the PV hooks (node/head spin checks, unlock cmpxchg) still "
        "cost ~12 ns/op; from N=5 they hide behind the MCS handoff"
    ),
}


def _note(lock: str, pv: str, tasks: int) -> str:
    for key in ((lock, pv, tasks), (lock, "*", tasks), ("*", "*", tasks)):
        if key in _CELL_NOTES:
            return _CELL_NOTES[key]
    return ""


@dataclass
class AnalyticFit:
    """Result of :func:`fit_analytic`: ``params``, ``points`` and ``summary`` tables."""

    params: pd.DataFrame
    points: pd.DataFrame
    summary: pd.DataFrame
    ci_method: str

    def __str__(self) -> str:
        with pd.option_context("display.width", 140, "display.max_columns", 20,
                               "display.max_colwidth", 60):
            p = self.params.copy()
            pts = self.points[["model", "lock", "pv", "tasks", "measured_ms", "model_ms",
                               "rel_err", "in_fit"]].copy()
            pts["rel_err"] = (100 * pts["rel_err"]).round(2)
            pts = pts.rename(columns={"rel_err": "rel_err_%"})
            s = self.summary.drop(columns="remark")
            for col in ("max_abs_rel_err", "median_abs_rel_err", "target"):
                s[col] = (100 * s[col]).round(2)
            s = s.rename(columns=lambda c: c + "_%" if c in (
                "max_abs_rel_err", "median_abs_rel_err", "target") else c)
            misses = self.points[~self.points["in_fit"]][["lock", "pv", "tasks", "note"]]
            misses = misses.drop_duplicates(["lock", "pv", "tasks"])
            return "\n".join([
                f"Analytical fits to the v10 table (95% intervals: {self.ci_method})",
                "", "Parameters:", p.round(3).to_string(index=False),
                "", "Fit quality (relative errors over each fit range):",
                s.to_string(index=False),
                "\n".join(f"  {r.model} {r.lock} PV {r.pv}: {r.remark}"
                          for r in self.summary.itertuples() if r.remark),
                "", "Cells:", pts.round(1).to_string(index=False),
                "", "Cells outside every fit range, and why:",
                "\n".join(f"  {r.lock:6s} PV {r.pv:3s} N={r.tasks}: {r.note}"
                          for r in misses.itertuples()),
            ])

    __repr__ = __str__


def _least_squares(spec: ModelSpec, tasks: np.ndarray, measured: np.ndarray):
    def resid(p):
        return spec.ns_per_op(tasks, p) / measured - 1.0

    res = optimize.least_squares(resid, spec.p0, bounds=(spec.lower, spec.upper),
                                 x_scale="jac")
    return res


def fit_model(
    spec: ModelSpec,
    tasks,
    measured_ns_per_op,
    *,
    ci: str = "jacobian",
    n_boot: int = 400,
    seed: int = 0,
):
    """Fit one model to per-op times; return ``(values, low, high)`` arrays (95 %).

    ``ci="jacobian"``: covariance s^2 (J^T J)^-1 of the relative residuals with
    s^2 = SSR / (n - p), and Student-t quantiles with n - p degrees of freedom
    (linearized, as ``scipy.optimize.curve_fit``). ``ci="bootstrap"``: residual
    bootstrap (relative residuals resampled with replacement, ``n_boot`` refits,
    percentile interval), seeded by ``seed``.
    """
    tasks = np.asarray(tasks, dtype=np.int64)
    y = np.asarray(measured_ns_per_op, dtype=float)
    n, p = len(y), len(spec.p0)
    if n <= p:
        raise ValueError(f"need more cells than parameters ({p}) to fit {spec.model}, got {n}")
    res = _least_squares(spec, tasks, y)
    x = res.x
    if ci == "jacobian":
        dof = n - p
        s2 = float(np.sum(res.fun**2)) / dof
        cov = s2 * np.linalg.pinv(res.jac.T @ res.jac)
        half = stats.t.ppf(0.975, dof) * np.sqrt(np.clip(np.diag(cov), 0, None))
        return x, x - half, x + half
    if ci == "bootstrap":
        rng = np.random.default_rng(seed)
        fitted = spec.ns_per_op(tasks, x)
        r = res.fun
        draws = np.empty((n_boot, p))
        for b in range(n_boot):
            yb = fitted * (1.0 + rng.choice(r, size=n, replace=True))
            draws[b] = _least_squares(spec, tasks, yb).x
        lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
        return x, lo, hi
    raise ValueError(f"ci must be 'jacobian' or 'bootstrap', got {ci!r}")


def fit_analytic(
    table: pd.DataFrame | None = None,
    *,
    ci: str = "jacobian",
    n_boot: int = 400,
    seed: int = 0,
    specs: tuple[ModelSpec, ...] = MODEL_SPECS,
) -> AnalyticFit:
    """Fit every model in ``specs`` to its column of the table (default: the seed's).

    ``table`` needs columns lock, pv, tasks, ms (ms for ``SEED_OPS_PER_TASK`` ops per
    task); pass a synthetic one to test the fitting itself. Returns an
    :class:`AnalyticFit` whose ``params`` has (model, lock, pv, name, value, low, high,
    unit, ci) and whose ``points`` has (model, lock, pv, tasks, measured_ms, model_ms,
    rel_err, in_fit, note) for every N of each fitted column.
    """
    ci = check_choice("ci", ci, ("jacobian", "bootstrap"))
    n_boot = check_int("n_boot", n_boot, 0 if ci == "jacobian" else 2, 10**6)
    seed = check_seed("seed", seed)
    if table is not None:
        check_instance("table", table, pd.DataFrame)
    df = seed_table() if table is None else table.copy()
    for col in ("lock", "pv", "tasks", "ms"):
        if col not in df:
            raise ValueError(f"table must have a {col!r} column")
    df["lock"] = df["lock"].astype(str)
    df["pv"] = df["pv"].astype(str)
    ci_label = ("Jacobian, Student-t (n-p dof)" if ci == "jacobian"
                else f"residual bootstrap, {n_boot} refits, percentile")
    params, points, summary = [], [], []
    for spec in specs:
        col = df[(df["lock"] == spec.lock) & (df["pv"] == spec.pv)].sort_values("tasks")
        if col.empty:
            continue
        tasks = col["tasks"].to_numpy(np.int64)
        ns = col["ms"].to_numpy(float) * 1e6 / (SEED_OPS_PER_TASK * tasks)
        in_fit = tasks >= spec.min_tasks
        x, lo, hi = fit_model(spec, tasks[in_fit], ns[in_fit], ci=ci, n_boot=n_boot,
                              seed=seed)
        for name, unit, v, a, b in zip(spec.names, spec.units, x, lo, hi, strict=True):
            params.append((spec.model, spec.lock, spec.pv, name, v, a, b, unit, ci))
        for name, (v, unit, why) in spec.fixed.items():
            params.append((spec.model, spec.lock, spec.pv, name, v, v, v, unit, "fixed: " + why))
        model_ns = spec.ns_per_op(tasks, x)
        rel = model_ns / ns - 1.0
        for t, m_ms, ns_model, r, f in zip(tasks, col["ms"], model_ns, rel, in_fit,
                                           strict=True):
            points.append((spec.model, spec.lock, spec.pv, int(t), float(m_ms),
                           float(ns_model * SEED_OPS_PER_TASK * t * 1e-6), float(r),
                           bool(f), "" if f else _note(spec.lock, spec.pv, int(t))))
        err = np.abs(rel[in_fit])
        summary.append((spec.model, spec.lock, spec.pv,
                        f"{tasks[in_fit].min()}-{tasks[in_fit].max()}", int(in_fit.sum()),
                        float(err.max()), float(np.median(err)), spec.target,
                        None if spec.target is None else bool(err.max() <= spec.target),
                        spec.remark))
    return AnalyticFit(
        params=pd.DataFrame(params, columns=["model", "lock", "pv", "name", "value", "low",
                                             "high", "unit", "ci"]),
        points=pd.DataFrame(points, columns=["model", "lock", "pv", "tasks", "measured_ms",
                                             "model_ms", "rel_err", "in_fit", "note"]),
        summary=pd.DataFrame(summary, columns=["model", "lock", "pv", "fit_tasks", "cells",
                                               "max_abs_rel_err", "median_abs_rel_err",
                                               "target", "target_met", "remark"]),
        ci_method=ci_label,
    )
