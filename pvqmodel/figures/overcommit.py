"""Figures of the overcommit study, drawn from a sweep's Parquet results.

Owns drawing only; the input is :func:`pvqmodel.overcommit.overcommit_table` of a
sweep's dataset (one row per shared-host scenario, intervals already computed), read
from disk by :func:`overcommit_figure_table`, never simulated here. Three figures, one
panel per workload (rows) and PLE setting (columns) where they apply:
``overcommit-slowdown``: the slowdown against fair share (log axis, 95 % intervals) for
every lock against the VM layout, ordered by overcommit (total vCPUs / pCPUs);
``overcommit-ranking``: the locks ranked by slowdown in each layout (1 = smallest),
each cell annotated with its slowdown; ``overcommit-counters``: halts, kicks and PLE
exits per lock operation (symmetric log axes). :func:`register_overcommit_figures` adds
them to the registry; they read the full study's folder if it exists, else the reduced
one that ``pvqmodel reproduce`` writes, and say which in their titles.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .intervals import n_text
from .style import CONFIDENCE, LOCK_MARKERS, LOCK_PALETTE, keyed, no_legend, paper_style

__all__ = ["fig_overcommit_counters", "fig_overcommit_ranking", "fig_overcommit_slowdown",
           "overcommit_figure_table", "register_overcommit_figures", "study_title"]

_CI = f"{CONFIDENCE:.0%}"
_LINTHRESH = 1e-4
#: the study folders the registered figures read, in order of preference
STUDY_DIRS = ("overcommit", "overcommit-reduced")


def _layouts(t: pd.DataFrame) -> list[str]:
    """Layouts ordered by overcommit, then number of VMs."""
    u = t[["layout", "overcommit", "n_vms"]].drop_duplicates().sort_values(
        ["overcommit", "n_vms"], kind="stable")
    return list(u["layout"])


def _layout_label(t: pd.DataFrame, lay: str) -> str:
    oc = float(t.loc[t["layout"] == lay, "overcommit"].iloc[0])
    return f"{lay.replace('+', '+')}\n{oc:g}x"


def _locks(t: pd.DataFrame) -> list[str]:
    order = list(LOCK_PALETTE)
    return sorted(dict.fromkeys(t["lock"]), key=lambda x: (order.index(x) if x in order
                                                           else len(order), x))


def _colour(lock: str, i: int) -> str:
    return LOCK_PALETTE.get(lock, f"C{i % 10}")


def _panels(t: pd.DataFrame):
    wls = list(dict.fromkeys(t["workload"]))
    ples = sorted(t["ple"].unique())
    return wls, ples


def _panel_title(wl, ple):
    return f"{wl}, PLE {'on' if ple else 'off'}"


def _yerr(d, col):
    c = d[col].to_numpy(float)
    lo = d[f"{col}_lo"].to_numpy(float)
    hi = d[f"{col}_hi"].to_numpy(float)
    return np.vstack([np.nan_to_num(c - lo).clip(min=0), np.nan_to_num(hi - c).clip(min=0)])


def _lock_legend(fig, locks, title):
    handles = [Line2D([], [], color=_colour(lk, i), marker=LOCK_MARKERS.get(lk, "o"), ms=5,
                      lw=1.2)
               for i, lk in enumerate(locks)]
    fig.legend(handles, locks, loc="lower center", ncol=min(6, len(locks)),
               bbox_to_anchor=(0.5, 0.0), title=title)


def _legend_room(fig, locks) -> float:
    """Fraction of the figure's height the bottom legend needs (title + rows of 6)."""
    rows = 1 + (len(locks) - 1) // 6
    return min(0.45, (0.45 + 0.22 * rows) / fig.get_size_inches()[1])


def _grid(t: pd.DataFrame):
    """What every overcommit figure lays out: the panels' workloads and PLE settings, the
    layouts in overcommit order with their x positions, the locks with their dodge
    offsets (so that a lock's points sit side by side, not on top of each other)."""
    if t.empty:
        raise ValueError("the overcommit table is empty")
    wls, ples = _panels(t)
    lays, locks = _layouts(t), _locks(t)
    xpos = {lay: i for i, lay in enumerate(lays)}
    dodge = {lk: 0.6 * (i - (len(locks) - 1) / 2) / max(len(locks), 1)
             for i, lk in enumerate(locks)}
    return wls, ples, lays, locks, xpos, dodge


def _plot_locks(ax, d: pd.DataFrame, col: str, locks, xpos, dodge) -> None:
    """One line per lock of ``d[col]`` against the layout (dodged, with its interval
    bars), in the lock's colour and marker."""
    for i, lk in enumerate(locks):
        g = d[d["lock"] == lk].copy()
        if g.empty:
            continue
        g["x"] = g["layout"].map(xpos) + dodge[lk]
        g = g.sort_values("x")
        c = _colour(lk, i)
        keyed(ax.errorbar(g["x"], g[col], yerr=_yerr(g, col), color=c, mec=c,
                          marker=LOCK_MARKERS.get(lk, "o"), ms=3.5, lw=1.0, capsize=1.5),
              lk)


def _layout_ticks(ax, t: pd.DataFrame, lays) -> None:
    """The x axis of a panel: one tick per VM layout, labelled with its overcommit."""
    ax.set_xticks(range(len(lays)))
    ax.set_xticklabels([_layout_label(t, lay) for lay in lays])


def _plain_y(ax) -> None:
    """y tick labels as plain numbers ("0.5", "20"), none on the minor ticks."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _finish_lines(fig, axes, t: pd.DataFrame, locks, xlabel: str, top: float,
                  note: str, title: str) -> None:
    """The per-lock line figures' frame: the x label under the last row, the lock legend
    (with ``note`` after the replication count) below, the title above."""
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    fig.tight_layout(rect=(0, _legend_room(fig, locks), 1, top if title else 1))
    _lock_legend(fig, locks, f"mean of {n_text(t['reps'])} replications, bars {_CI} {note}")
    if title:
        fig.suptitle(title, fontsize=9)


def fig_overcommit_slowdown(t: pd.DataFrame, *, title: str = "") -> Figure:
    """Slowdown against fair share per lock against the layout (log axis, 95 %
    intervals); one panel per workload (row) and PLE setting (column)."""
    wls, ples, lays, locks, xpos, dodge = _grid(t)
    with paper_style():
        fig, axes = plt.subplots(len(wls), len(ples), squeeze=False, sharex=True,
                                 figsize=(5.2 * len(ples), 3.0 * len(wls) + 1.6))
        for row, wl in zip(axes, wls, strict=True):
            for ax, ple in zip(row, ples, strict=True):
                d = t[(t["workload"] == wl) & (t["ple"] == ple)]
                _plot_locks(ax, d, "slowdown", locks, xpos, dodge)
                no_legend(ax.axhline(1.0, color="0.2", lw=0.8, ls=":"),
                          "reference: exactly the fair share (slowdown 1)")
                ax.set_yscale("log")
                lo = np.nanmin(d["slowdown_lo"].where(d["slowdown_lo"] > 0)
                               .fillna(d["slowdown"]).to_numpy(float))
                hi = np.nanmax(d["slowdown_hi"].fillna(d["slowdown"]).to_numpy(float))
                lo = lo if np.isfinite(lo) else 0.5
                hi = hi if np.isfinite(hi) else 2.0
                ax.set_ylim(min(0.8, lo / 1.25), max(1.25, hi * 1.25))
                ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                _plain_y(ax)
                ax.set_title(_panel_title(wl, ple))
                ax.set_ylabel("slowdown against fair share (log)")
                _layout_ticks(ax, t, lays)
        _finish_lines(fig, axes, t, locks,
                      "VM layout (vCPUs per VM) and overcommit (total vCPUs / pCPUs)", 0.95,
                      "interval (delta method with the dedicated baseline); dotted: fair share",
                      title)
    return fig


def fig_overcommit_ranking(t: pd.DataFrame, *, title: str = "") -> Figure:
    """The locks ranked by slowdown in each layout (1 = smallest slowdown), each cell
    annotated with the slowdown; one panel per workload and PLE setting."""
    wls, ples, lays, locks, _, _ = _grid(t)
    with paper_style():
        fig, axes = plt.subplots(len(wls), len(ples), squeeze=False,
                                 figsize=(1.0 * len(lays) * len(ples) + 3.5,
                                          0.32 * len(locks) * len(wls) + 1.8))
        im = None
        for row, wl in zip(axes, wls, strict=True):
            for ax, ple in zip(row, ples, strict=True):
                d = t[(t["workload"] == wl) & (t["ple"] == ple)]
                s = d.pivot_table(index="lock", columns="layout", values="slowdown",
                                  aggfunc="mean").reindex(index=locks, columns=lays)
                rank = s.rank(axis=0, method="min")
                im = ax.imshow(rank.to_numpy(float), cmap="viridis_r", aspect="auto",
                               vmin=1, vmax=max(len(locks), 2))
                for i in range(len(locks)):
                    for j in range(len(lays)):
                        v = s.iat[i, j]
                        if np.isfinite(v):
                            r = rank.iat[i, j]
                            ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=8,
                                    color="black" if r <= len(locks) / 2 else "white")
                _layout_ticks(ax, t, lays)
                ax.set_yticks(range(len(locks)))
                ax.set_yticklabels(locks)
                ax.set_title(_panel_title(wl, ple))
                ax.grid(False)
        for ax in axes[-1]:
            ax.set_xlabel("VM layout, overcommit")
        fig.tight_layout(rect=(0, 0, 0.9, 0.95 if title else 1))
        cax = fig.add_axes((0.92, 0.15, 0.015, 0.7))
        cb = fig.colorbar(im, cax=cax)
        cb.set_label("rank by slowdown in the layout (1 = smallest); cells: the slowdown",
                     fontsize=8)
        for c in cax.collections:  # the colour bar's own mesh and dividers
            no_legend(c, "colour bar of the rank")
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


_COUNTERS = (("halts_per_op", "halts per op (symlog)"),
             ("kicks_per_op", "kicks per op (symlog)"),
             ("ple_exits_per_op", "PLE exits per op (symlog)"))


def fig_overcommit_counters(t: pd.DataFrame, *, title: str = "") -> Figure:
    """Halts, kicks and PLE exits per lock operation against the layout, per lock; one
    row of panels per workload and PLE setting."""
    wls, ples, lays, locks, xpos, dodge = _grid(t)
    cells = [(wl, ple) for wl in wls for ple in ples]
    with paper_style():
        fig, axes = plt.subplots(len(cells), len(_COUNTERS), squeeze=False, sharex=True,
                                 figsize=(13.0, 2.3 * len(cells) + 1.6))
        for row, (wl, ple) in zip(axes, cells, strict=True):
            d = t[(t["workload"] == wl) & (t["ple"] == ple)]
            for ax, (col, label) in zip(row, _COUNTERS, strict=True):
                _plot_locks(ax, d, col, locks, xpos, dodge)
                if not (d[col].fillna(0) > 0).any():
                    ax.text(0.5, 0.5, "0 in every cell", transform=ax.transAxes,
                            ha="center", va="center", fontsize=9, color="0.3")
                ax.set_yscale("symlog", linthresh=_LINTHRESH, linscale=0.6)
                ax.set_ylim(bottom=0)
                _plain_y(ax)
                ax.set_title(f"{_panel_title(wl, ple)}: {label.split(' (')[0]}")
                ax.set_ylabel(label)
                _layout_ticks(ax, t, lays)
        _finish_lines(fig, axes, t, locks, "VM layout, overcommit", 0.97, "t-interval", title)
    return fig


def study_title(t: pd.DataFrame) -> str:
    """What the figures show, from the table itself."""
    if t.empty:
        return ""
    r = t.iloc[0]
    dur = (f"{r['duration_ms']:g} ms" if pd.notna(r["duration_ms"])
           else f"{int(r['ops_per_vcpu'])} ops per vCPU")
    return (f"study {r['study']}: {int(r['pcpus'])} pCPUs ({r['preset']}, {r['scheduler']}, "
            f"halt polling {'on' if r['halt_poll'] else 'off'}); {n_text(t['reps'])} x "
            f"{dur} per scenario")


@cache
def _dir_table(path: str, files: int, mtime: float) -> pd.DataFrame:
    # keyed by the folder's task count and manifest time too: a sweep that added tasks
    # or started over is read again
    from ..overcommit import overcommit_table
    from ..sweeps import sweep_results

    return overcommit_table(sweep_results(path))


def overcommit_figure_table(out=None, *, run_reduced: bool = False) -> pd.DataFrame:
    """The overcommit table of the sweep folder ``out``, or of the first of
    ``data/processed/overcommit`` (the full study) and ``.../overcommit-reduced`` that
    holds a sweep. If neither does: with ``run_reduced`` the reduced study
    (``studies/overcommit-reduced.toml``, about a minute on two cores, in this process)
    is run into ``.../overcommit-reduced`` first (what ``pvqmodel figures`` does, so that
    one command still rebuilds every figure), else ``FileNotFoundError`` says which
    command writes it."""
    from ..paths import PROCESSED
    from ..sweeps import MANIFEST, STUDIES, sweep, task_files

    if out is None:
        for name in STUDY_DIRS:
            if (PROCESSED / name / MANIFEST).exists():
                out = PROCESSED / name
                break
        else:
            if not run_reduced:
                raise FileNotFoundError(
                    f"no overcommit sweep in {PROCESSED}/"
                    f"{{{','.join(STUDY_DIRS)}}}: run `pvqmodel reproduce` (the reduced "
                    "study) or `pvqmodel sweep studies/overcommit.toml` first")
            out = PROCESSED / STUDY_DIRS[1]
            print(f"overcommit figures: no sweep results yet; running the reduced study "
                  f"into {out} (resumable)")
            sweep(STUDIES / "overcommit-reduced.toml", out=out, serial=True, progress=True)
    out = Path(out)
    man = out / MANIFEST
    return _dir_table(str(out), len(task_files(out)),
                      man.stat().st_mtime if man.exists() else 0.0)


def register_overcommit_figures() -> None:
    """Add the three overcommit figures to :data:`pvqmodel.figures.REGISTRY`."""
    from . import register

    def build(fn):
        def builder():
            t = overcommit_figure_table(run_reduced=True)
            return fn(t, title=study_title(t))
        return builder

    register("overcommit-slowdown", build(fig_overcommit_slowdown))
    register("overcommit-ranking", build(fig_overcommit_ranking))
    register("overcommit-counters", build(fig_overcommit_counters))
