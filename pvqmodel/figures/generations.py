"""Figures of the generations study: every PV lock and ``tas`` under the same schedules.

Owns drawing only; the input is the frame of :func:`pvqmodel.generations.generations`
(one row per replication). ``generations-throughput``: lock operations per ms per lock,
one panel per overcommit ratio (dedicated pCPUs first), PLE off and on side by side.
``generations-counters``: halts, kicks, wait-early and steals per 1000 acquisitions and
the median and 99th-percentile acquisition wait, per lock and schedule. Every marker is
a mean over the replications with its 95 % Student-t interval (:mod:`.intervals`),
taken on the log scale where the axis is logarithmic (the marker is then the geometric
mean); the number of replications is in the figure. :func:`register_generation_figures`
adds both to the ``pvqmodel figures`` registry (about a minute of engine time together
on two cores: one run of the study feeds both).
"""

from __future__ import annotations

from functools import cache

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .intervals import interval_table, n_text, yerr
from .style import CONFIDENCE, LOCK_PALETTE, WIDE, keyed, paper_style

#: Size behind the registered figures: 4 contending vCPUs, 16 replications of 5000
#: lock/unlock per task on each of the 7 schedules (dedicated; overcommit 1.5, 2, 3 with
#: PLE off and on): 1232 runs, about 30 s on two cores.
GEN_FIG_TASKS, GEN_FIG_OPS, GEN_FIG_REPS = 4, 5000, 16
GEN_FIG_TITLE = (f"{GEN_FIG_TASKS} vCPUs, seed benchmark, {GEN_FIG_OPS:_} lock/unlock per "
                 "task; pinned overcommit r with 100 us quanta (exp.), kick 9.3 us, "
                 "wake 58 us (exp.)").replace("_", " ")
_CI = f"{CONFIDENCE:.0%}"
#: marker style per PLE setting (the figure legends explain them)
_PLE = {False: dict(marker="s", mfc="white"), True: dict(marker="o")}
_PLE_KEY = {False: "PLE off", True: "PLE on (KVM default window)"}


def short_lock(lock: str) -> str:
    """Axis label of a lock: ``pv-qspinlock-4.11`` -> ``4.11``, ``pv-qspinlock-v10`` ->
    ``v10``."""
    return lock.replace("pv-qspinlock-", "")


def _log_ticks(ax):
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def fig_generations_throughput(df: pd.DataFrame, title: str = "") -> Figure:
    """Lock operations per ms (all tasks; log axis) per lock: one panel per overcommit
    ratio, PLE off (open squares) and on (filled circles) dodged sideways; markers at the
    geometric mean over the replications, bars its 95 % t-interval on the log scale."""
    locks = list(dict.fromkeys(df["lock"]))
    ocs = sorted(df["overcommit"].unique())
    t = interval_table(df, "ops_per_ms", ["overcommit", "ple", "lock"], log=True)
    x = {lk: i for i, lk in enumerate(locks)}
    with paper_style():
        fig, axes = plt.subplots(1, len(ocs), figsize=(WIDE[0] * 1.45, WIDE[1] + 0.9),
                                 sharey=True, squeeze=False)
        for ax, oc in zip(axes[0], ocs, strict=True):
            d = t[t["overcommit"] == oc]
            ples = sorted(d["ple"].unique())
            for ple, g in d.groupby("ple"):
                dx = 0.0 if len(ples) == 1 else (0.18 if ple else -0.18)
                for _, r in g.iterrows():
                    c = LOCK_PALETTE.get(r["lock"], "0.5")
                    keyed(ax.errorbar([x[r["lock"]] + dx], [r["centre"]],
                                      yerr=yerr(pd.DataFrame([r])), color=c, ms=4.5,
                                      capsize=2, lw=1.2, mec=c, ls="none", **_PLE[ple]),
                          _PLE_KEY[ple])
            ax.set_xticks(range(len(locks)), [short_lock(k) for k in locks], rotation=60,
                          ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(locks) - 0.4)
            _log_ticks(ax)
            ax.set_title("dedicated pCPUs" if oc == 1.0 else f"overcommit r = {oc:g}")
        axes[0][0].set_ylabel("lock ops per ms (all tasks, log)")
        handles = [Line2D([], [], color="0.3", ls="none", ms=5, **_PLE[p]) for p in (False,
                                                                                    True)]
        fig.tight_layout(rect=(0, 0.1, 1, 0.92 if title else 1))
        fig.legend(handles, [_PLE_KEY[False], _PLE_KEY[True]], loc="lower center", ncol=2,
                   bbox_to_anchor=(0.5, 0.0),
                   title=f"geometric mean of {n_text(t['n'])} runs, bars {_CI} CI "
                         "(t-interval on log scale); colour: lock")
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


#: (column, axis label, log axis) of the counter panels; halts and kicks span three
#: decades between locks and are often 0: symmetric log, linear below 1 per 1000
_COUNTERS = (("halts_per_1k", "halts per 1000 acquisitions (symlog)", "symlog"),
             ("kicks_per_1k", "kicks per 1000 acquisitions (symlog)", "symlog"),
             ("pv_wait_early_per_1k", "wait-early halts per 1000 acq.", False),
             ("path_steal_per_1k", "steals per 1000 acquisitions", False),
             ("wait_p50_ns", "median acquisition wait (ns, log)", True),
             ("wait_p99_ns", "99th pct. acquisition wait (ns, log)", True))


def _schedule_colour(oc: float, ocs) -> str:
    if oc == 1.0:
        return "0.55"
    k = [o for o in ocs if o != 1.0].index(oc)
    return ("#fdae6b", "#e6550d", "#a63603", "#7f2704")[min(k, 3)]


def fig_generations_counters(df: pd.DataFrame, title: str = "") -> Figure:
    """Per lock: halts, kicks (symmetric log axes), wait-early halts and steals per 1000
    acquisitions (means) and the median and 99th-percentile acquisition wait (geometric means,
    log axes; per replication from its log2 wait histogram, so within a factor 2), one
    series per schedule (colour: overcommit, grey = dedicated; marker: PLE), dodged
    sideways, with 95 % t-intervals over the replications."""
    locks = list(dict.fromkeys(df["lock"]))
    ocs = sorted(df["overcommit"].unique())
    scheds = list(dict.fromkeys(zip(df["overcommit"], df["ple"], strict=True)))
    scheds.sort()
    dodge = {s: 0.7 * (i - (len(scheds) - 1) / 2) / max(len(scheds), 1)
             for i, s in enumerate(scheds)}
    x = {lk: i for i, lk in enumerate(locks)}
    d = df.copy()
    for col in ("wait_p50_ns", "wait_p99_ns"):
        d[col] = d[col].clip(lower=1.0)  # a log interval needs positive values
    keys = {s: ("dedicated pCPUs" if s[0] == 1.0 else
                f"r = {s[0]:g}, {_PLE_KEY[s[1]].split(' (')[0]}") for s in scheds}
    n_all = []
    with paper_style():
        fig, axes = plt.subplots(2, 3, figsize=(WIDE[0] * 1.45, 2 * WIDE[1] + 1.2))
        for ax, (col, label, log) in zip(axes.flat, _COUNTERS, strict=True):
            t = interval_table(d, col, ["overcommit", "ple", "lock"], log=log is True)
            n_all += list(t["n"])
            for (oc, ple), g in t.groupby(["overcommit", "ple"], sort=True):
                c = _schedule_colour(oc, ocs)
                xs = [x[k] + dodge[oc, ple] for k in g["lock"]]
                keyed(ax.errorbar(xs, g["centre"], yerr=yerr(g), color=c, mec=c, ms=3.5,
                                  capsize=1.5, lw=1.0, ls="none", **_PLE[ple]),
                      keys[oc, ple])
            ax.set_xticks(range(len(locks)), [short_lock(k) for k in locks], rotation=60,
                          ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(locks) - 0.4)
            if log is True:
                _log_ticks(ax)
            elif log == "symlog":
                ax.set_yscale("symlog", linthresh=1.0, linscale=0.5)
                ax.set_ylim(bottom=0)  # counts: an interval's part below 0 is not drawn
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_ylabel(label)
        handles = [Line2D([], [], color=_schedule_colour(s[0], ocs),
                          mec=_schedule_colour(s[0], ocs), ls="none", ms=5, **_PLE[s[1]])
                   for s in scheds]
        fig.tight_layout(rect=(0, 0.07, 1, 0.95 if title else 1))
        fig.legend(handles, [keys[s] for s in scheds], loc="lower center",
                   ncol=len(scheds), bbox_to_anchor=(0.5, 0.0),
                   title=f"mean (log axes: geometric mean) of {n_text(n_all)} runs, bars "
                         f"{_CI} t-interval")
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


@cache
def generations_figure_data(tasks: int = GEN_FIG_TASKS, ops_per_task: int = GEN_FIG_OPS,
                            reps: int = GEN_FIG_REPS) -> pd.DataFrame:
    """The study behind both registered figures (run once per process)."""
    from ..generations import generations

    return generations(tasks=(tasks,), ops_per_task=ops_per_task, reps=reps, seed=0)


def register_generation_figures() -> None:
    """Add the generations figures to :data:`pvqmodel.figures.REGISTRY`."""
    from . import register

    register("generations-throughput",
             lambda: fig_generations_throughput(generations_figure_data(),
                                                title=GEN_FIG_TITLE))
    register("generations-counters",
             lambda: fig_generations_counters(generations_figure_data(),
                                              title=GEN_FIG_TITLE))


def fig_generation_waits(waits: pd.DataFrame, schedules=None, title: str = "") -> Figure:
    """The acquisition-wait distribution (share of acquisitions per log2 bin, replications
    pooled) of every lock, one panel per schedule in ``schedules`` (default: all in
    ``waits``, the second frame of ``generations(..., return_waits=True)``)."""
    names = list(dict.fromkeys(waits["schedule"])) if schedules is None else list(schedules)
    unknown = set(names) - set(waits["schedule"])
    if unknown:
        raise ValueError(f"schedules {sorted(unknown)} are not in the frame; it has "
                         f"{sorted(set(waits['schedule']))}")
    with paper_style():
        fig, axes = plt.subplots(1, len(names), figsize=(WIDE[0] * 1.45, WIDE[1] + 0.9),
                                 sharey=True, squeeze=False)
        for ax, name in zip(axes[0], names, strict=True):
            for lock, h in waits[waits["schedule"] == name].groupby("lock", sort=False):
                h = h[h["count"] > 0]
                ax.step(h["mid_ns"], h["share"], where="mid", lw=1.1,
                        color=LOCK_PALETTE.get(lock, "0.5"), label=short_lock(lock))
            ax.set_xscale("log")
            ax.set_xlabel("acquisition wait (ns, log2 bins)")
            ax.set_title(name)
        axes[0][0].set_ylabel("share of acquisitions (runs pooled)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.tight_layout(rect=(0, 0.12, 1, 0.92 if title else 1))
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 11),
                   bbox_to_anchor=(0.5, 0.0))
        if title:
            fig.suptitle(title, fontsize=9)
    return fig
