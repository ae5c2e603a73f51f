"""Figure of the host study: a lock's VM beside co-tenants under the FIFO round robin,
CFS and EEVDF, with pause-loop exiting off and on.

Owns drawing only; the input is the frame of :func:`pvqmodel.hoststudy.host_study` (one
row per cell, intervals already computed). ``host-schedulers``: one row of panels per
lock; the slowdown against fair share (log axis; 1 = the VM gets what its share of the
pCPUs is worth) and PLE exits, halts and kicks per lock operation (symmetric log axes:
they span decades and are often 0), each against the number of VMs on the host, one
series per scheduler (colour) and PLE setting (marker), dodged sideways, with the 95 %
intervals of the study (the slowdown's from both its host and its dedicated-baseline
replications). One halt-polling setting and one co-tenant kind are drawn (the study's
others are in its frame and notebook 06). :func:`register_host_figures` adds it to the
``pvqmodel figures`` registry (a few seconds of engine time at the registered size).
"""

from __future__ import annotations

from functools import cache

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .intervals import n_text
from .style import CONFIDENCE, WIDE, keyed, no_legend, paper_style

#: colour per host scheduler: the old FIFO model grey, CFS and EEVDF two hues
SCHED_COLOURS = {"rr": "0.45", "cfs": "#1f77b4", "eevdf": "#d62728"}
SCHED_NAMES = {"rr": "FIFO round robin (old model)", "cfs": "CFS", "eevdf": "EEVDF"}
_PLE = {False: dict(marker="s", mfc="white"), True: dict(marker="o")}
_CI = f"{CONFIDENCE:.0%}"
#: (column, axis label, scale) of the panels
_PANELS = (("slowdown", "slowdown against fair share (log)", "log"),
           ("ple_exits_per_op", "PLE exits per op (symlog)", "symlog"),
           ("halts_per_op", "halts per op (symlog)", "symlog"),
           ("kicks_per_op", "kicks per op (symlog)", "symlog"))
#: linear range of the symmetric log axes: below one event per 10 000 operations
_LINTHRESH = 1e-4


def _key(sched: str, ple: bool) -> str:
    return f"{SCHED_NAMES[sched]}, PLE {'on' if ple else 'off'}"


def _yerr(d: pd.DataFrame, col: str):
    c = d[col].to_numpy(float)
    lo = d[f"{col}_lo"].to_numpy(float)
    hi = d[f"{col}_hi"].to_numpy(float)
    return np.vstack([np.nan_to_num(c - lo).clip(min=0), np.nan_to_num(hi - c).clip(min=0)])


def fig_host_schedulers(df: pd.DataFrame, *, halt_poll: bool = True, cotenant: str = "cpu",
                        title: str = "") -> Figure:
    """Slowdown against fair share and PLE exits, halts and kicks per op against the
    number of VMs (one lock VM plus CPU-bound co-tenants by default), one panel row per
    lock, series = scheduler x PLE; rows of ``df`` with ``halt_poll`` and ``cotenant``
    (one-VM cells have none) are drawn."""
    d = df[(df["halt_poll"] == halt_poll)
           & ((df["cotenant"] == cotenant) | (df["vms"] == 1))]
    if d.empty:
        raise ValueError(f"no rows with halt_poll={halt_poll!r} and cotenant={cotenant!r} "
                         "in the frame")
    locks = list(dict.fromkeys(d["lock"]))
    series = [(s, p) for s in SCHED_COLOURS for p in (False, True)
              if ((d["scheduler"] == s) & (d["ple"] == p)).any()]
    dodge = {k: 0.5 * (i - (len(series) - 1) / 2) / max(len(series), 1)
             for i, k in enumerate(series)}
    nvms = sorted(d["vms"].unique())
    with paper_style():
        fig, axes = plt.subplots(len(locks), len(_PANELS),
                                 figsize=(WIDE[0] * 1.35, 2.6 * len(locks) + 1.3),
                                 squeeze=False, sharex=True)
        for row, lock in zip(axes, locks, strict=True):
            dl = d[d["lock"] == lock]
            for ax, (col, label, scale) in zip(row, _PANELS, strict=True):
                for s, p in series:
                    g = dl[(dl["scheduler"] == s) & (dl["ple"] == p)].sort_values("vms")
                    if g.empty:
                        continue
                    c = SCHED_COLOURS[s]
                    keyed(ax.errorbar(g["vms"] + dodge[s, p], g[col], yerr=_yerr(g, col),
                                      color=c, mec=c, ms=4.5, capsize=2, lw=1.1,
                                      ls="-" if p else "--", **_PLE[p]), _key(s, p))
                if scale == "log":
                    no_legend(ax.axhline(1.0, color="0.2", lw=0.8, ls=":"),
                              "reference: exactly the fair share (slowdown 1)")
                    ax.set_yscale("log")
                    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(1.2, 1.5, 3, 4)))
                    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                    lo = min(0.8, np.nanmin(dl["slowdown_lo"].clip(lower=0.05)) / 1.1)
                    hi = max(1.25, np.nanmax(dl["slowdown_hi"].fillna(dl["slowdown"])) * 1.1)
                    ax.set_ylim(lo, hi)
                    ax.set_ylabel(f"{lock}\n{label}")
                else:
                    if not (dl[col].fillna(0) > 0).any():
                        ax.text(0.5, 0.5, "0 in every cell", transform=ax.transAxes,
                                ha="center", va="center", fontsize=9, color="0.3")
                    ax.set_yscale("symlog", linthresh=_LINTHRESH, linscale=0.6)
                    ax.set_ylim(bottom=0)  # counts: an interval's part below 0 is not drawn
                    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                    ax.yaxis.set_minor_formatter(NullFormatter())
                    ax.set_ylabel(label)
                ax.set_xticks(nvms)
                ax.set_xlim(min(nvms) - 0.5, max(nvms) + 0.5)
        for ax in axes[-1]:
            ax.set_xlabel("VMs on the host (lock VM + co-tenants)")
        handles = [Line2D([], [], color=SCHED_COLOURS[s], mec=SCHED_COLOURS[s],
                          ls="-" if p else "--", ms=5, **_PLE[p]) for s, p in series]
        fig.tight_layout(rect=(0, 0.1, 1, 0.95 if title else 1))
        fig.legend(handles, [_key(s, p) for s, p in series], loc="lower center",
                   ncol=3, bbox_to_anchor=(0.5, 0.0),
                   title=f"mean of {n_text(d['reps'])} replications per cell, bars {_CI} "
                         "t-interval (slowdown: delta method with the dedicated baseline's "
                         "replications); dotted: fair share")
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


#: Size behind the registered figure (see :data:`pvqmodel.hoststudy.FULL_SIZE`): the
#: same cells as ``data/processed/host_study.csv``.
def host_figure_title(size: dict) -> str:
    return (f"{size['pcpus']} pCPUs (current-6.13 host), VMs of {size['vcpus']} vCPUs; "
            "lock VM: cs 250 ns, think 16 us exp. (compute); co-tenants CPU-bound; "
            f"halt polling on; {size['reps']} x {size['duration_ms']:g} ms per cell")


@cache
def host_figure_data() -> pd.DataFrame:
    """The study behind the registered figure (run once per process) at
    :data:`pvqmodel.hoststudy.FULL_SIZE`."""
    from ..hoststudy import COTENANTS, FULL_SIZE, host_study

    return host_study(**FULL_SIZE, cotenants=COTENANTS, seed=0)


def register_host_figures() -> None:
    """Add ``host-schedulers`` to :data:`pvqmodel.figures.REGISTRY`."""
    from ..hoststudy import FULL_SIZE
    from . import register

    register("host-schedulers",
             lambda: fig_host_schedulers(host_figure_data(),
                                         title=host_figure_title(FULL_SIZE)))
