"""Figures of the seed table and the analytical fits: ``fig_*(data) -> Figure``.

Owns the drawing only: each function takes the tidy DataFrame(s) it shows (from
:func:`pvqmodel.seed_table` or :func:`pvqmodel.fit_analytic`) and returns a matplotlib
Figure, computing nothing a reader could not see in its input. The seed table is one
measurement per cell (no replications are published), so these figures have no error
bars.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import LOCK_PALETTE, SINGLE, WIDE, keyed, no_legend, paper_style

_SOURCE = ("data: Long, [PATCH v10 17/19] pvqspinlock (2014),\n"
           "Westmere-EX, 5M lock/unlock per task, one run per cell")
#: Relative errors beyond this are drawn at the edge of the residual panels (%).
_CLIP = 25.0


def _lines(df: pd.DataFrame, y: str, ax) -> None:
    """One line per (lock, PV) column: colour = lock, solid/filled = PV off,
    dashed/open = PV on."""
    d = df.assign(lock=df["lock"].astype(str), pv=df["pv"].astype(str))
    for (lock, pv), g in d.groupby(["lock", "pv"], sort=False):
        g = g.sort_values("tasks")
        c = LOCK_PALETTE.get(lock, "k")
        on = pv == "on"
        ax.plot(g["tasks"], g[y], "--" if on else "-", marker="s" if on else "o", ms=4,
                color=c, mfc="white" if on else c, label=f"{lock}, PV {pv}")
    ax.set_xticks(range(1, int(df["tasks"].max()) + 1))
    ax.set_xlabel("contending tasks N")


def fig_table(df: pd.DataFrame) -> Figure:
    """The seed table as printed: total ms vs N, one line per (lock, PV) column."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        _lines(df, "ms", ax)
        ax.set_ylabel("execution time (ms)")
        ax.set_title("Seed table: 5M lock/unlock per task")
        ax.legend(loc="upper left")
        # below the x label, in axes-relative points so it cannot overlap it
        ax.annotate(_SOURCE, xy=(0, 0), xycoords="axes fraction", xytext=(0, -36),
                    textcoords="offset points", va="top", fontsize=8, color="0.35")
    return fig


def fig_per_op(df: pd.DataFrame) -> Figure:
    """Per-operation cost ms*1e6/(5e6 N): under saturation the handoff cost h(N)."""
    with paper_style():
        fig, ax = plt.subplots(figsize=SINGLE)
        _lines(df, "ns_per_op", ax)
        ax.set_ylabel("ns per lock/unlock (all tasks)")
        ax.set_ylim(bottom=0)
        ax.set_title("Per-op cost: ticket grows linearly, queue plateaus")
        ax.legend(loc="lower right")
    return fig


def fig_pv_ratio(df: pd.DataFrame) -> Figure:
    """PV on/off time ratio and extra ns per op, per lock."""
    on = df[df["pv"].astype(str) == "on"].assign(lock=lambda d: d["lock"].astype(str))
    with paper_style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=WIDE)
        for ax, col, label in ((a1, "pv_ratio", "PV on / PV off time"),
                               (a2, "pv_extra_ns", "PV extra ns per op")):
            for lock, g in on.groupby("lock", sort=False):
                g = g.sort_values("tasks")
                ax.plot(g["tasks"], g[col], "o-", ms=4, color=LOCK_PALETTE.get(lock, "k"),
                        label=lock)
            ax.set_xticks(range(1, int(on["tasks"].max()) + 1))
            ax.set_xlabel("contending tasks N")
            ax.set_ylabel(label)
            ax.legend(title="lock")
        no_legend(a1.axhline(1.0, color="0.5", lw=0.8), "reference: no PV overhead")
        no_legend(a2.axhline(0.0, color="0.5", lw=0.8), "reference: no PV overhead")
        fig.suptitle("Cost of enabling the PV spinlock code on bare metal")
        fig.tight_layout()
    return fig


def fig_fits(points: pd.DataFrame) -> Figure:
    """Each analytical fit over its column (top) with relative residuals (bottom).

    ``points`` is :attr:`pvqmodel.AnalyticFit.points`. Filled markers are the cells in
    the fit range, open markers the cells outside it (extrapolated model, dotted, kept
    visible); residuals beyond ±25 % are drawn as triangles at the panel's edge.
    """
    groups = list(points.groupby(["model", "lock", "pv"], sort=False))
    with paper_style():
        fig, axes = plt.subplots(2, len(groups), figsize=(2.6 * len(groups), 4.9),
                                 sharex=True, gridspec_kw={"height_ratios": [2, 1]},
                                 squeeze=False)
        handles = {}
        for j, ((model, lock, pv), g) in enumerate(groups):
            top, bot = axes[0, j], axes[1, j]
            colour = LOCK_PALETTE.get(lock, "k")
            ns = g["tasks"].to_numpy()
            meas = g["measured_ms"] * 1e6 / (5e6 * ns)
            mod = g["model_ms"] * 1e6 / (5e6 * ns)
            fit = g["in_fit"].to_numpy()
            (h1,) = top.plot(ns[fit], mod[fit], "-", color="k", lw=1, label="model (fit range)")
            (h2,) = top.plot(ns, mod, ":", color="k", lw=0.8, label="model (extrapolated)")
            (h3,) = top.plot(ns[fit], meas[fit], "o", color=colour, label="measured, in fit")
            (h4,) = top.plot(ns[~fit], meas[~fit], "o", mfc="none", color=colour,
                             label="measured, outside fit")
            handles.update({h.get_label(): h for h in (h1, h2, h3, h4)})
            hi = float(np.nanmax(meas[ns > 1])) * 1.35
            top.set_ylim(0, hi)
            top.set_title(f"{model}\n{lock}, PV {pv}")
            no_legend(bot.axhline(0, color="0.5", lw=0.8), "reference: zero error")
            rel = 100 * g["rel_err"].to_numpy()
            keyed(bot.plot(ns[fit], rel[fit], "o", color=colour)[0], "measured, in fit")
            inside = ~fit & (np.abs(rel) <= _CLIP)
            keyed(bot.plot(ns[inside], rel[inside], "o", mfc="none", color=colour)[0],
                  "measured, outside fit")
            beyond = np.abs(rel) > _CLIP
            if beyond.any():
                y = np.sign(rel[beyond]) * (_CLIP - 2)
                for sgn, mk in ((1, "^"), (-1, "v")):
                    sel = np.sign(y) == sgn
                    if sel.any():
                        (h5,) = bot.plot(ns[beyond][sel], y[sel], mk, mfc="none",
                                         color=colour, label=f"error beyond ±{_CLIP:g} %")
                        handles[h5.get_label()] = h5
            bot.set_ylim(-_CLIP, _CLIP)
            bot.set_xlabel("tasks N")
            bot.set_xticks(range(1, 9))
        axes[0, 0].set_ylabel("ns per op")
        axes[1, 0].set_ylabel("rel. error (%)")
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        leg = fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=5,
                         bbox_to_anchor=(0.5, 1.0), frameon=False)
        for h in leg.legend_handles:  # glyphs only: the colour is the lock's, per panel
            if h.get_marker() not in (None, "None", ""):
                h.set_color("0.4")
    return fig
