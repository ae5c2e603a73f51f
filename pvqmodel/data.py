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


class RawDataError(ValueError):
    """``data/raw/`` does not hold the committed input (checksum or content)."""


def verify_raw_checksums() -> dict[str, bool]:
    """Check every file listed in ``data/raw/SHA256SUMS``; return ``{name: ok}`` (a
    listed file that is missing is not ok)."""
    result = {}
    sums = RAW / "SHA256SUMS"
    if not sums.exists():
        raise RawDataError(f"{sums} is missing: data/raw/ cannot be verified")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise RawDataError(f"{sums}: malformed line {line!r}")
        digest, name = parts
        name = name.lstrip("*")
        path = RAW / name
        result[name] = (path.is_file()
                        and hashlib.sha256(path.read_bytes()).hexdigest() == digest.lower())
    return result


def check_raw() -> None:
    """Refuse a modified ``data/raw/``: every file in ``SHA256SUMS`` present and
    unchanged, and the seed table listed there. Raises :class:`RawDataError`."""
    result = verify_raw_checksums()
    bad = sorted(k for k, ok in result.items() if not ok)
    if bad:
        raise RawDataError(
            f"data/raw/ was modified: {bad} missing or not matching {RAW / 'SHA256SUMS'}. "
            "data/raw/ is immutable input; restore it (git checkout data/raw) rather than "
            "editing it")
    if SEED_TABLE_FILE not in result:
        raise RawDataError(f"{SEED_TABLE_FILE} is not listed in {RAW / 'SHA256SUMS'}")


_LOCKS = ("ticket", "queue")
_PVS = ("off", "on")


def check_table_content(df: pd.DataFrame) -> None:
    """The raw table's content, checked even if ``SHA256SUMS`` itself was edited:
    columns lock, pv, tasks, ms; lock in {ticket, queue}, pv in {off, on}, tasks an
    integer in [1, 64], ms a positive finite time; no duplicate (lock, pv, tasks) cell;
    every PV-on cell has its PV-off cell. Raises :class:`RawDataError` naming the row."""
    where = RAW / SEED_TABLE_FILE
    if list(df.columns) != ["lock", "pv", "tasks", "ms"]:
        raise RawDataError(f"{where}: columns must be ['lock', 'pv', 'tasks', 'ms'], "
                           f"got {list(df.columns)}")
    if df.empty:
        raise RawDataError(f"{where}: no rows")
    for i, r in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        try:
            tasks = float(r.tasks)
            ms = float(r.ms)
        except (TypeError, ValueError):
            raise RawDataError(f"{where}, line {i}: tasks and ms must be numbers, "
                               f"got {r.tasks!r}, {r.ms!r}") from None
        if r.lock not in _LOCKS or r.pv not in _PVS:
            raise RawDataError(f"{where}, line {i}: lock must be one of {_LOCKS} and pv one "
                               f"of {_PVS}, got {r.lock!r}, {r.pv!r}")
        if not (tasks.is_integer() and 1 <= tasks <= 64):
            raise RawDataError(f"{where}, line {i}: tasks must be an integer in [1, 64], "
                               f"got {r.tasks!r}")
        if not (np.isfinite(ms) and ms > 0):
            raise RawDataError(f"{where}, line {i}: ms must be a positive finite time, "
                               f"got {r.ms!r}")
    dup = df[df.duplicated(["lock", "pv", "tasks"], keep=False)]
    if len(dup):
        cells = sorted(set(map(tuple, dup[["lock", "pv", "tasks"]].astype(str).to_numpy())))
        raise RawDataError(f"{where}: duplicate cell(s) (lock, pv, tasks): {cells}")
    off = set(map(tuple, df.loc[df["pv"] == "off", ["lock", "tasks"]].to_numpy()))
    on = set(map(tuple, df.loc[df["pv"] == "on", ["lock", "tasks"]].to_numpy()))
    if on - off:
        raise RawDataError(f"{where}: PV-on cell(s) without a PV-off cell: {sorted(on - off)}")


def seed_table() -> pd.DataFrame:
    """The v10 patch's table, tidy, with derived per-operation columns.

    Reads ``data/raw/`` only after verifying it against ``SHA256SUMS`` and checking the
    table's content (:func:`check_raw`, :func:`check_table_content`): a modified,
    duplicated or non-positive row raises :class:`RawDataError` instead of being used.

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
    check_raw()
    df = pd.read_csv(RAW / SEED_TABLE_FILE, dtype={"lock": str, "pv": str})
    check_table_content(df)
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
