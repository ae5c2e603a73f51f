"""Figures of the Monte Carlo engine against the seed table: ``fig_*(df) -> Figure``.

Owns the drawing of notebook 02's figures only. Inputs are the tidy frames of
:func:`pvqmodel.calibrate.engine_table` (one row per cell), of
:attr:`pvqmodel.sim.SimResult.handoff` (mean handoff time by waiters at release) and,
optionally, :attr:`pvqmodel.AnalyticFit.points`. :func:`register_engine_figures` adds
them to the ``pvqmodel figures`` registry (they run the engine, ~1 min).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import LOCK_PALETTE, SINGLE, WIDE, paper_style


def _per_op(df, col):
    return df[col] * 1e6 / (5e6 * df["tasks"])


def _series(df):
    """(label, color, line style, marker, rows) per (lock, pv) column, sorted by N."""
    keys = ["lock", "pv"] if "pv" in df.columns else ["lock"]
    for key, g in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        lock, pv = key[0], (key[1] if len(key) > 1 else "off")
        yield (f"{lock} PV {pv}", LOCK_PALETTE.get(lock, "k"), "-" if pv == "off" else "--",
               "o" if pv == "off" else "s", g.sort_values("tasks"))


def fig_engine_vs_table(df: pd.DataFrame, analytic: pd.DataFrame | None = None) -> Figure:
    """ns/op vs N: measured (markers), engine (lines, ±2 sd band), analytic fits (dotted).

    ``df``: engine_table(); ``analytic``: AnalyticFit.points (optional, PV off used).
    """
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        for label, c, ls, mk, g in _series(df):
            m, sd = _per_op(g, "model_ms"), _per_op(g, "model_sd_ms").fillna(0)
            ax.plot(g["tasks"], _per_op(g, "measured_ms"), mk, color=c, mfc="none" if
                    ls != "-" else c, label=f"{label} measured")
            ax.plot(g["tasks"], m, ls, color=c, label=f"{label} engine")
            ax.fill_between(g["tasks"], m - 2 * sd, m + 2 * sd, color=c, alpha=0.2, lw=0)
            if analytic is not None:
                lock, pv = g["lock"].iloc[0], str(g["pv"].iloc[0]) if "pv" in g else "off"
                a = analytic[(analytic["lock"].astype(str) == lock) &
                             (analytic["pv"].astype(str) == pv)]
                for _, ga in a.groupby("model"):
                    ga = ga.sort_values("tasks")
                    ax.plot(ga["tasks"], _per_op(ga, "model_ms"), ":", color=c, lw=0.9)
        ax.set_xlabel("contending tasks N")
        ax.set_ylabel("ns per lock/unlock (all tasks)")
        ax.set_title("Engine (one hardware parameter set) vs the seed table")
        ax.set_xticks(range(1, int(df["tasks"].max()) + 1))
        ax.legend(fontsize=6)
        fig.tight_layout()
    return fig


def fig_engine_residuals(df: pd.DataFrame) -> Figure:
    """Relative error of the engine per cell, with the issue's ±5 % / ±12 % bands."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        for label, c, ls, mk, g in _series(df):
            ax.plot(g["tasks"], 100 * g["rel_err"], mk + ls, color=c, label=label)
        for y, ls in ((5, "--"), (12, ":")):
            ax.axhline(y, color="0.5", ls=ls, lw=0.8)
            ax.axhline(-y, color="0.5", ls=ls, lw=0.8)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xlabel("contending tasks N")
        ax.set_ylabel("engine / measured - 1 (%)")
        ax.set_title("Residuals (dashed ±5 %, dotted ±12 %)")
        ax.legend()
        fig.tight_layout()
    return fig


def fig_handoff(handoff: pd.DataFrame) -> Figure:
    """Mean handoff time vs number of waiters at release: ticket grows, MCS does not."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        h = handoff[handoff["count"] >= 20]
        for lock, g in h.groupby("lock", sort=False):
            g = g.groupby("waiters", as_index=False).apply(
                lambda x: pd.Series({"handoff_ns": np.average(x["handoff_ns"],
                                                              weights=x["count"])}),
                include_groups=False)
            ax.plot(g["waiters"], g["handoff_ns"], "o-", color=LOCK_PALETTE.get(lock, "k"),
                    label=lock)
        ax.set_xlabel("waiters when the lock is released")
        ax.set_ylabel("release -> next acquisition (ns)")
        ax.set_title("Handoff time vs spinners (engine)")
        ax.legend()
        fig.tight_layout()
    return fig


def fig_transfers(df: pd.DataFrame) -> Figure:
    """Cache-line transfers per lock operation vs N (engine)."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        for label, c, ls, mk, g in _series(df):
            ax.plot(g["tasks"], g["transfers_per_op"], mk + ls, color=c, label=label)
        ax.set_xlabel("contending tasks N")
        ax.set_ylabel("line transfers per lock/unlock")
        ax.set_title("Coherence traffic per operation (engine)")
        ax.legend()
        fig.tight_layout()
    return fig


def fig_engine_panel(df: pd.DataFrame, handoff: pd.DataFrame) -> Figure:
    """Residuals and handoff side by side (for papers)."""
    with paper_style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=WIDE)
        for label, c, ls, mk, g in _series(df):
            a1.plot(g["tasks"], 100 * g["rel_err"], mk + ls, color=c, label=label)
        a1.axhline(0, color="0.3", lw=0.8)
        a1.set_xlabel("tasks N")
        a1.set_ylabel("rel. error (%)")
        h = handoff[handoff["count"] >= 20]
        for lock, g in h.groupby("lock", sort=False):
            g = g.groupby("waiters")["handoff_ns"].mean()
            a2.plot(g.index, g.to_numpy(), "o-", color=LOCK_PALETTE.get(lock, "k"),
                    label=lock)
        a2.set_xlabel("waiters at release")
        a2.set_ylabel("handoff (ns)")
        a1.legend()
        fig.tight_layout()
    return fig


def engine_figure_data(ops_per_task: int = 4000, reps: int = 2, seed: int = 1):
    """(engine_table, handoff frame) with the preset hardware, for the figures."""
    from ..calibrate import engine_table
    from ..sim import simulate

    table = engine_table(ops_per_task=ops_per_task, reps=reps, seed=seed, progress=False)
    frames = [simulate(lock, n, ops_per_task // 2, reps=1, seed=seed).handoff
              for lock in ("ticket", "qspinlock") for n in range(2, 9)]
    return table, pd.concat(frames, ignore_index=True)


def register_engine_figures() -> None:
    """Add the engine figures to :data:`pvqmodel.figures.REGISTRY`."""
    from functools import cache

    from . import _fit, register

    data = cache(engine_figure_data)
    register("engine-vs-table", lambda: fig_engine_vs_table(data()[0], _fit().points))
    register("engine-residuals", lambda: fig_engine_residuals(data()[0]))
    register("engine-handoff", lambda: fig_handoff(data()[1]))
    register("engine-transfers", lambda: fig_transfers(data()[0]))
