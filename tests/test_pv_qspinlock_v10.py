"""The seed's v10 PV qspinlock and its unfair variant on the engine.

The kernel checks mutual exclusion, MCS FIFO order of queue-path grants (a queued
waiter's predecessor must be the previous queue-path acquirer) and liveness (watchdog,
lost wake-up) at every event; ``simulate`` raises on any of them. Table regime = the
seed's thresholds on dedicated pCPUs (no schedule): nothing should ever halt.
"""

import numpy as np
import pytest
from scipy import stats

from pvqmodel.params import Hardware, Schedule, Workload
from pvqmodel.sim import LockTunables, simulate

HW = Hardware()
WL = Workload(placement="compact")
PV = ["pv-qspinlock-v10", "pv-qspinlock-v10-unfair"]
PATHS = ["path_fast", "path_pending", "path_queue", "path_steal", "path_spin"]


@pytest.mark.parametrize("lock", PV)
@pytest.mark.parametrize("n", range(1, 9))
def test_table_regime_completes_exclusively_without_halting(lock, n):
    K = 400
    res = simulate(lock, n, K, hardware=HW, workload=WL, reps=2, seed=n)
    s = res.summary
    assert (s["status"] == "ok").all()
    assert (s["ops"] == n * K).all() and (res.tasks["ops"] == K).all()
    assert (s[PATHS].sum(axis=1) == n * K).all()
    # QSPIN_THRESHOLD = 2^14 iterations is ~100 us, far above any wait here
    for col in ("halts", "kicks", "slow_unlocks", "pv_kicks_nohalt"):
        assert (s[col] == 0).all(), col
    if n >= 3:
        # the queue carries most acquisitions: the FIFO check was exercised
        assert (s["path_queue"] > 0.2 * n * K).all()


def test_pv_unlock_costs_more_than_native_at_one_task():
    """At N=1 every access hits, so PV differs from native only in the unlock: a locked
    cmpxchg of the byte (``rmw_ns`` more than the native byte store) behind a PV hook
    (``pv_call_ns``). Independent seeds: the Welch 99.9 % confidence interval of the
    ns/op difference (8 replications each, exponential critical section and loop so
    replications vary) must exclude 0 and contain rmw_ns + pv_call_ns. With common
    random numbers (same seed) the difference is that cost exactly."""
    wl = Workload(placement="compact", cs_ns=2.0, loop_ns=16.0, cs_dist="exp",
                  loop_dist="exp")
    cost = HW.rmw_ns + HW.pv_call_ns
    nat = simulate("qspinlock", 1, 2000, hardware=HW, workload=wl, reps=8, seed=1).summary
    for lock, seed in zip(PV, (2, 3), strict=True):
        pv = simulate(lock, 1, 2000, hardware=HW, workload=wl, reps=8, seed=seed).summary
        a, b = nat["ns_per_op"].to_numpy(), pv["ns_per_op"].to_numpy()
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = stats.t.ppf(0.9995, df) * se
        diff = b.mean() - a.mean()
        assert diff - half > 0, (lock, diff, half)
        assert diff - half <= cost <= diff + half, (lock, diff, half, cost)
        crn = simulate(lock, 1, 2000, hardware=HW, workload=wl, reps=3, seed=1).summary
        np.testing.assert_allclose(crn["ns_per_op"] - nat["ns_per_op"][:3], cost, rtol=1e-9)


def test_pv_pending_waiter_gives_up_after_pspin_threshold():
    """v10 PV pending path: after PSPIN_THRESHOLD spins on the locked byte the pending
    waiter clears the pending bit and queues. With the seed's 1024 and a 50 ns critical
    section two tasks alternate on the pending path and never queue; with a threshold of
    1 the first pending waiter gives up, queues, and from then on each task finds the
    other's tail and queues too (the pending path needs an empty queue)."""
    wl = Workload(placement="compact", cs_ns=50.0)
    base = simulate("pv-qspinlock-v10", 2, 1000, hardware=HW, workload=wl, reps=1,
                    seed=5).summary.iloc[0]
    short = simulate("pv-qspinlock-v10", 2, 1000, hardware=HW, workload=wl, reps=1, seed=5,
                     tunables=LockTunables(pspin_threshold=1)).summary.iloc[0]
    assert base.path_pending > 0.3 * base.ops
    assert base.spin_timeouts == 0 and base.path_queue == 0
    assert short.spin_timeouts >= 1
    assert short.path_queue > 0.9 * short.ops
    assert short.ops == 2000


# Forced halting: tiny thresholds, a critical section long enough that queue nodes
# (32 spins) and heads (64 spins) time out, and a fast wake-up so that nodes become
# head while awake and wait as head too.
TINY = LockTunables(qspin_threshold=32, mayhalt_gap=4)
SLOW_CS = Workload(placement="compact", cs_ns=1000.0, loop_ns=100.0, cs_dist="exp",
                   loop_dist="exp")
FAST_WAKE = Schedule(kick_ns=100.0, wake_ns=0.0, halt_ns=0.0)


@pytest.mark.parametrize("lock", PV)
def test_forced_halting_completes_with_node_and_head_halts(lock):
    n, K = 3, 300
    res = simulate(lock, n, K, hardware=HW, workload=SLOW_CS, schedule=FAST_WAKE, reps=2,
                   seed=11, tunables=TINY)
    s = res.summary
    assert (s["status"] == "ok").all() and (s["ops"] == n * K).all()
    assert (s["halts_node"] > 10).all() and (s["halts_head"] > 10).all()
    assert (s["kicks"] > 0).all()
    # no interrupts: every halt ended with a kick, and every kick hypercall came from
    # an unlock slowpath's pv_kick_node that found the node HALTED
    assert (s["kicked_wakes"] == s["halts"]).all()
    assert (s["kicks"] + s["pv_kicks_nohalt"] == s["slow_unlocks"]).all()
    assert (s["slow_unlock_ns"] > 0).all()


def test_lost_wakeup_needs_a_store_buffer():
    """The seed's mayhalt handshake (pvqmodel.handshake): with sequentially consistent
    stores no wake-up is lost; with x86-TSO stores that linger in the store buffer for
    longer than MAYHALT_GAP spins, pv_halt_check can read ``mayhalt`` before its own
    ``qhead`` store is visible and the next node halts unseen (the engine reports it)."""
    tun = LockTunables(qspin_threshold=32, mayhalt_gap=2)
    sched = Schedule(kick_ns=500.0, wake_ns=2000.0)
    kw = dict(workload=WL, schedule=sched, reps=4, seed=6, tunables=tun, check=False)
    sc = simulate("pv-qspinlock-v10", 6, 300, hardware=Hardware(memory_model="sc"), **kw)
    assert (sc.summary["status"] == "ok").all()
    assert (sc.summary["halts_node"] > 0).all()
    tso = simulate("pv-qspinlock-v10", 6, 300,
                   hardware=Hardware(memory_model="tso", drain_ns=500.0), **kw)
    assert tso.summary["status"].str.startswith("lost wake-up").any()


def test_unfair_steals_only_on_the_fast_path():
    """PV + unfair: the fast path steals the byte over queued waiters, the slowpath
    starts with val = -1 (no pending path) and queued waiters never leave the queue
    early (waiter stealing is off under PV), so the engine's MCS FIFO check on queue
    grants holds."""
    n, K = 6, 500
    s = simulate("pv-qspinlock-v10-unfair", n, K, hardware=HW, workload=WL, reps=2,
                 seed=4).summary
    assert (s["status"] == "ok").all() and (s["ops"] == n * K).all()
    assert (s["steals"] > 0.1 * n * K).all()
    assert (s["steals"] == s["path_steal"]).all()
    assert (s["path_pending"] == 0).all()
    assert (s["path_queue"] > 0).all()
    fair = simulate("pv-qspinlock-v10", n, K, hardware=HW, workload=WL, reps=2,
                    seed=4).summary
    assert (fair["steals"] == 0).all() and (fair["path_pending"] + fair["path_fast"]
                                            < 0.05 * n * K).all()


@pytest.mark.parametrize("kw, name", [
    (dict(qspin_threshold=1), "qspin_threshold"),
    (dict(head_mult=0), "head_mult"),
    (dict(pspin_threshold=0), "pspin_threshold"),
    (dict(mayhalt_gap=0), "mayhalt_gap"),
    (dict(qspin_threshold=16, mayhalt_gap=16), "mayhalt_gap"),
    (dict(qspin_threshold=2.5), "qspin_threshold"),
])
def test_bad_pv_tunables(kw, name):
    with pytest.raises(ValueError, match=name):
        LockTunables(**kw)


def test_seed_thresholds_are_the_defaults():
    from pvqmodel.engine import state as st

    a = LockTunables().array()
    assert a[st.LP_QSPIN_THRESHOLD] == 1 << 14 and a[st.LP_HEAD_MULT] == 2
    assert a[st.LP_MAYHALT_GAP] == 0x10 and a[st.LP_PSPIN_THRESHOLD] == 1 << 10
