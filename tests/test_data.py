"""data/raw integrity and the derived columns of seed_table()."""

import numpy as np
import pytest

import pvqmodel
from pvqmodel.paths import RAW


def test_raw_checksums_match_manifest():
    result = pvqmodel.verify_raw_checksums()
    assert result, "SHA256SUMS lists no file"
    assert all(result.values()), f"raw data changed: {result}"
    listed = set(result)
    on_disk = {p.name for p in RAW.iterdir() if p.suffix == ".csv"}
    assert on_disk <= listed, f"raw CSV files without a checksum: {on_disk - listed}"


def test_checksum_detects_a_change(tmp_path, monkeypatch):
    import pvqmodel.data as data

    (tmp_path / "SHA256SUMS").write_text((RAW / "SHA256SUMS").read_text())
    text = (RAW / data.SEED_TABLE_FILE).read_text().replace("7736", "7737")
    (tmp_path / data.SEED_TABLE_FILE).write_text(text)
    monkeypatch.setattr(data, "RAW", tmp_path)
    assert not all(data.verify_raw_checksums().values())


def test_seed_table_shape_and_derived_columns():
    df = pvqmodel.seed_table()
    assert len(df) == 32
    assert set(df["lock"].astype(str)) == {"ticket", "queue"}
    assert set(df["pv"].astype(str)) == {"off", "on"}
    assert sorted(df["tasks"].unique()) == list(range(1, 9))
    np.testing.assert_allclose(df["ns_per_op"], df["ms"] * 1e6 / (5e6 * df["tasks"]))
    np.testing.assert_allclose(df["mops_per_s"] * df["ns_per_op"], 1e3)
    off = df[df["pv"] == "off"]
    np.testing.assert_allclose(off["pv_ratio"], 1.0)
    cell = df[(df["lock"] == "ticket") & (df["pv"] == "on") & (df["tasks"] == 4)].iloc[0]
    assert cell["pv_ratio"] == pytest.approx(4191 / 2689)
    # The patch's printed %Change column, recomputed from the transcribed times.
    printed = {("ticket", 1): 33, ("ticket", 4): 56, ("queue", 2): 7, ("queue", 8): -1}
    for (lock, n), pct in printed.items():
        row = df[(df["lock"] == lock) & (df["pv"] == "on") & (df["tasks"] == n)].iloc[0]
        assert round(100 * (row["pv_ratio"] - 1)) == pct
