"""Confidence intervals behind every error bar and band of the figures.

Owns one computation: the Student-t interval of the mean of ``n`` independent
replications (``scipy.stats.t``), either of the values themselves or of their logarithm
(for quantities drawn on a log axis: the centre is then the geometric mean and the
interval is multiplicative, so it cannot reach zero or below). Replications of the
engine are independent streams of one ``SeedSequence``, so the t-interval's assumption
of independent draws holds; normality of the (log) mean is the approximation, stated in
every caption with ``n``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .style import CONFIDENCE

__all__ = ["interval_table", "mean_interval", "n_text", "yerr"]


def mean_interval(values, *, log: bool = False, confidence: float = CONFIDENCE):
    """(centre, lo, hi, n): mean of ``values`` with its two-sided t-interval.

    ``log=True``: the interval of the mean of ``ln(values)``, mapped back (centre = the
    geometric mean); all values must then be positive. With fewer than two values the
    interval is undefined (``lo = hi = nan``).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    if log:
        if (x <= 0).any():
            raise ValueError("log intervals need positive values")
        x = np.log(x)
    m = x.mean()
    if n < 2:
        lo = hi = np.nan
    else:
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
        lo, hi = m - half, m + half
    if log:
        return float(np.exp(m)), float(np.exp(lo)), float(np.exp(hi)), n
    return float(m), float(lo), float(hi), n


def interval_table(df: pd.DataFrame, value: str, by, *, log: bool = False,
                   confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per group of ``by``: columns ``centre``, ``lo``, ``hi``, ``n`` of
    :func:`mean_interval` over the column ``value`` (groups in order of appearance)."""
    rows = []
    for key, g in df.groupby(by, sort=False):
        c, lo, hi, n = mean_interval(g[value], log=log, confidence=confidence)
        key = key if isinstance(key, tuple) else (key,)
        rows.append((*key, c, lo, hi, n))
    cols = list(by) if isinstance(by, (list, tuple)) else [by]
    return pd.DataFrame(rows, columns=[*cols, "centre", "lo", "hi", "n"])


def n_text(n) -> str:
    """Caption text for the replication counts ``n`` of an interval table."""
    n = sorted(set(int(k) for k in n))
    return f"n = {n[0]}" if len(n) == 1 else f"n = {n[0]}..{n[-1]}"


def yerr(t: pd.DataFrame):
    """Asymmetric error bar lengths from an interval table (0 where undefined)."""
    return np.vstack([(t["centre"] - t["lo"]).fillna(0).clip(lower=0),
                      (t["hi"] - t["centre"]).fillna(0).clip(lower=0)])
