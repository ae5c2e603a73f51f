"""The generations study (pvqmodel.generations) and notebook 05's slider callback.

The study must be what it says: every row is the :func:`simulate` run it names (lock,
schedule, seed), replication i of every lock uses the same seed (common random
numbers), the result does not depend on the number of worker threads, the switches reach
the lock (and only the locks that have them), the wait quantiles are read correctly
from the log2 histogram; and the effects the README reports move the right way.
"""

import numpy as np
import pandas as pd
import pytest

from pvqmodel.generations import (
    GEN_LOCKS,
    generation_schedules,
    generations,
    wait_quantile,
)
from pvqmodel.sim import PV_LOCKS, LockTunables, simulate

SMALL = dict(ops_per_task=150, reps=2, seed=3)
NUM = ["ns_per_op", "halts", "kicks", "pv_wait_early", "path_steal", "lhp", "wait_p50_ns",
       "wait_p99_ns"]


def test_every_pv_lock_and_tas_are_studied():
    assert set(GEN_LOCKS) == {*PV_LOCKS, "tas"}
    names = [s["schedule"] for s in generation_schedules()]
    assert names == ["dedicated", "r=1.5, PLE off", "r=1.5, PLE on", "r=2, PLE off",
                     "r=2, PLE on", "r=3, PLE off", "r=3, PLE on"]


@pytest.fixture(scope="module")
def small():
    return generations(overcommits=(2.0,), tasks=(3,), workers=1, **SMALL)


def test_rows_are_the_simulate_runs_they_name(small):
    """Common random numbers: replication i has the same seed for every lock and
    schedule; and each row is exactly simulate(lock, ..., reps=1, seed=row.seed)."""
    assert len(small) == len(GEN_LOCKS) * 3 * SMALL["reps"]  # dedicated, PLE off, PLE on
    assert (small.groupby("rep")["seed"].nunique() == 1).all()
    assert small["seed"].nunique() == SMALL["reps"]
    assert (small["status"] == "ok").all()
    sched = {s["schedule"]: s["sched"] for s in generation_schedules(overcommits=(2.0,))}
    for _, r in small[small["lock"].isin(["pv-qspinlock-4.11", "tas"])].iterrows():
        s = simulate(r["lock"], 3, SMALL["ops_per_task"], schedule=sched[r["schedule"]],
                     reps=1, seed=int(r["seed"])).summary.iloc[0]
        assert s["ns_per_op"] == r["ns_per_op"] and s["halts"] == r["halts"]


def test_workers_do_not_change_the_result(small):
    two = generations(overcommits=(2.0,), tasks=(3,), workers=2, **SMALL)
    pd.testing.assert_frame_equal(small, two)


def test_switches_reach_the_merged_generations_only():
    """pv_steal=1 turns 4.15's hybrid loop into 4.11's single steal (bit for bit, with
    4.11's wait-early on vcpu_is_preempted, which both have); the 4.4 generation cannot
    steal and keeps its own behaviour; the PV ticket lock has no such switch."""
    kw = dict(locks=("pv-qspinlock-4.11", "pv-qspinlock-4.15", "pv-qspinlock-4.4",
                     "pv-ticket"), overcommits=(3.0,), ple=(False,), dedicated=False,
              tasks=(4,), ops_per_task=1000, reps=2, seed=3)  # 150 ops: no hybrid steal
    own = generations(**kw).set_index(["lock", "rep"])
    one = generations(pv_steal=1, **kw).set_index(["lock", "rep"])
    assert one.loc["pv-qspinlock-4.15", NUM].equals(own.loc["pv-qspinlock-4.11", NUM])
    assert not own.loc["pv-qspinlock-4.15", NUM].equals(own.loc["pv-qspinlock-4.11", NUM])
    for lock in ("pv-qspinlock-4.4", "pv-ticket"):
        assert one.loc[lock, NUM].equals(own.loc[lock, NUM])


def test_spin_threshold_and_check_mask_reach_the_lock():
    """SPIN_THRESHOLD 2^6 instead of 2^15 under the same overcommitted schedules (20 us
    quanta, so waiters outlast a preempted holder often): the PV ticket lock halts
    (none at 2^15) and so does the merged lock's pv_wait_node loop running out (halts not
    due to wait-early). ``pv_wait_early`` checks when ``loop & PV_PREV_CHECK_MASK == 0``
    with ``loop`` counting down from SPIN_THRESHOLD: at 64 and the kernel's 0xff it never
    checks (no wait-early halt at all), with mask 15 it checks every 16 iterations. The
    test asks for those zero / non-zero switches and a strict increase (same seeds)."""
    kw = dict(locks=("pv-qspinlock-4.11", "pv-ticket"), overcommits=(3.0,), ple=(False,),
              dedicated=False, tasks=(4,), ops_per_task=1000, reps=2, seed=1,
              quantum_ns=2e4)

    def sums(**extra):
        d = generations(**kw, **extra)
        return d.assign(node=d["halts"] - d["pv_wait_early"]).groupby("lock")[
            ["halts", "pv_wait_early", "node"]].sum()

    base, low, mask = sums(), sums(spin_threshold=64), sums(spin_threshold=64,
                                                            pv_prev_check_mask=15)
    assert low.loc["pv-ticket", "halts"] > base.loc["pv-ticket", "halts"]
    assert low.loc["pv-qspinlock-4.11", "node"] > base.loc["pv-qspinlock-4.11", "node"]
    assert base.loc["pv-qspinlock-4.11", "pv_wait_early"] > 0
    assert low.loc["pv-qspinlock-4.11", "pv_wait_early"] == 0
    assert mask.loc["pv-qspinlock-4.11", "pv_wait_early"] > 0


def test_wait_quantile_reads_the_log2_histogram():
    """Samples binned the way the engine bins them ([2^b - 1, 2^(b+1) - 1) ns): the
    interpolated quantile lies in the bin of the exact sample quantile (so within a
    factor 2 of it, the histogram's resolution) and grows with q."""
    rng = np.random.default_rng(0)
    x = rng.lognormal(6.0, 2.0, 20_000)
    b = np.floor(np.log2(x + 1)).astype(int)
    counts = np.bincount(b, minlength=48)
    k = np.arange(48)
    h = pd.DataFrame({"lo_ns": 2.0**k - 1, "hi_ns": 2.0 ** (k + 1) - 1, "count": counts})
    qs = [wait_quantile(h, q) for q in (0.1, 0.5, 0.9, 0.99)]
    assert qs == sorted(qs)
    for q, v in zip((0.1, 0.5, 0.9, 0.99), qs, strict=True):
        exact = np.quantile(x, q)
        assert np.floor(np.log2(v + 1)) == np.floor(np.log2(exact + 1)), (q, v, exact)
    assert np.isnan(wait_quantile(h.assign(count=0), 0.5))


def test_dedicated_pcpus_never_halt():
    """Dedicated pCPUs, the seed benchmark, 4 vCPUs: a waiter halts only after
    SPIN_THRESHOLD spins or on wait-early (predecessor halted or preempted), neither of
    which happens without a scheduler (test_pv_qspinlock gives the thresholds' bound)."""
    df = generations(overcommits=(), dedicated=True, tasks=(4,), **SMALL)
    assert (df[["halts", "kicks", "pv_wait_early"]] == 0).all().all()


def test_stealing_generations_outrun_the_fifo_ones_under_overcommit():
    """The README's main effect, small: at overcommit 3 (PLE off) 4.5 (one steal) runs
    about 50 x faster than 4.4 (queue only; measured at 16 x 5000 ops); over 4 runs of
    1000 ops each pair (same seed) must show 4.5 at least 3 x faster: a FIFO lock's
    lock-waiter preemption costs up to a 100 us quantum per hand-over, a steal
    nothing."""
    df = generations(locks=("pv-qspinlock-4.4", "pv-qspinlock-4.5"), overcommits=(3.0,),
                     ple=(False,), dedicated=False, tasks=(4,), ops_per_task=1000,
                     reps=4, seed=0)
    p = df.pivot(index="rep", columns="lock", values="ns_per_op")
    assert (p["pv-qspinlock-4.4"] > 3 * p["pv-qspinlock-4.5"]).all(), p


@pytest.mark.parametrize("kw, name", [
    (dict(locks=("ticket",)), "locks"), (dict(locks="tas"), "locks"),
    (dict(tasks=(0,)), "tasks"), (dict(reps=0), "reps"), (dict(pv_steal=3), "pv_steal"),
    (dict(pv_prev_check_mask=10), "pv_prev_check_mask"),
    (dict(overcommits=(0.5,)), "overcommits"), (dict(ple=("yes",)), "ple"),
    (dict(spin_threshold=0), "spin_threshold"),
])
def test_bad_arguments_raise_named_errors(kw, name):
    with pytest.raises(ValueError, match=name):
        generations(**{**SMALL, **kw})


def test_tunables_keep_their_own_validation():
    with pytest.raises(ValueError, match="pv_wait_early"):
        LockTunables(pv_wait_early="on")


# ---- notebook 05's sliders ------------------------------------------------------------

VIEW = dict(tasks=4, ops_per_task=300, reps=2, seed=0, overcommit=3.0)


def test_view_applies_the_switches():
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import generations_view

    own, fig = generations_view(**VIEW)
    plt.close(fig)
    off, fig = generations_view(pv_steal=0, **VIEW)
    plt.close(fig)
    # no stealing at all: the merged generations' steal counters drop to 0
    gens = [k for k in own.index if k.startswith("pv-qspinlock-4") or k.endswith("5.4")]
    assert (off.loc[gens, "path_steal_per_1k"] == 0).all()
    assert (own.loc["pv-qspinlock-4.5", "path_steal_per_1k"] > 0)
    assert own.loc["pv-ticket"].equals(off.loc["pv-ticket"])


def test_sliders_rerun_on_release_and_show_their_defaults():
    w = pytest.importorskip("ipywidgets")
    from pvqmodel.widgets import GEN_VIEW_DEFAULTS, generations_sliders, generations_widget

    sliders = generations_sliders()
    assert set(sliders) == set(GEN_VIEW_DEFAULTS)
    for name, s in sliders.items():
        assert s.value == GEN_VIEW_DEFAULTS[name], name
        if isinstance(s, (w.IntSlider, w.FloatSlider)):
            assert s.continuous_update is False, name
    with pytest.raises(ValueError, match="unknown slider"):
        generations_sliders(kick=3.0)
    widget = generations_widget(**{k: VIEW[k] for k in ("tasks", "ops_per_task", "reps",
                                                        "seed")}, overcommit=3.0)
    before = widget.result
    kw = {c._kwarg: c for c in widget.kwargs_widgets}
    kw["spin_threshold_log2"].value = 6
    after = widget.result
    assert after is not before
    assert after.loc["pv-ticket", "halts_per_1k"] > before.loc["pv-ticket", "halts_per_1k"]


# ---- pvqmodel generations ---------------------------------------------------------------

def test_cli_prints_the_library_summary(capsys):
    """``pvqmodel generations`` prints generations_summary of the same run: every lock
    and schedule, with the geometric mean ns/op of the library's frame."""
    from pvqmodel.cli import generations_summary, main

    assert main(["generations", "--ops", "100", "--reps", "2", "--seed", "5",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    ref = generations_summary(generations(ops_per_task=100, reps=2, seed=5))
    assert len(ref) == len(GEN_LOCKS) * 7
    for lock in GEN_LOCKS:
        assert lock in out
    r = ref[(ref["schedule"] == "r=3, PLE off") & (ref["lock"] == "pv-qspinlock-4.5")]
    assert f"{float(r['ns_per_op'].iloc[0]):.2f}" in out


def test_cli_hunt_table_prints_replay_commands(capsys):
    from pvqmodel.cli import main

    assert main(["generations", "--hunt", "--budget", "20", "--quiet"]) == 0
    out = capsys.readouterr().out
    cmds = [x for x in out.splitlines() if x.startswith("pvqmodel hunt ")]
    assert cmds and all("--replay" in c and "--pv-prev-check-mask 15" in c for c in cmds)
