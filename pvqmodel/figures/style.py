"""One place for the look of every pvqmodel figure (seaborn theme, palette, sizes).

Owns the matplotlib/seaborn settings so that figures built by the CLI, by tests and by
notebooks look the same; it switches nothing global at import time.
"""

from __future__ import annotations

import contextlib

import matplotlib as mpl
import seaborn as sns

#: Colour per lock, shared by all figures so a lock keeps its colour everywhere.
LOCK_PALETTE = {
    "ticket": "#1f77b4",
    "queue": "#d62728",
    "qspinlock": "#d62728",
    "tas": "#2ca02c",
    "unfair-qspinlock": "#9467bd",
    "pv-ticket": "#17becf",
    "pv-qspinlock-v10": "#ff7f0e",
    "pv-qspinlock-v10-unfair": "#8c564b",
}
PV_DASHES = {"off": "", "on": (4, 2)}
SINGLE = (4.8, 3.4)
WIDE = (9.6, 3.6)


@contextlib.contextmanager
def paper_style():
    """Context in which figures get the project's seaborn theme, restored afterwards."""
    with mpl.rc_context():
        sns.set_theme(context="paper", style="whitegrid", font="DejaVu Sans",
                      rc={"figure.dpi": 100, "savefig.dpi": 200, "axes.titlesize": 10,
                          "legend.fontsize": 8, "svg.hashsalt": "pvqmodel"})
        yield
