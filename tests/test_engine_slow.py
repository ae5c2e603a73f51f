"""Long engine runs (``-m slow``): the full PV-off table at K = 20 000."""

import pytest

from pvqmodel.calibrate import engine_table


@pytest.mark.slow
def test_full_pv_off_table_no_starvation():
    """Every cell runs clean and no task starves (a lock-step artifact would show as a
    task far behind in its share of operations when the first task finishes)."""
    df = engine_table(ops_per_task=20_000, reps=4, seed=3, progress=False, workers=2,
                      pv="off")
    assert len(df) == 16
    assert (df["min_share"] > 0.95).all(), df[["lock", "tasks", "min_share"]]
    assert df["model_ms"].notna().all()
