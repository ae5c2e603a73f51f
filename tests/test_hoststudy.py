"""The host study (pvqmodel.hoststudy) and ``pvqmodel host``: the frame has its promised
columns and intervals, the slowdown against fair share is the stated arithmetic and
comes out at 1 where fair sharing says it must, results do not depend on the worker
count, bad input is refused by name before anything runs, and the command line prints
what the library computes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pvqmodel import hoststudy
from pvqmodel.cli import main
from pvqmodel.hoststudy import (
    FULL_SIZE,
    HOST_STUDY_COLUMNS,
    host_cost_sweep,
    host_for,
    host_study,
    slowdown_interval,
)

# small: 2 pCPUs, VMs of 2 vCPUs, 1 ms per replication
SMALL = dict(pcpus=2, vcpus=2, duration_ms=1.0, reps=3, seed=0)


@pytest.fixture(scope="module")
def small():
    return host_study(**SMALL, halt_poll=(True,), cotenants=("cpu", "lock"), workers=2)


def test_frame_has_the_promised_columns_and_cells(small):
    for col in HOST_STUDY_COLUMNS:
        assert col in small.columns, col
    for col in ("ops_per_s", "base_ops_per_s", "pcpus_used", "slowdown",
                "ple_exits_per_op", "halts_per_op", "kicks_per_op", "yields_per_op",
                "steal_ns_per_op"):
        assert {f"{col}_lo", f"{col}_hi"} <= set(small.columns), col
    # locks x schedulers x PLE x (1 VM + 2 counts x 2 co-tenant kinds)
    assert len(small) == 2 * 3 * 2 * (1 + 2 * 2)
    assert set(small["cotenant"]) == {"none", "cpu", "lock"}
    assert (small.loc[small["vms"] == 1, "cotenant"] == "none").all()
    assert small.duplicated(["lock", "scheduler", "ple", "halt_poll", "vms",
                             "cotenant"]).sum() == 0


def test_intervals_bracket_their_means(small):
    for col in ("ops_per_s", "base_ops_per_s", "slowdown", "ple_exits_per_op",
                "steal_ns_per_op"):
        c, lo, hi = small[col], small[f"{col}_lo"], small[f"{col}_hi"]
        ok = lo.notna() & hi.notna()
        assert ok.any(), col
        assert ((lo[ok] <= c[ok] + 1e-9) & (c[ok] <= hi[ok] + 1e-9)).all(), col


def test_slowdown_is_baseline_times_fair_share_over_throughput(small):
    ok = small["failed_reps"] == 0
    want = small["base_ops_per_s"] * small["fair_pcpus"] / small["vcpus"] / small["ops_per_s"]
    np.testing.assert_allclose(small.loc[ok, "slowdown"], want[ok], rtol=1e-12)
    # the fair share: 1, 2 or 3 equal VMs under equal cgroup shares split the pCPUs
    for n, g in small.groupby("vms"):
        np.testing.assert_allclose(g["fair_pcpus"], SMALL["pcpus"] / n)


def test_slowdown_interval_by_hand():
    """base (9, 11), host (4.5, 5.5), scale 1/2: ratio 0.5 * 10 / 5 = 1. Each mean's
    squared relative standard error is var / n / mean^2 = 2 / 2 / 100 = 0.5 / 2 / 25 =
    0.01; their sum 0.02; Welch-Satterthwaite df = 0.02^2 / (2 * 0.01^2 / 1) = 2; the
    interval is exp(+-t(0.975, 2) * sqrt(0.02))."""
    r, lo, hi = slowdown_interval([9.0, 11.0], [4.5, 5.5], 0.5)
    half = stats.t.ppf(0.975, 2) * math.sqrt(0.02)
    assert r == pytest.approx(1.0)
    assert lo == pytest.approx(math.exp(-half)) and hi == pytest.approx(math.exp(half))
    # one replication: no interval
    r, lo, hi = slowdown_interval([10.0], [5.0, 5.0], 1.0)
    assert r == pytest.approx(2.0) and math.isnan(lo) and math.isnan(hi)


#: The six cells below are checked together, so each interval is at 1 - 0.05 / 6
#: (Bonferroni): the test as a whole then fails a correct model at most 5 % of the
#: time, not the ~26 % of six independent 95 % intervals.
FAIR_CONFIDENCE = 1.0 - 0.05 / 6


@pytest.fixture(scope="module")
def fair_cells():
    """A VM of 4 vCPUs that computes 100 us between operations and holds a 50 ns lock
    (contended a few % of the time) beside 0-2 CPU-bound VMs of 4 vCPUs on 4 pCPUs,
    under CFS and EEVDF, 60 ms per replication (several CFS periods of 18 ms); 8
    replications, so that the family-wise intervals stay narrower than +-10 %."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hoststudy, "CONFIDENCE", FAIR_CONFIDENCE)
        return host_study(locks=("pv-qspinlock",), pcpus=4, vcpus=4,
                          schedulers=("cfs", "eevdf"), ple=(True,), halt_poll=(True,),
                          vms=(1, 2, 3), think_ns=100_000.0, cs_ns=50.0, duration_ms=60.0,
                          reps=8, seed=0, workers=2)


def test_a_rarely_contended_vm_gets_its_fair_share(fair_cells):
    """Such a VM's throughput is proportional to the CPU time it gets, so with its fair
    share of the pCPUs its slowdown against fair share is 1: the interval (family-wise
    95 % over the six cells, :data:`FAIR_CONFIDENCE`) must hold 1 and be narrower than
    +-10 % (else the check could not fail), and the pCPU time the VM and each co-tenant
    got must be their fair share within 5 % (the group weights
    split 4 pCPUs 2/2 or 4/3 each; a tick-granular scheduler over 60 ms is well inside)."""
    assert (fair_cells["failed_reps"] == 0).all()
    for _, r in fair_cells.iterrows():
        where = f"{r['scheduler']}, {r['vms']} VMs"
        assert r["slowdown_lo"] <= 1.0 <= r["slowdown_hi"], (where, r["slowdown"])
        assert r["slowdown_hi"] / r["slowdown_lo"] < 1.2, where
        assert r["pcpus_used"] == pytest.approx(r["fair_pcpus"], rel=0.05), where
        if r["vms"] > 1:
            assert r["cotenant_pcpus_used"] == pytest.approx(r["fair_pcpus"], rel=0.05)


def test_results_do_not_depend_on_the_worker_count():
    kw = dict(SMALL, locks=("ticket",), schedulers=("cfs",), ple=(True,), halt_poll=(True,))
    pd.testing.assert_frame_equal(host_study(**kw, workers=1), host_study(**kw, workers=3))


def test_host_for_switches_ple_and_halt_polling():
    h = host_for("current-6.13", pcpus=6, scheduler="cfs", ple=False, halt_poll=False)
    assert (h.pcpus, h.sockets, h.scheduler) == (6, 2, "cfs")
    assert not h.kvm.ple_enabled and h.kvm.halt_poll_ns == 0.0
    h = host_for("current-6.13", pcpus=5, scheduler="eevdf", ple=True, halt_poll=True)
    assert h.sockets == 1 and h.kvm.ple_gap == 128 and h.kvm.halt_poll_ns == 200_000.0


@pytest.mark.parametrize("kw, name", [
    (dict(pcpus=0), "pcpus"), (dict(vcpus=300), "vcpus"), (dict(vms=(4,)), "vms"),
    (dict(cotenants=("gpu",)), "cotenants"), (dict(schedulers=("bfs",)), "schedulers"),
    (dict(locks=("nolock",)), "locks"), (dict(think="nap"), "think"),
    (dict(duration_ms=0.0), "duration_ms"), (dict(reps=0), "reps"),
    (dict(preset="no-such-host"), "no-such-host"), (dict(ple=(1,)), "ple"),
])
def test_bad_study_input_is_named(kw, name, monkeypatch):
    import pvqmodel.hostsim as hs

    monkeypatch.setattr(hs, "simulate_host", lambda *a, **k: pytest.fail("ran"))
    with pytest.raises(ValueError, match=name):
        host_study(**{**SMALL, **kw})


def test_cost_sweep_spans_the_preset_range():
    from pvqmodel.host import Host

    lo, hi = Host.preset_ranges("current-6.13")["kvm.vmexit_ns"]
    df = host_cost_sweep("kvm.vmexit_ns", points=3, pcpus=2, vcpus=2, duration_ms=0.5,
                         reps=2, workers=1)
    assert list(df["value"]) == pytest.approx([lo, (lo + hi) / 2, hi])
    assert (df["param"] == "kvm.vmexit_ns").all() and len(df) == 3
    with pytest.raises(ValueError, match="param"):
        host_cost_sweep("kvm.no_such_cost")


def test_full_size_matches_the_reproduce_defaults():
    """``pvqmodel reproduce``'s --host-* defaults (kept in cli.py so --help stays light)
    are the documented full size."""
    from pvqmodel.cli import build_parser

    args = build_parser().parse_args(["reproduce"])
    assert (args.host_reps, args.host_duration_ms) == (FULL_SIZE["reps"],
                                                       FULL_SIZE["duration_ms"])


# ---- pvqmodel host ---------------------------------------------------------------------

def _run_main(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


HOST_ARGS = ["host", "--preset", "current-6.13", "--pcpus", "4", "--scheduler", "cfs",
             "--vm", "name=a,vcpus=4,lock=pv-qspinlock,think_ns=2000,cs_ns=100",
             "--vm", "name=b,vcpus=4", "--duration-ms", "2", "--reps", "2", "--seed", "3"]


def test_host_command_prints_what_the_library_computes(capsys, tmp_path):
    from pvqmodel.host import VM
    from pvqmodel.hostsim import simulate_host
    from pvqmodel.params import Workload

    out_csv = tmp_path / "host.csv"
    rc, out, err = _run_main(HOST_ARGS + ["--csv", str(out_csv)], capsys)
    assert rc == 0, err
    host = host_for("current-6.13", pcpus=4, scheduler="cfs", ple=True, halt_poll=True)
    vms = [VM("a", 4, lock="pv-qspinlock", think_ns=2000.0, workload=Workload(cs_ns=100.0)),
           VM("b", 4)]
    ref = simulate_host(host, vms, duration_ns=2e6, reps=2, seed=3)
    got = pd.read_csv(out_csv)
    np.testing.assert_allclose(got["ops_per_s"], ref.vms["ops_per_s"], rtol=1e-9)
    a = ref.spread.set_index("vm").loc["a"]
    line = next(ln for ln in out.splitlines() if ln.split()[:1] == ["a"])
    # vm, lock, metric, then mean, ci_lo, ci_hi as printed (3 decimals)
    printed = [float(x) for x in line.split()[3:6]]
    assert printed == pytest.approx([a["mean"], a["ci_lo"], a["ci_hi"]], abs=1e-3)
    assert "flagged" in out and "cpu-bound" in out


def test_host_command_runs_on_the_hardware_preset_it_names(capsys, tmp_path):
    """``--hardware skylake-sp`` gives simulate_host that machine (its 140-cycle PAUSE
    and mesh latencies change the lock VM's throughput)."""
    from pvqmodel.host import VM
    from pvqmodel.hostsim import simulate_host
    from pvqmodel.params import Hardware, Workload

    out_csv = tmp_path / "host.csv"
    rc, _, err = _run_main(HOST_ARGS + ["--hardware", "skylake-sp", "--csv", str(out_csv)],
                           capsys)
    assert rc == 0, err
    host = host_for("current-6.13", pcpus=4, scheduler="cfs", ple=True, halt_poll=True)
    vms = [VM("a", 4, lock="pv-qspinlock", think_ns=2000.0, workload=Workload(cs_ns=100.0)),
           VM("b", 4)]
    ref = simulate_host(host, vms, duration_ns=2e6, reps=2, seed=3,
                        hardware=Hardware.preset("skylake-sp"))
    base = simulate_host(host, vms, duration_ns=2e6, reps=2, seed=3)
    got = pd.read_csv(out_csv)
    np.testing.assert_allclose(got["ops_per_s"], ref.vms["ops_per_s"], rtol=1e-9)
    assert not np.allclose(ref.vms["ops_per_s"], base.vms["ops_per_s"])


@pytest.mark.parametrize("argv, flag, text", [
    (["--preset", "no-such-host", "--vm", "name=a,vcpus=2,lock=ticket"], "--preset",
     "unknown host preset"),
    (["--vm", "name=a,vcpus=2,lock=bogus"], "--vm", "lock must be one of"),
    (["--vm", "name=a,vcpus=2,color=red"], "--vm", "unknown VM field 'color'"),
    (["--vm", "name=a,vcpus=x,lock=ticket"], "--vm", "vcpus must be an integer"),
    (["--vm", "vcpus=2,lock=ticket"], "--vm", "'name' is required"),
    (["--pcpus", "8", "--vm", "name=a,vcpus=2,lock=ticket,cpuset=4-9"], "--vm",
     "cpuset of VM 'a' must lie in [0, pcpus=8)"),
    (["--vm", "name=b,vcpus=2"], "--vm", "at least one VM needs a lock"),
    (["--scheduler", "rr", "--vm", "name=a,vcpus=2,lock=ticket,cpuset=0-1"], "--vm",
     "takes no cpuset"),
    (["--vm", "name=a,vcpus=2,lock=ticket", "--vm", "name=a,vcpus=2"], "--vm", "unique"),
    ([], "--vm", "at least one VM"),
    (["--pcpus", "0", "--vm", "name=a,vcpus=2,lock=ticket"], "--pcpus", "[1, 256]"),
    (["--scheduler", "bfs", "--vm", "name=a,vcpus=2,lock=ticket"], "--scheduler", "bfs"),
    (["--duration-ms", "0", "--vm", "name=a,vcpus=2,lock=ticket"], "--duration-ms", "0"),
    (["--hardware", "no-such-machine", "--vm", "name=a,vcpus=2,lock=ticket"], "--hardware",
     "unknown preset 'no-such-machine'"),
])
def test_host_bad_input_names_the_flag(argv, flag, text, capsys, monkeypatch):
    import pvqmodel.hostsim as hs

    monkeypatch.setattr(hs, "simulate_host", lambda *a, **k: pytest.fail("ran"))
    rc, out, err = _run_main(["host", *argv], capsys)
    assert rc == 2, (out, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith("pvqmodel host: error:") and flag in last and text in last, last
    assert "Traceback" not in out + err


def test_host_ctrl_c_exits_130(capsys, monkeypatch):
    import pvqmodel.hostsim as hs

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(hs, "simulate_host", interrupted)
    rc, out, err = _run_main(HOST_ARGS, capsys)
    assert rc == 130 and err.strip() == "pvqmodel: interrupted"


# ---- notebook 06's sliders -------------------------------------------------------------

def test_host_sliders_rerun_on_release_and_show_their_defaults():
    w = pytest.importorskip("ipywidgets")
    from pvqmodel.widgets import HOST_VIEW_DEFAULTS, host_sliders

    sliders = host_sliders()
    assert set(sliders) == set(HOST_VIEW_DEFAULTS)
    for name, s in sliders.items():
        assert s.value == HOST_VIEW_DEFAULTS[name], name
        assert s.continuous_update is False, name
        k = (s.value - s.min) / s.step  # the default lies on the slider's grid
        assert abs(k - round(k)) < 1e-9, (name, s.value, s.min, s.step)
    assert not isinstance(sliders["quantum_ms"], w.Checkbox)
    with pytest.raises(ValueError, match="quantum"):
        host_sliders(quantum=3.0)


def test_moving_the_quantum_slider_reruns_the_round_robin_only():
    """The widget re-runs without a button; a 0.25 ms quantum instead of 3 ms changes
    the FIFO round robin's cells with co-tenants (their steal per operation moves) and
    leaves the CFS and EEVDF cells bit-identical (the quantum is rr's
    only; same seeds)."""
    w = pytest.importorskip("ipywidgets")
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import host_widget

    open_before = plt.get_fignums()  # (figures another test left open are not ours)
    widget = host_widget(lock="ticket", pcpus=2, vcpus=2, duration_ms=5.0, reps=2)
    assert not any(isinstance(c, w.Button) for c in widget.children)
    before = widget.result
    {c._kwarg: c for c in widget.kwargs_widgets}["quantum_ms"].value = 0.25
    after = widget.result
    assert after is not before
    pd.testing.assert_frame_equal(after.loc[["cfs", "eevdf"]], before.loc[["cfs", "eevdf"]])
    rr_b, rr_a = before.loc["rr"], after.loc["rr"]
    shared = rr_b.index.get_level_values("vms") > 1
    assert (rr_a.loc[shared, "steal_ns_per_op"] != rr_b.loc[shared, "steal_ns_per_op"]).all()
    assert plt.get_fignums() == open_before
