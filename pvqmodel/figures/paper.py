"""Figures of the seed table and the analytical fits: ``fig_*(data) -> Figure``.

Owns the drawing only: each function takes the tidy DataFrame(s) it shows (from
:func:`pvqmodel.seed_table` or :func:`pvqmodel.fit_analytic`) and returns a matplotlib
Figure, computing nothing a reader could not see in its input.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .style import LOCK_PALETTE, PV_DASHES, SINGLE, WIDE, paper_style

_SOURCE = "data: Long, [PATCH v10 17/19] pvqspinlock, Westmere-EX, 5M lock/unlock per task"


def _lineplot(df: pd.DataFrame, y: str, ax) -> None:
    sns.lineplot(data=df.assign(lock=df["lock"].astype(str), pv=df["pv"].astype(str)),
                 x="tasks", y=y, hue="lock", style="pv", palette=LOCK_PALETTE,
                 dashes=PV_DASHES, markers=True, ax=ax)
    ax.set_xticks(range(1, int(df["tasks"].max()) + 1))
    ax.set_xlabel("contending tasks N")


def fig_table(df: pd.DataFrame) -> Figure:
    """The seed table as printed: total ms vs N, one line per (lock, PV) column."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        _lineplot(df, "ms", ax)
        ax.set_ylabel("execution time (ms)")
        ax.set_title("Seed table: 5M lock/unlock per task")
        fig.text(0.01, -0.02, _SOURCE, fontsize=6, color="0.4")
    return fig


def fig_per_op(df: pd.DataFrame) -> Figure:
    """Per-operation cost ms*1e6/(5e6 N): under saturation the handoff cost h(N)."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        _lineplot(df, "ns_per_op", ax)
        ax.set_ylabel("ns per lock/unlock (all tasks)")
        ax.set_ylim(bottom=0)
        ax.set_title("Per-op cost: ticket grows linearly, queue plateaus")
    return fig


def fig_pv_ratio(df: pd.DataFrame) -> Figure:
    """PV on/off time ratio and extra ns per op, per lock."""
    on = df[df["pv"].astype(str) == "on"].assign(lock=lambda d: d["lock"].astype(str))
    with paper_style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=WIDE)
        for ax, col, label in ((a1, "pv_ratio", "PV on / PV off time"),
                               (a2, "pv_extra_ns", "PV extra ns per op")):
            sns.lineplot(data=on, x="tasks", y=col, hue="lock", palette=LOCK_PALETTE,
                         marker="o", ax=ax)
            ax.set_xticks(range(1, int(on["tasks"].max()) + 1))
            ax.set_xlabel("contending tasks N")
            ax.set_ylabel(label)
        a1.axhline(1.0, color="0.5", lw=0.8)
        a2.axhline(0.0, color="0.5", lw=0.8)
        fig.suptitle("Cost of enabling the PV spinlock code on bare metal")
        fig.tight_layout()
    return fig


def fig_fits(points: pd.DataFrame) -> Figure:
    """Each analytical fit over its column (top) with relative residuals (bottom).

    ``points`` is :attr:`pvqmodel.AnalyticFit.points`. Filled markers are the cells in
    the fit range, open markers the cells outside it (extrapolated model, kept visible).
    """
    groups = list(points.groupby(["model", "lock", "pv"], sort=False))
    with paper_style():
        fig, axes = plt.subplots(2, len(groups), figsize=(2.6 * len(groups), 4.6),
                                 sharex=True, gridspec_kw={"height_ratios": [2, 1]},
                                 squeeze=False)
        for j, ((model, lock, pv), g) in enumerate(groups):
            top, bot = axes[0, j], axes[1, j]
            colour = LOCK_PALETTE.get(lock, "k")
            ns = g["tasks"].to_numpy()
            meas = g["measured_ms"] * 1e6 / (5e6 * ns)
            mod = g["model_ms"] * 1e6 / (5e6 * ns)
            fit = g["in_fit"].to_numpy()
            top.plot(ns[fit], mod[fit], "-", color="k", lw=1, label="model")
            top.plot(ns, mod, ":", color="k", lw=0.8)
            top.plot(ns[fit], meas[fit], "o", color=colour, label="measured (fit)")
            top.plot(ns[~fit], meas[~fit], "o", mfc="none", color=colour,
                     label="measured (outside)")
            hi = float(np.nanmax(meas[ns > 1])) * 1.35
            top.set_ylim(0, hi)
            top.set_title(f"{model}\n{lock}, PV {pv}")
            bot.axhline(0, color="0.5", lw=0.8)
            rel = 100 * g["rel_err"].to_numpy()
            bot.plot(ns[fit], rel[fit], "o", color=colour)
            bot.plot(ns[~fit], np.clip(rel[~fit], -25, 25), "o", mfc="none", color=colour)
            bot.set_ylim(-25, 25)
            bot.set_xlabel("tasks N")
            bot.set_xticks(range(1, 9))
        axes[0, 0].set_ylabel("ns per op")
        axes[1, 0].set_ylabel("rel. error (%)\n(clipped at ±25)")
        axes[0, 0].legend(loc="lower right", fontsize=6)
        fig.tight_layout()
    return fig
