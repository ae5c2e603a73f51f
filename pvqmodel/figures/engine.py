"""Figures of the Monte Carlo engine against the seed table: ``fig_*(df) -> Figure``.

Owns the drawing of notebook 02's figures only. Inputs are the tidy frames of
:func:`pvqmodel.calibrate.engine_table` (one row per cell, the mean and sd over
replications), of :attr:`pvqmodel.sim.SimResult.handoff` (mean handoff time by waiters
at release) and, optionally, :attr:`pvqmodel.AnalyticFit.points`. The number of
replications behind ``model_sd_ms`` comes from a ``reps`` column (added by
:func:`engine_figure_data`) or the ``reps`` argument; with it the figures draw the 95 %
Student-t interval of the engine's mean, without it no interval. ``engine-ablation``
draws the coherence-mechanism model of issue 16 (:mod:`pvqmodel.mechanisms`: its fit
and ablation tables).
:func:`register_engine_figures` adds them to the ``pvqmodel figures`` registry (they run
the engine, a minute or two).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from .style import CONFIDENCE, LOCK_PALETTE, SINGLE, keyed, no_legend, paper_style

#: engine_figure_data's defaults: replications per cell and operations per task.
ENGINE_FIGURE_REPS = 4
ENGINE_FIGURE_OPS = 4000


def _per_op(df, col):
    return df[col] * 1e6 / (5e6 * df["tasks"])


def _series(df):
    """(label, color, line style, marker, rows) per (lock, pv) column, sorted by N."""
    keys = ["lock", "pv"] if "pv" in df.columns else ["lock"]
    for key, g in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        lock, pv = str(key[0]), (str(key[1]) if len(key) > 1 else "off")
        yield (f"{lock}, PV {pv}", LOCK_PALETTE.get(lock, "k"), "-" if pv == "off" else "--",
               "o" if pv == "off" else "s", g.sort_values("tasks"))


def _reps(df, reps):
    if reps is not None:
        return int(reps)
    if "reps" in df.columns and df["reps"].notna().all():
        return int(df["reps"].min())
    return None


def _half_width(sd, n):
    """Half width of the t-interval of a mean of ``n`` replications with sd ``sd``."""
    return stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / np.sqrt(n)


def fig_engine_vs_table(df: pd.DataFrame, analytic: pd.DataFrame | None = None, *,
                        reps: int | None = None) -> Figure:
    """ns/op vs N: measured (markers), engine mean (lines, 95 % t-interval band over
    ``reps`` replications), analytic fits (dotted).

    ``df``: engine_table() (plus a ``reps`` column, or pass ``reps``); ``analytic``:
    AnalyticFit.points (optional; drawn over each model's fit range only).
    """
    n = _reps(df, reps)
    with paper_style():
        fig, ax = plt.subplots(figsize=(6.6, 3.6))
        series = []
        engine_key = ("engine mean" if n is None or n < 2 else
                      f"engine mean, {CONFIDENCE:.0%} CI (n = {n})")
        fitted = False
        for label, c, ls, mk, g in _series(df):
            m = _per_op(g, "model_ms")
            keyed(ax.plot(g["tasks"], _per_op(g, "measured_ms"), mk, color=c, ms=4,
                          mfc="none" if ls != "-" else c)[0], "seed table (measured)")
            keyed(ax.plot(g["tasks"], m, ls, color=c)[0], label)
            series.append(Line2D([], [], color=c, ls=ls, marker=mk, ms=4,
                                 mfc="none" if ls != "-" else c, label=label))
            if n is not None and n >= 2:
                hw = _half_width(_per_op(g, "model_sd_ms").fillna(0), n)
                keyed(ax.fill_between(g["tasks"], m - hw, m + hw, color=c, alpha=0.25, lw=0),
                      engine_key)
            if analytic is not None:
                lock, pv = g["lock"].iloc[0], str(g["pv"].iloc[0]) if "pv" in g else "off"
                a = analytic[(analytic["lock"].astype(str) == lock) &
                             (analytic["pv"].astype(str) == pv)]
                for _, ga in a.groupby("model"):
                    ga = ga[ga["in_fit"]].sort_values("tasks") if "in_fit" in ga else ga
                    ga = ga.sort_values("tasks")
                    keyed(ax.plot(ga["tasks"], _per_op(ga, "model_ms"), ":", color=c,
                                  lw=1.0)[0], "analytic fits (fit range)")
                    fitted = True
        ax.set_xlabel("contending tasks N")
        ax.set_ylabel("ns per lock/unlock (all tasks)")
        ax.set_title("Engine (one hardware parameter set) vs the seed table")
        ax.set_xticks(range(1, int(df["tasks"].max()) + 1))
        line = Line2D([], [], color="0.3")
        handles = [Line2D([], [], ls="none", marker="o", color="0.3", ms=4),
                   (Patch(color="0.3", alpha=0.25, lw=0), line) if n is not None and n >= 2
                   else line]
        labels = ["seed table (measured)", engine_key]
        if fitted:
            handles.append(Line2D([], [], ls=":", color="0.3"))
            labels.append("analytic fits (fit range)")
        first = ax.legend(handles=series, title="lock, PV (colour, line)", loc="upper left",
                          bbox_to_anchor=(1.01, 1.0))
        ax.add_artist(first)
        ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(1.01, 0.0))
        fig.tight_layout()
    return fig


def fig_engine_residuals(df: pd.DataFrame, *, reps: int | None = None) -> Figure:
    """Relative error of the engine per cell, with the issue's ±5 % / ±12 % bands, and
    the 95 % t-interval of the engine's mean (``reps`` replications) as error bars."""
    n = _reps(df, reps)
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        for label, c, ls, mk, g in _series(df):
            y = 100 * g["rel_err"]
            if n is not None and n >= 2:
                err = 100 * _half_width(g["model_sd_ms"].fillna(0), n) / g["measured_ms"]
                ax.errorbar(g["tasks"], y, yerr=err, fmt=mk + ls, color=c, ms=4, capsize=2,
                            mfc="none" if ls != "-" else c, label=label)
            else:
                ax.plot(g["tasks"], y, mk + ls, color=c, ms=4,
                        mfc="none" if ls != "-" else c, label=label)
        for y, ls in ((5, "--"), (12, ":")):
            no_legend(ax.axhline(y, color="0.5", ls=ls, lw=0.8), "target band, in title")
            no_legend(ax.axhline(-y, color="0.5", ls=ls, lw=0.8), "target band, in title")
        no_legend(ax.axhline(0, color="0.3", lw=0.8), "reference: zero error")
        ax.set_xlabel("contending tasks N")
        ax.set_ylabel("engine / measured - 1 (%)")
        ax.set_title("Residuals (dashed ±5 %, dotted ±12 %)")
        ax.set_xticks(range(1, int(df["tasks"].max()) + 1))
        ax.legend(title=None if n is None or n < 2 else
                  f"bars: {CONFIDENCE:.0%} CI of the mean, n = {n}", loc="best")
        fig.tight_layout()
    return fig


def fig_handoff(handoff: pd.DataFrame) -> Figure:
    """Mean handoff time vs number of waiters at release: ticket grows, MCS does not.
    Each point pools the handoffs of all runs with that many waiters (>= 20 handoffs)."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        h = handoff[handoff["count"] >= 20]
        for lock, g in h.groupby("lock", sort=False):
            g = g.groupby("waiters", as_index=False).apply(
                lambda x: pd.Series({"handoff_ns": np.average(x["handoff_ns"],
                                                              weights=x["count"])}),
                include_groups=False)
            ax.plot(g["waiters"], g["handoff_ns"], "o-", ms=4,
                    color=LOCK_PALETTE.get(lock, "k"), label=lock)
        ax.set_xlabel("waiters when the lock is released")
        ax.set_ylabel("release -> next acquisition (ns)")
        ax.set_title("Handoff time vs spinners (engine, mean)")
        ax.legend()
        fig.tight_layout()
    return fig


def fig_transfers(df: pd.DataFrame) -> Figure:
    """Cache-line transfers per lock operation vs N (engine, mean over replications)."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        for label, c, ls, mk, g in _series(df):
            ax.plot(g["tasks"], g["transfers_per_op"], mk + ls, color=c, ms=4,
                    mfc="none" if ls != "-" else c, label=label)
        ax.set_xlabel("contending tasks N")
        ax.set_ylabel("line transfers per lock/unlock")
        ax.set_title("Coherence traffic per operation (engine)")
        ax.set_xticks(range(1, int(df["tasks"].max()) + 1))
        ax.legend()
        fig.tight_layout()
    return fig


def engine_figure_data(ops_per_task: int = ENGINE_FIGURE_OPS, reps: int = ENGINE_FIGURE_REPS,
                       seed: int = 1):
    """(engine_table with a ``reps`` column, handoff frame) with the preset hardware."""
    from ..calibrate import engine_table
    from ..sim import simulate

    table = engine_table(ops_per_task=ops_per_task, reps=reps, seed=seed, progress=False)
    frames = [simulate(lock, n, ops_per_task // 2, reps=1, seed=seed).handoff
              for lock in ("ticket", "qspinlock") for n in range(2, 9)]
    return table.assign(reps=reps), pd.concat(frames, ignore_index=True)


def fig_engine_ablation(cells: pd.DataFrame, ablation: pd.DataFrame, *,
                        title: str | None = None) -> Figure:
    """The coherence-mechanism model (issue 16) on the PV-off cells and its ablation.

    Left: relative error of ns/op per cell vs N for ticket and queue (``cells``:
    :func:`pvqmodel.mechanisms.fit_mechanisms`' ``cells``; its ``fitted`` column marks
    the cells fitted: open markers are predictions). Right: median and max |relative
    error| over the 16 cells with every mechanism as fitted (top bar) and with each one
    switched off in turn (``ablation``: :func:`pvqmodel.mechanisms.ablation`)."""
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.6, 3.4),
                                   gridspec_kw={"width_ratios": [1.0, 1.25]})
        for lock, g in cells.groupby("lock", sort=True):
            g = g.sort_values("tasks")
            c = LOCK_PALETTE.get(str(lock), "k")
            a.plot(g["tasks"], 100 * g["rel_err"], "-", color=c, label=str(lock))
            fit = g["fitted"].astype(bool) if "fitted" in g else pd.Series(True, g.index)
            keyed(a.plot(g["tasks"][fit], 100 * g["rel_err"][fit], "o", color=c, ms=4)[0],
                  str(lock))
            if (~fit).any():
                keyed(a.plot(g["tasks"][~fit], 100 * g["rel_err"][~fit], "o", color=c,
                             mfc="none", ms=4)[0], str(lock))
        no_legend(a.axhline(0.0, color="0.5", lw=0.8), "reference: exact")
        a.set_xlabel("contending tasks N")
        a.set_ylabel("engine / measured - 1 (%)")
        a.set_title("PV off, every mechanism on")
        a.set_xticks(range(1, int(cells["tasks"].max()) + 1))
        a.legend(title="lock")
        y = np.arange(len(ablation))
        b.barh(y - 0.2, 100 * ablation["median_abs_rel_err"], height=0.4, color="0.35",
               label="median")
        b.barh(y + 0.2, 100 * ablation["max_abs_rel_err"], height=0.4, color="0.75",
               label="max")
        b.set_yticks(y, [("none (as fitted)" if m == "all as given" else m)
                         for m in ablation["mechanism off"]])
        b.invert_yaxis()
        b.set_xlabel("|engine / measured - 1| over 16 cells (%)")
        b.set_title("Each mechanism off in turn")
        b.legend(loc="upper right")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def mechanism_figure_data(*, ops_per_task: int = 4000, ablation_ops: int = 2000,
                          seed: int = 2015):
    """(cells, ablation) of the calibrated preset (the coherence-mechanism model fitted
    to both locks' PV-off cells by :func:`pvqmodel.calibrate`): its 16 PV-off cells and
    each mechanism switched off in turn (:func:`pvqmodel.mechanisms.ablation`, ~20 s)."""
    from ..mechanisms import ablation, cell_errors
    from ..sim import default_hardware, default_workload

    hw, wl = default_hardware(), default_workload()
    return (cell_errors(hw, wl, ops_per_task=ops_per_task, reps=2, seed=seed),
            ablation(hw, wl, ops_per_task=ablation_ops, seed=seed + 1, progress=False))


def register_engine_figures() -> None:
    """Add the engine figures to :data:`pvqmodel.figures.REGISTRY`."""
    from functools import cache

    from . import _fit, register

    data = cache(engine_figure_data)
    register("engine-vs-table", lambda: fig_engine_vs_table(data()[0], _fit().points))
    register("engine-residuals", lambda: fig_engine_residuals(data()[0]))
    register("engine-handoff", lambda: fig_handoff(data()[1]))
    register("engine-transfers", lambda: fig_transfers(data()[0]))
    register("engine-ablation", lambda: fig_engine_ablation(
        *mechanism_figure_data(), title="Coherence mechanisms: the calibrated preset and "
                                        "its ablation"))
