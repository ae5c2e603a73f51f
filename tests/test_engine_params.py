"""Bad parameters raise named errors in Python, before any kernel runs."""

import pytest

from pvqmodel.params import Hardware, Workload, load_preset
from pvqmodel.sim import LockTunables, simulate


@pytest.mark.parametrize("kw, name", [
    (dict(hit_ns=-1.0), "hit_ns"),
    (dict(rmw_ns=float("nan")), "rmw_ns"),
    (dict(overlap=1.5), "overlap"),
    (dict(xfer_cross_ns="fast"), "xfer_cross_ns"),
    (dict(sockets=0), "sockets"),
    (dict(cores_per_socket=2.5), "cores_per_socket"),
    (dict(hit_ns=0.0, pause_ns=0.0), "hit_ns \\+ pause_ns"),
])
def test_bad_hardware(kw, name):
    with pytest.raises(ValueError, match=name):
        Hardware(**kw)


@pytest.mark.parametrize("kw, name", [
    (dict(cs_ns=-3.0), "cs_ns"),
    (dict(loop_dist="gamma"), "loop_dist"),
    (dict(placement="random"), "placement"),
])
def test_bad_workload(kw, name):
    with pytest.raises(ValueError, match=name):
        Workload(**kw)


@pytest.mark.parametrize("args, kw, name", [
    (("mutex", 2, 10), {}, "lock"),
    (("ticket", 0, 10), {}, "tasks"),
    (("ticket", 257, 10), {}, "tasks"),
    (("ticket", 41, 10), {}, "tasks"),  # more tasks than the 40 default cores
    (("ticket", 2, 0), {}, "ops_per_task"),
    (("ticket", 2, 10), dict(reps=0), "reps"),
    (("ticket", 2, 10), dict(seed=-1), "seed"),
    (("ticket", 2, 10), dict(timer="wheel"), "timer"),
    (("ticket", 2, 10), dict(hardware={"hit_ns": 1}), "hardware"),
])
def test_bad_simulate_args(args, kw, name):
    with pytest.raises(ValueError, match=name):
        simulate(*args, **kw)


def test_bad_tunables():
    with pytest.raises(ValueError, match="lsteal_min_mask"):
        LockTunables(lsteal_min_mask=6)


def test_unknown_preset():
    with pytest.raises(ValueError, match="preset"):
        Hardware.preset("no-such-machine")


def test_calibrate_reports_how_many_times_it_ran_the_engine(monkeypatch):
    """The report's evaluation count is the number of objective evaluations (each runs
    every cell once), with the progress bar off too (a disabled tqdm bar counts
    nothing). A tiny budget; nothing is saved."""
    import importlib

    cal = importlib.import_module("pvqmodel.calibrate")  # the module, not the function
    mech = importlib.import_module("pvqmodel.mechanisms")
    calls = []
    real = cal.run_cells

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cal, "run_cells", counting)
    monkeypatch.setattr(mech, "run_cells", counting)
    rep = cal.calibrate(maxfev=9, starts=2, ops_per_task=20, ablate=False, save=None,
                        progress=False)
    # every objective evaluation (3 starting points, then at most 9 Nelder-Mead ones
    # from each of the best two), plus the optimum's two re-evaluations: the fit's own
    # (every PV-off cell) and the report's table
    assert rep["fit"]["evaluations"] == len(calls) - 2
    assert 3 + 8 <= rep["fit"]["evaluations"] <= 3 + 2 * 9
    assert "ablation" not in rep
    assert "preset_path" not in rep


@pytest.mark.parametrize("lock", ["ticket", "qspinlock"])
def test_preset_loop_overhead_is_identified_by_the_uncontended_cells(lock):
    """``loop_ns`` is not a free parameter: the preset's value is the one that makes the
    engine's uncontended op (locked-RMW hit, critical section, store hit, loop) take the
    measured N=1 time. Checks the identity calibrate() relies on against the engine
    itself: one task, deterministic costs, so the only slack is the run's start: a random
    offset below one loop overhead plus the first, cold miss on the lock line (a home
    service of at most 2 service_ns and one transfer), spread over K ops."""
    from pvqmodel.calibrate import identified_loop_ns, uncontended_ns

    hw, wl = Hardware.preset(), Workload.from_dict(load_preset("westmere-ex")["workload"])
    n1 = uncontended_ns()
    assert wl.loop_ns == pytest.approx(identified_loop_ns(hw, wl, n1), rel=1e-9)
    K = 2000
    ns = float(simulate(lock, 1, K, hardware=hw, workload=wl, seed=0).summary["ns_per_op"]
               .iloc[0])
    slack = (wl.loop_ns + 2 * hw.service_ns + max(hw.xfer_same_ns, hw.shared_ns)) / K
    assert n1 <= ns <= n1 + slack


def test_identified_loop_rejects_an_impossible_uncontended_time():
    from pvqmodel.calibrate import identified_loop_ns

    with pytest.raises(ValueError, match="N=1 time"):
        identified_loop_ns(Hardware(), Workload(), 1.0)
