"""The coherence-mechanism study (pvqmodel.mechanisms): input checks, the fit's
bookkeeping, and one physical effect of a mechanism measured through it."""

import numpy as np
import pytest

from pvqmodel.mechanisms import MECH_BOUNDS, MECHANISMS, ablation, cell_errors, fit_mechanisms
from pvqmodel.params import Hardware
from pvqmodel.sim import default_hardware, default_workload

#: A contended operating point of the mechanism model (every mechanism on; values inside
#: MECH_BOUNDS, near a fit to the ticket column).
POINT = dict(latency_classes=3, jitter=0.05, store_buffer=4, xfer_same_ns=54.0, upgrade_ns=43.0,
             shared_ns=18.0, read_serial_ns=16.5, snoop_frac=0.45, overlap=0.0,
             locked_gap_ns=0.9, service_ns=1.9, rmw_ns=7.1, pause_ns=6.8)


@pytest.mark.parametrize("kw,name", [({"on": "mcs"}, "on"), ({"maxfev": 0}, "maxfev"),
                                     ({"ops_per_task": 0}, "ops_per_task"),
                                     ({"rmw_holds_home": 1}, "rmw_holds_home"),
                                     ({"starts": -1}, "starts"),
                                     ({"seed": -1}, "seed")])
def test_fit_rejects_bad_input_by_name(kw, name):
    with pytest.raises(ValueError, match=name):
        fit_mechanisms(progress=False, **kw)


def test_ablation_rejects_bad_input_by_name():
    with pytest.raises(ValueError, match="hardware"):
        ablation("westmere", progress=False)
    with pytest.raises(ValueError, match="moved"):
        ablation(Hardware(), moved=0.0, progress=False)


def test_fit_with_no_extra_start_polishes_the_one_it_has():
    r = fit_mechanisms(on="ticket", maxfev=2, starts=0, ops_per_task=100, progress=False)
    # the one start, then Nelder-Mead within its budget (scipy may overrun it by one)
    assert len(r["cells"]) == 16 and r["evaluations"] <= 1 + 2 + 1


def test_fit_reports_every_pv_off_cell_and_marks_the_fitted_ones():
    r = fit_mechanisms(on="queue", maxfev=2, starts=2, ops_per_task=100, progress=False)
    c = r["cells"]
    assert len(c) == 16
    assert (c["fitted"] == (c["lock"] == "queue")).all()
    for k, v in r["params"].items():
        lo, hi, _ = MECH_BOUNDS[k]
        assert lo <= v <= hi, k
    assert np.isfinite(c["model_ns_per_op"]).all()


def test_read_serialisation_lengthens_the_ticket_handoff_per_waiter():
    """Serialised Shared reads put the other waiters' re-reads at the home ahead of the
    new holder's unlock RFO: at N = 8 at least two of them lie on the handoff path, so
    ns/op must grow by more than 2 x read_serial_ns; and the growth must exceed 4
    standard errors of the difference (4 replications each), so noise cannot pass it."""
    hw = default_hardware().replace(**POINT)
    wl = default_workload().replace(placement="compact")
    on = cell_errors(hw, wl, ops_per_task=1500, reps=4, seed=7)
    off = cell_errors(hw.replace(**MECHANISMS["read serialisation"]), wl, ops_per_task=1500,
                      reps=4, seed=7)
    a = on[(on["lock"] == "ticket") & (on["tasks"] == 8)].iloc[0]
    b = off[(off["lock"] == "ticket") & (off["tasks"] == 8)].iloc[0]
    diff = a["model_ns_per_op"] - b["model_ns_per_op"]
    se = np.hypot(a["model_sd"], b["model_sd"]) / np.sqrt(4)
    assert diff > 2 * POINT["read_serial_ns"], (a["model_ns_per_op"], b["model_ns_per_op"])
    assert diff > 4 * se, (diff, se)


@pytest.mark.parametrize("kw,name", [({"store_buffer": 5}, "store_buffer"),
                                     ({"store_buffer": 2, "memory_model": "sc"},
                                      "store_buffer"),
                                     ({"store_buffer": 2, "drain_ns": 10.0}, "store_buffer"),
                                     ({"latency_classes": 4}, "latency_classes"),
                                     ({"snoop_frac": 1.5}, "snoop_frac"),
                                     ({"jitter": 0.9}, "jitter")])
def test_hardware_rejects_bad_mechanism_values_by_name(kw, name):
    with pytest.raises(ValueError, match=name):
        Hardware(**kw)


def test_multi_entry_store_buffer_shortens_the_mcs_handoff_only():
    """The queue head's set_locked and MCS notify stores overlap with early RFOs: the
    MCS plateau (qspinlock N = 5) gets faster by more than 4 standard errors of the
    difference, while the ticket lock (one store per operation: nothing to overlap) is
    unchanged bit for bit (same random stream, same events)."""
    hw = default_hardware().replace(**POINT)
    wl = default_workload().replace(placement="compact")
    on = cell_errors(hw, wl, ops_per_task=1500, reps=4, seed=9).set_index(["lock", "tasks"])
    off = cell_errors(hw.replace(store_buffer=1), wl, ops_per_task=1500, reps=4,
                      seed=9).set_index(["lock", "tasks"])
    a, b = on.loc[("queue", 5)], off.loc[("queue", 5)]
    se = np.hypot(a["model_sd"], b["model_sd"]) / np.sqrt(4)
    assert b["model_ns_per_op"] - a["model_ns_per_op"] > 4 * se, (a, b)
    t = on.xs("ticket")["model_ns_per_op"].to_numpy()
    assert np.array_equal(t, off.xs("ticket")["model_ns_per_op"].to_numpy())


# ---------------------------------------------- the presets this model is behind

def test_calibrated_preset_is_the_mechanism_model_inside_its_bounds():
    """``westmere-ex`` is the fit of :func:`pvqmodel.calibrate` (``pvqmodel calibrate
    --save westmere-ex``): the fixed mechanism values, every fitted value inside its
    published bounds and not on one (within 1 % of the range, the report's own rule), and
    an ablation row for every mechanism in its fit report."""
    from pvqmodel.mechanisms import MECH_FIXED
    from pvqmodel.params import load_preset

    doc = load_preset("westmere-ex")
    hw, rep = Hardware.preset("westmere-ex"), doc["fit_report"]
    for k, v in MECH_FIXED.items():
        assert getattr(hw, k) == v, k
    for k, (lo, hi, _) in MECH_BOUNDS.items():
        margin = 0.01 * (hi - lo)
        assert lo + margin < getattr(hw, k) < hi - margin, k
        assert rep["fitted"][k] == getattr(hw, k)
        assert rep["bounds"][k][:2] == [lo, hi]
    assert rep["on_bound"] == []
    assert [r["mechanism off"] for r in rep["ablation"]] == ["all as given", *MECHANISMS]


def test_skylake_preset_is_uncalibrated_and_sources_every_value():
    """The current-generation preset is marked uncalibrated and names a source (or an
    explicit assumption) for every Hardware field and for its workload."""
    from dataclasses import fields

    from pvqmodel.params import load_preset

    doc = load_preset("skylake-sp")
    rep = doc["fit_report"]
    assert rep["calibrated"] is False and "UNCALIBRATED" in rep["note"]
    sourced = {name.strip() for key in rep["sources"] for name in key.split(",")}
    missing = {f.name for f in fields(Hardware)} - sourced
    missing -= {"drain_ns", "memory_model", "cores_per_socket", "sockets"}  # the machine's
    assert not missing, missing
    assert "workload" in sourced
    hw = Hardware.preset("skylake-sp")
    assert (hw.sockets, hw.cores_per_socket) == (2, 28)
    # PAUSE is ~140 cycles from Skylake on, ~10 before: the one large difference
    assert hw.pause_ns > 5 * Hardware.preset("westmere-ex").pause_ns


@pytest.mark.parametrize("mm, drain, entries", [("tso", 0.0, 4), ("tso", 50.0, 1),
                                                ("sc", 0.0, 1)])
def test_with_memory_model_gives_a_drain_delay_a_one_entry_buffer(mm, drain, entries):
    hw = Hardware.preset("westmere-ex").with_memory_model(mm, drain)
    assert (hw.memory_model, hw.drain_ns, hw.store_buffer) == (mm, drain, entries)


def test_with_memory_model_rejects_bad_input_by_name():
    hw = Hardware.preset("westmere-ex")
    with pytest.raises(ValueError, match="drain_ns must be 0 with memory_model='sc'"):
        hw.with_memory_model("sc", 10.0)
    with pytest.raises(ValueError, match="drain_ns"):
        hw.with_memory_model("tso", -1.0)
    with pytest.raises(ValueError, match="memory_model"):
        hw.with_memory_model("arm")
    # and replace() alone names the way out
    with pytest.raises(ValueError, match="with_memory_model"):
        hw.replace(drain_ns=10.0)
