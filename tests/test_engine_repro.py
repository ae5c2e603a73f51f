"""Reproducibility: one root seed -> identical output, whatever the threads."""

import numba
import numpy as np
import pytest

from pvqmodel.params import Hardware, Workload
from pvqmodel.sim import simulate

HW = Hardware()
WL = Workload(cs_ns=5.0, loop_ns=20.0, loop_dist="exp")


@pytest.mark.parametrize("lock", ["ticket", "qspinlock", "qspinlock-4.18", "tas",
                                  "unfair-qspinlock"])
def test_same_seed_identical_different_seed_different(lock):
    a = simulate(lock, 4, 300, hardware=HW, workload=WL, reps=3, seed=42)
    b = simulate(lock, 4, 300, hardware=HW, workload=WL, reps=3, seed=42)
    c = simulate(lock, 4, 300, hardware=HW, workload=WL, reps=3, seed=43)
    assert a.summary.equals(b.summary)
    assert a.tasks.equals(b.tasks)
    assert not np.array_equal(a.summary["sim_ns"], c.summary["sim_ns"])
    # replications are distinct streams
    assert a.summary["sim_ns"].nunique() == 3


def test_independent_of_numba_threads_and_workers():
    base = simulate("qspinlock", 5, 300, hardware=HW, workload=WL, reps=4, seed=9)
    old = numba.get_num_threads()
    try:
        for t in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(t)
            for workers in (1, 2):
                r = simulate("qspinlock", 5, 300, hardware=HW, workload=WL, reps=4, seed=9,
                             workers=workers)
                assert r.summary.equals(base.summary)
    finally:
        numba.set_num_threads(old)


def test_replication_is_prefix_stable():
    """Replication r depends only on the root seed and r, not on how many reps run."""
    a = simulate("ticket", 3, 200, hardware=HW, workload=WL, reps=2, seed=5)
    b = simulate("ticket", 3, 200, hardware=HW, workload=WL, reps=4, seed=5)
    assert a.summary.equals(b.summary.iloc[:2].reset_index(drop=True))


@pytest.mark.parametrize("stop", ["max_events", "watchdog"])
def test_failed_replication_replay_is_the_same_run(stop):
    """sim.run_state runs a replication without its trace ring and, if it fails, again
    from the same random state with the ring. The replay must be the run itself: every
    state array, the status and the ring equal those of one run made with the ring from
    the start, and the ring ends at the failing event."""
    from pvqmodel.engine import state as st
    from pvqmodel.params import Schedule
    from pvqmodel.sim import VMSpec, _run_chunks, build_run, run_state

    vms = [VMSpec("pv-qspinlock-v10", 6, 400, WL)]
    sched = Schedule(overcommit=2, quantum_ns=2e4)
    watchdog = 1e8 if stop == "max_events" else 2e3  # 2 us: a preempted holder trips it
    run = build_run(vms, HW, sched, watchdog)
    max_events = 30_000 if stop == "max_events" else 10**7

    def rng():
        return np.random.Generator(np.random.PCG64(11))

    replay = run_state(run, rng(), max_events, 128, "auto")
    direct = _run_chunks(run, rng(), max_events, 128, "auto", None, None)
    want = st.ST_MAX_EVENTS if stop == "max_events" else st.ST_WATCHDOG
    assert replay["status"] == direct["status"] == want
    for k, a in direct.items():
        assert np.array_equal(replay[k], a), k
    # the ring's newest entry is the run's last event
    pos = int(replay["G"][st.G_TRACE_POS])
    assert replay["TR"][(pos - 1) % 128, st.TR_EVENT] == replay["G"][st.G_EVENTS]
    # and a run that succeeds never carries the ring
    ok = run_state(build_run(vms, HW, sched, 1e8), rng(), 10**7, 128, "auto")
    assert ok["status"] == st.ST_OK and ok["TR"].shape[0] == 0
