"""fit_analytic: targets on the seed table, and recovery of known parameters."""

import numpy as np
import pandas as pd
import pytest

import pvqmodel
from pvqmodel import queueing as q
from pvqmodel.fit import MODEL_SPECS, fit_analytic


@pytest.fixture(scope="module")
def report():
    return fit_analytic()


def test_report_tables_have_the_documented_columns(report):
    assert list(report.params.columns) == ["model", "lock", "pv", "name", "value", "low",
                                           "high", "unit", "ci"]
    assert list(report.points.columns) == ["model", "lock", "pv", "tasks", "measured_ms",
                                           "model_ms", "rel_err", "in_fit", "note"]
    assert {"bw-chain", "constant-handoff", "repairman"} <= set(report.params["model"])
    assert (report.params["low"] <= report.params["value"]).all()
    assert (report.params["value"] <= report.params["high"]).all()
    # Every cell outside a fit range is explained, none silently dropped.
    out = report.points[~report.points["in_fit"]]
    assert (out["note"].str.len() > 20).all()
    assert len(report.points) == 8 * len(MODEL_SPECS)
    assert "bw-chain" in str(report)


def test_issue_targets_are_met(report):
    s = report.summary.set_index(["model", "lock", "pv"])
    assert s.loc[("bw-chain", "ticket", "off"), "max_abs_rel_err"] <= 0.02
    assert s.loc[("constant-handoff", "queue", "off"), "max_abs_rel_err"] <= 0.025
    assert s.loc[("constant-handoff", "queue", "on"), "max_abs_rel_err"] <= 0.025
    assert s["target_met"].dropna().all()


def test_fitted_values_are_physical(report):
    p = report.params.set_index(["model", "lock", "pv", "name"])["value"]
    # BW per-waiter cost c: a fraction of one same-die Modified transfer (~51 ns at
    # 2.13 GHz, models.md section 5), not zero and not several transfers.
    assert 5 < p[("bw-chain", "ticket", "off", "per_waiter")] < 51
    # MCS handoff: a few same-die transfers (2-4 x 51 ns).
    assert 100 < p[("constant-handoff", "queue", "off", "handoff")] < 204


def _synthetic(ticket_fn, queue_fn):
    rows = []
    for lock, fn in (("ticket", ticket_fn), ("queue", queue_fn)):
        for pv in ("off", "on"):
            for n in range(1, 9):
                rows.append((lock, pv, n, fn(n) * 5e6 * n * 1e-6))
    return pd.DataFrame(rows, columns=["lock", "pv", "tasks", "ms"])


@pytest.mark.parametrize("ci", ["jacobian", "bootstrap"])
def test_fit_recovers_known_parameters_from_model_generated_data(ci):
    s, c, h = 60.0, 22.0, 155.0
    rng = np.random.default_rng(7)
    noise = {n: 1 + 0.004 * rng.standard_normal() for n in range(1, 9)}
    table = _synthetic(lambda n: q.bw_chain(n, s, c, 0.0).time_per_op * noise[n],
                       lambda n: h * noise[n])
    rep = fit_analytic(table, ci=ci, n_boot=200, seed=3)
    p = rep.params.set_index(["model", "lock", "pv", "name"])
    for key, true in ((("bw-chain", "ticket", "off", "serial"), s),
                      (("bw-chain", "ticket", "off", "per_waiter"), c),
                      (("constant-handoff", "queue", "off", "handoff"), h)):
        row = p.loc[key]
        assert row["low"] <= true <= row["high"], (key, row.to_dict())
        assert row["value"] == pytest.approx(true, rel=0.05)


def test_fit_exact_data_is_exact():
    table = _synthetic(lambda n: q.bw_chain(n, 80.0, 30.0, 0.0).time_per_op,
                       lambda n: 140.0)
    rep = fit_analytic(table)
    bw = rep.points[(rep.points["model"] == "bw-chain") & rep.points["in_fit"]]
    assert np.abs(bw["rel_err"]).max() < 1e-6


def test_bad_fit_arguments():
    with pytest.raises(ValueError, match="ci"):
        fit_analytic(ci="magic")
    with pytest.raises(ValueError, match="'ms'"):
        fit_analytic(pd.DataFrame({"lock": ["ticket"], "pv": ["off"], "tasks": [1]}))


def test_public_api():
    assert pvqmodel.fit_analytic is fit_analytic
    assert callable(pvqmodel.seed_table)
