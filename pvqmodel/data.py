"""The measured data: the seed patch's table as a tidy DataFrame.

Owns reading ``data/raw/`` (immutable, checksummed) and deriving the per-operation
quantities every model is compared against. Nothing here is fitted or simulated.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .paths import RAW

#: Lock/unlock operations per task in the seed's micro-benchmark.
SEED_OPS_PER_TASK = 5_000_000
SEED_TABLE_FILE = "pvqspinlock-v10-table.csv"


def verify_raw_checksums() -> dict[str, bool]:
    """Check every file listed in ``data/raw/SHA256SUMS``; return ``{name: ok}``."""
    result = {}
    for line in (RAW / "SHA256SUMS").read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        name = name.lstrip("*")
        actual = hashlib.sha256((RAW / name).read_bytes()).hexdigest()
        result[name] = actual == digest
    return result


def seed_table() -> pd.DataFrame:
    """The v10 patch's table, tidy, with derived per-operation columns.

    Returns
    -------
    DataFrame with one row per cell (32 rows) and columns

    - ``lock``: ``"ticket"`` or ``"queue"``; ``pv``: ``"off"`` or ``"on"``;
      ``tasks``: N = 1..8; ``ms``: measured total time for 5M lock/unlock per task.
    - ``ops``: total lock/unlock operations, 5e6 * N.
    - ``ns_per_op``: wall time per lock+unlock of all tasks together,
      ms * 1e6 / (5e6 * N). Under saturation this is the per-handoff cost h(N).
    - ``mops_per_s``: throughput in million lock/unlock per second.
    - ``pv_ratio``: this cell's ms over the PV-off cell of the same lock and N
      (1.0 in the PV-off rows); ``pv_extra_ns``: the PV-on minus PV-off ns per op.
    """
    df = pd.read_csv(RAW / SEED_TABLE_FILE, dtype={"lock": str, "pv": str})
    df["tasks"] = df["tasks"].astype(np.int64)
    df["ms"] = df["ms"].astype(float)
    df["ops"] = SEED_OPS_PER_TASK * df["tasks"]
    df["ns_per_op"] = df["ms"] * 1e6 / df["ops"]
    df["mops_per_s"] = df["ops"] / (df["ms"] * 1e-3) / 1e6
    off = df[df["pv"] == "off"].set_index(["lock", "tasks"])
    key = pd.MultiIndex.from_frame(df[["lock", "tasks"]])
    df["pv_ratio"] = df["ms"].to_numpy() / off["ms"].reindex(key).to_numpy()
    df["pv_extra_ns"] = df["ns_per_op"].to_numpy() - off["ns_per_op"].reindex(key).to_numpy()
    df["lock"] = pd.Categorical(df["lock"], ["ticket", "queue"])
    df["pv"] = pd.Categorical(df["pv"], ["off", "on"])
    return df.sort_values(["lock", "pv", "tasks"]).reset_index(drop=True)
