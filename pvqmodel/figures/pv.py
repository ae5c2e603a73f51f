"""Figures of the PV layer: the PV locks side by side under a schedule (notebook 03),
the lost-wake-up hunt (notebook 04), and pause-loop exiting / wake-up preemption
under overcommit.

Owns drawing only. Inputs: the frames of :func:`pvqmodel.study.pv_lock_study`, of
:func:`pvqmodel.hunt.hunt_sweep` and of :func:`pvqmodel.study.ple_study`.
:func:`register_pv_figures` adds them to the ``pvqmodel figures`` registry (they run
the engine, a minute or two together).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .style import LOCK_PALETTE, WIDE, paper_style


def fig_pv_study(summary: pd.DataFrame, waits: pd.DataFrame, title: str = "") -> Figure:
    """Throughput, halts and kicks per 1000 acquisitions, and the wait-time
    distribution (share of acquisitions per log2 bin) of each PV lock."""
    with paper_style():
        fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(WIDE[0] * 1.15, WIDE[1]))
        locks = list(dict.fromkeys(summary["lock"]))
        x = range(len(locks))
        g = summary.groupby("lock", sort=False)
        a1.bar(x, g["ops_per_ms"].mean().reindex(locks),
               yerr=g["ops_per_ms"].std(ddof=1).reindex(locks).fillna(0),
               color=[LOCK_PALETTE.get(k, "0.5") for k in locks])
        a1.set_xticks(list(x), [k.replace("pv-qspinlock-", "pvq-") for k in locks],
                      rotation=20, fontsize=7)
        a1.set_yscale("log")  # the locks differ by orders of magnitude under overcommit
        a1.set_ylabel("lock ops per ms (all tasks, log)")
        w = 0.4
        a2.bar([i - w / 2 for i in x], g["halts_per_1k"].mean().reindex(locks), w,
               label="halts", color="0.35")
        a2.bar([i + w / 2 for i in x], g["kicks_per_1k"].mean().reindex(locks), w,
               label="kicks", color="0.7")
        a2.set_xticks(list(x), [k.replace("pv-qspinlock-", "pvq-") for k in locks],
                      rotation=20, fontsize=7)
        a2.set_ylabel("per 1000 acquisitions")
        a2.legend(fontsize=7)
        for lock, h in waits.groupby("lock", sort=False):
            h = h[h["count"] > 0]
            a3.step(h["mid_ns"], h["share"], where="mid", color=LOCK_PALETTE.get(lock, "0.5"),
                    label=lock)
        a3.set_xscale("log")
        a3.set_xlabel("acquisition wait (ns, log2 bins)")
        a3.set_ylabel("share of acquisitions")
        a3.legend(fontsize=6)
        if title:
            fig.suptitle(title, fontsize=9)
        fig.tight_layout()
    return fig


def fig_hunt_sweep(df: pd.DataFrame) -> Figure:
    """Lost wake-ups per acquisition vs the store-buffer drain delay, one line per mean
    quantum (preemption rate), with 95 % Clopper-Pearson intervals."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(WIDE[0] / 2, WIDE[1]))
        for q, g in df.groupby("quantum_ns"):
            g = g.sort_values("drain_ns")
            ax.errorbar(g["drain_ns"], g["p"], yerr=[g["p"] - g["p_lo"], g["p_hi"] - g["p"]],
                        marker="o", capsize=2, label=f"mean quantum {q / 1e3:g} us")
        ax.set_xlabel("mean store-buffer drain delay (ns)")
        ax.set_ylabel("lost wake-ups per acquisition")
        lock = df["lock"].iloc[0] if len(df) else ""
        ax.set_title(f"{lock}, x86-TSO, PV-unhalted latch on", fontsize=8)
        ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


def fig_ple_study(summary: pd.DataFrame, title: str = "") -> Figure:
    """ns per operation (log) against tasks, without (left) and with (right) wake-up
    preemption: one colour per lock, solid with pause-loop exiting, dashed without;
    markers at the median of the replications, bars from the fastest to the slowest."""
    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=WIDE, sharey=True)
        for ax, wp in zip(axes, (False, True), strict=True):
            d = summary[summary["wakeup_preempt"] == wp]
            for (lock, ple), g in d.groupby(["lock", "ple"], sort=False):
                st = g.groupby("tasks")["ns_per_op"].agg(["median", "min", "max"])
                ax.errorbar(st.index, st["median"],
                            yerr=[st["median"] - st["min"], st["max"] - st["median"]],
                            color=LOCK_PALETTE.get(lock, "0.5"), marker="o", ms=3, capsize=2,
                            ls="-" if ple else "--", label=f"{lock}, PLE {'on' if ple else 'off'}")
            ax.set_yscale("log")
            ax.set_xlabel("tasks (vCPUs)")
            ax.set_title(f"wake-up preemption {'on' if wp else 'off'}", fontsize=8)
        axes[0].set_ylabel("ns per lock/unlock (log)")
        axes[1].legend(fontsize=6, ncol=2)
        if title:
            fig.suptitle(title, fontsize=9)
        fig.tight_layout()
    return fig


def ple_study_data():
    from ..study import ple_study

    return ple_study(ops_per_task=5000, reps=3, seed=0, workers=2)


def pv_study_data():
    from ..study import pv_lock_study

    return pv_lock_study(quantum_ns=1e5, ops_per_task=1000, reps=2, seed=0)


def hunt_sweep_data():
    from ..hunt import hunt_sweep

    return hunt_sweep("pv-qspinlock-v10", drain_ns=(0.0, 25.0, 50.0, 100.0, 200.0),
                      quantum_ns=(2000.0, 20000.0), budget=30, seed=3)


def register_pv_figures() -> None:
    """Add the PV figures to :data:`pvqmodel.figures.REGISTRY`."""
    from . import register

    register("pv-study", lambda: fig_pv_study(
        *pv_study_data(), title="PV locks, 4 vCPUs + 4 background vCPUs, 100 us quanta"))
    register("hunt-sweep", lambda: fig_hunt_sweep(hunt_sweep_data()))
    register("ple-study", lambda: fig_ple_study(
        ple_study_data(), title="pinned overcommit 2 (1 background vCPU per pCPU), "
        "1 ms quanta, seed benchmark"))
