"""Figures of the PV layer: the PV locks side by side under a schedule (notebook 03),
the lost-wake-up hunt (notebook 04), and pause-loop exiting / wake-up preemption
under overcommit.

Owns drawing only. Inputs: the frames of :func:`pvqmodel.study.pv_lock_study`, of
:func:`pvqmodel.hunt.hunt_sweep` and of :func:`pvqmodel.study.ple_study` (one row per
replication). Every error bar is a stated 95 % interval: the Student-t interval of the
mean over the replications (:mod:`.intervals`), taken on the log scale where the axis is
logarithmic (centre = geometric mean, so a bar cannot reach zero), or Clopper-Pearson
for the hunt's loss probabilities; the number of replications is in the figure.
:func:`register_pv_figures` adds them to the ``pvqmodel figures`` registry (they run
the engine, a few minutes together on two cores).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .intervals import interval_table, n_text, yerr
from .style import CONFIDENCE, LOCK_PALETTE, WIDE, no_legend, paper_style

#: Replications and operations per task behind the registered ``pv-study`` and
#: ``ple-study`` figures (chosen so ``make reproduce`` stays within a few minutes). A
#: ple-study run must span several 1 ms quanta: with 5000 operations per task a 4-vCPU
#: run often ends before any preemption matters, and its replications split between
#: ~70 ns/op and ~0.4 ms/op; 10 000 x 8 agrees with 20 000 x 8 at 6-8 vCPUs within the
#: intervals (checked once, 2026-11-29) at under half the cost.
PV_STUDY_REPS, PV_STUDY_OPS = 10, 1000
PLE_STUDY_REPS, PLE_STUDY_OPS = 8, 10_000
#: Schedules per grid point of the registered ``hunt-sweep`` figure.
HUNT_SWEEP_BUDGET = 60
PV_STUDY_TITLE = ("PV locks, 4 vCPUs + 4 background vCPUs, 100 us quanta (exp.), "
                  f"{PV_STUDY_OPS:_} lock/unlock per task".replace("_", " "))
PLE_STUDY_TITLE = ("pinned overcommit 2 (1 background vCPU per pCPU), 1 ms quanta, "
                   f"seed benchmark, {PLE_STUDY_OPS:_} lock/unlock per task".replace("_", " "))
_CI = f"{CONFIDENCE:.0%}"


def _short(lock: str) -> str:
    return lock.replace("pv-qspinlock-", "pvq-")


def fig_pv_study(summary: pd.DataFrame, waits: pd.DataFrame, title: str = "") -> Figure:
    """Throughput (geometric mean, log axis), halts and kicks per 1000 acquisitions
    (means), each with its 95 % t-interval over the replications, and the wait-time
    distribution (share of acquisitions per log2 bin, all replications pooled)."""
    locks = list(dict.fromkeys(summary["lock"]))
    x = np.arange(len(locks))
    tput = interval_table(summary, "ops_per_ms", "lock", log=True).set_index("lock")
    tput = tput.reindex(locks)
    with paper_style():
        fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(WIDE[0] * 1.2, WIDE[1] + 0.4))
        for i, lock in enumerate(locks):
            no_legend(a1.errorbar([i], tput.loc[[lock], "centre"], yerr=yerr(tput.loc[[lock]]),
                                  fmt="o", ms=6, capsize=4, color=LOCK_PALETTE.get(lock, "0.5")),
                      "one point per lock, named on the x axis; interval in the title")
        a1.set_xticks(list(x), [_short(k) for k in locks], rotation=20)
        a1.set_xlim(-0.5, len(locks) - 0.5)
        a1.set_yscale("log")  # the locks differ by orders of magnitude under overcommit
        # ticks at 1, 2, 5 x 10^k in plain numbers: the range is often under two decades
        a1.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        a1.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        a1.yaxis.set_minor_formatter(NullFormatter())
        a1.set_ylabel("lock ops per ms (all tasks, log)")
        a1.set_title(f"geometric mean, {_CI} CI\n({n_text(tput['n'])} runs)")
        w = 0.38
        for off, col, name, colour in ((-w / 2, "halts_per_1k", "halts", "0.35"),
                                       (w / 2, "kicks_per_1k", "kicks", "0.7")):
            t = interval_table(summary, col, "lock").set_index("lock").reindex(locks)
            a2.bar(x + off, t["centre"], w, label=name, color=colour)
            # a t-interval of a mean count can reach below zero; it is drawn as computed
            no_legend(a2.errorbar(x + off, t["centre"], yerr=[t["centre"] - t["lo"].fillna(
                t["centre"]), t["hi"].fillna(t["centre"]) - t["centre"]], fmt="none",
                ecolor="k", capsize=3, lw=1), "bars' interval, in the title")
        a2.set_xticks(list(x), [_short(k) for k in locks], rotation=20)
        a2.set_ylabel("per 1000 acquisitions")
        a2.set_title(f"mean, {_CI} CI ({n_text(tput['n'])} runs)")
        a2.legend()
        for lock, h in waits.groupby("lock", sort=False):
            h = h[h["count"] > 0]
            a3.step(h["mid_ns"], h["share"], where="mid", color=LOCK_PALETTE.get(lock, "0.5"),
                    label=_short(lock))
        a3.set_xscale("log")
        a3.set_xlabel("acquisition wait (ns, log2 bins)")
        a3.set_ylabel("share of acquisitions")
        a3.set_title("wait distribution (runs pooled)")
        a3.legend()
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return fig


def fig_hunt_sweep(df: pd.DataFrame) -> Figure:
    """Lost wake-ups per acquisition vs the store-buffer drain delay, one line per mean
    quantum (preemption rate), with 95 % Clopper-Pearson intervals (series dodged
    sideways by a few ns so that bars at zero do not hide each other)."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(WIDE[0] / 2 + 0.4, WIDE[1]))
        groups = list(df.groupby("quantum_ns"))
        step = float(np.diff(np.unique(df["drain_ns"])).min()) if df["drain_ns"].nunique() > 1 \
            else 1.0
        for i, (q, g) in enumerate(groups):
            g = g.sort_values("drain_ns")
            dx = 0.08 * step * (i - (len(groups) - 1) / 2)  # dodge: zeros would overlap
            ax.errorbar(g["drain_ns"] + dx, g["p"], yerr=[g["p"] - g["p_lo"], g["p_hi"] - g["p"]],
                        marker="o", ms=4, capsize=2,
                        label=f"mean quantum {q / 1e3:g} us, {int(g['schedules'].min())} "
                              "schedules")
        ax.set_xlabel("mean store-buffer drain delay (ns)")
        ax.set_ylabel("lost wake-ups per acquisition")
        lock = df["lock"].iloc[0] if len(df) else ""
        ax.set_title(f"{lock}, x86-TSO, PV-unhalted latch on")
        ax.legend(title=f"bars: {_CI} Clopper-Pearson", loc="upper left")
        fig.tight_layout()
    return fig


def fig_ple_study(summary: pd.DataFrame, title: str = "") -> Figure:
    """ns per operation (log) against tasks, without (left) and with (right) wake-up
    preemption: one colour per lock, solid line and filled circle with pause-loop
    exiting, dashed line and open square without; markers at the geometric mean of the
    replications, bars its 95 % t-interval on the log scale (series dodged sideways)."""
    t = interval_table(summary, "ns_per_op", ["wakeup_preempt", "lock", "ple", "tasks"],
                       log=True)
    keys = list(dict.fromkeys(zip(t["lock"], t["ple"], strict=True)))
    dodge = {k: 0.06 * (i - (len(keys) - 1) / 2) for i, k in enumerate(keys)}
    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(WIDE[0], WIDE[1] + 0.6), sharey=True)
        for ax, wp in zip(axes, (False, True), strict=True):
            d = t[t["wakeup_preempt"] == wp]
            for (lock, ple), g in d.groupby(["lock", "ple"], sort=False):
                c = LOCK_PALETTE.get(lock, "0.5")
                ax.errorbar(g["tasks"] + dodge[lock, ple], g["centre"], yerr=yerr(g),
                            color=c, marker="o" if ple else "s", ms=4,
                            mfc=c if ple else "white", capsize=2, ls="-" if ple else "--",
                            lw=1.2, label=f"{lock}, PLE {'on' if ple else 'off'}")
            ax.set_yscale("log")
            ax.set_xlabel("tasks (vCPUs)")
            ax.set_xticks(sorted(t["tasks"].unique()))
            ax.set_title(f"wake-up preemption {'on' if wp else 'off'}")
        axes[0].set_ylabel("ns per lock/unlock (log)")
        handles, labels = axes[0].get_legend_handles_labels()
        order = np.argsort([lab.endswith("off") for lab in labels], kind="stable")
        fig.tight_layout(rect=(0, 0.16, 1, 0.94 if title else 1))
        fig.legend([handles[i] for i in order], [labels[i] for i in order],
                   loc="lower center", ncol=len(keys) // 2 or 1, bbox_to_anchor=(0.5, 0.0),
                   title=f"geometric mean of {n_text(t['n'])} runs, bars {_CI} CI "
                         "(t-interval on log scale)")
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def ple_study_data(reps: int = PLE_STUDY_REPS, ops_per_task: int = PLE_STUDY_OPS):
    from ..study import ple_study

    return ple_study(ops_per_task=ops_per_task, reps=reps, seed=0, workers=2)


def pv_study_data(reps: int = PV_STUDY_REPS, ops_per_task: int = PV_STUDY_OPS):
    from ..study import pv_lock_study

    return pv_lock_study(quantum_ns=1e5, ops_per_task=ops_per_task, reps=reps, seed=0)


def hunt_sweep_data():
    from ..hunt import hunt_sweep

    return hunt_sweep("pv-qspinlock-v10", drain_ns=(0.0, 25.0, 50.0, 100.0, 200.0),
                      quantum_ns=(2000.0, 20000.0), budget=HUNT_SWEEP_BUDGET, seed=3)


def register_pv_figures() -> None:
    """Add the PV figures to :data:`pvqmodel.figures.REGISTRY`."""
    from . import register

    register("pv-study", lambda: fig_pv_study(*pv_study_data(), title=PV_STUDY_TITLE))
    register("hunt-sweep", lambda: fig_hunt_sweep(hunt_sweep_data()))
    register("ple-study", lambda: fig_ple_study(ple_study_data(), title=PLE_STUDY_TITLE))
