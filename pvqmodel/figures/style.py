"""One place for the look of every pvqmodel figure (seaborn theme, palette, sizes).

Owns the matplotlib/seaborn settings so that figures built by the CLI, by tests and by
notebooks look the same; it switches nothing global at import time. Also owns the
legend contract every figure keeps (checked by ``tests/test_figures_quality.py``): a
drawn series either carries a label that appears in a legend, or is marked with
:func:`keyed` (drawn in the style of a legend entry that explains it, e.g. one
"dotted: analytic fit" entry for all dotted lines) or :func:`no_legend` (a reference
line or a panel whose axis label says what it is), with the reason.
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
    "qspinlock-4.18": "#e377c2",
    "tas": "#2ca02c",
    "unfair-qspinlock": "#9467bd",
    "pv-ticket": "#17becf",
    "pv-qspinlock-v10": "#ff7f0e",
    "pv-qspinlock-v10-unfair": "#8c564b",
    # the merged PV qspinlock's generations: one family, darker = newer (Blues 0.5-1.0)
    "pv-qspinlock-4.2": "#6aaed6",
    "pv-qspinlock-4.3": "#4f9bcb",
    "pv-qspinlock-4.4": "#3787c0",
    "pv-qspinlock-4.5": "#2070b4",
    "pv-qspinlock-4.11": "#105ba4",
    "pv-qspinlock-4.15": "#08468b",
    "pv-qspinlock-5.4": "#08306b",
}
#: Markers that tell the merged PV generations apart where their one colour family does
#: not (figures with every lock on one axis); other locks: ``"o"``
LOCK_MARKERS = {
    "pv-qspinlock-4.2": "s", "pv-qspinlock-4.3": "^", "pv-qspinlock-4.4": "v",
    "pv-qspinlock-4.5": "D", "pv-qspinlock-4.11": "P", "pv-qspinlock-4.15": "X",
    "pv-qspinlock-5.4": "*",
}
PV_DASHES = {"off": "", "on": (4, 2)}
SINGLE = (4.8, 3.4)
WIDE = (9.6, 3.6)
#: Resolution of the PNGs (slides and print); the PDFs are vector.
PNG_DPI = 300
#: Smallest font size any text of a figure may have (points).
MIN_FONT_PT = 8.0
#: Coverage of every error bar and band the figures draw.
CONFIDENCE = 0.95


@contextlib.contextmanager
def paper_style():
    """Context in which figures get the project's seaborn theme, restored afterwards."""
    with mpl.rc_context():
        sns.set_theme(context="paper", style="whitegrid", font="DejaVu Sans",
                      rc={"figure.dpi": 100, "savefig.dpi": PNG_DPI, "axes.titlesize": 10,
                          "legend.fontsize": 8, "legend.title_fontsize": 8,
                          "xtick.labelsize": 8, "ytick.labelsize": 8,
                          "svg.hashsalt": "pvqmodel"})
        yield


def _mark(artist, gid: str):
    # containers (errorbar, bar) are tuples of artists: mark every part
    parts = artist.get_children() if not hasattr(artist, "set_gid") else [artist]
    for a in parts:
        if a is not None:
            a.set_gid(gid)
    return artist


def keyed(artist, key: str):
    """Mark ``artist`` as explained by the legend entry whose text is ``key``."""
    return _mark(artist, f"legend:{key}")


def no_legend(artist, why: str):
    """Mark ``artist`` as needing no legend entry, saying ``why`` (e.g. "reference y=0")."""
    return _mark(artist, f"nolegend:{why}")
