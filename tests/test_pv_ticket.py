"""The 3.12-3.19 PV ticket lock (``pv-ticket``): invariants, the table regime (no
halting), the cost of the PV unlock at one task, and the halt/kick slowpath.

Runs go through :func:`pvqmodel.sim.run_one` where the test needs the raw counters
``G`` or the final memory (the lock word, the ``klock_waiting`` words, the
``waiting_cpus`` mask) or a parameter the front-end does not expose (``P_PV_CALL``).
"""

import numpy as np
import pytest
from scipy import stats

from pvqmodel.engine import state as st
from pvqmodel.locks import pv_ticket as pvt
from pvqmodel.params import Hardware, Workload
from pvqmodel.sim import (
    LOCKS,
    LockTunables,
    param_array,
    placement,
    run_one,
    simulate,
)

HW = Hardware()
WL = Workload(placement="compact")


def _run(lock, n, K, *, seed=0, tun=None, wl=WL, pv_call=0.0, lp=None):
    lock_id, module = LOCKS[lock]
    P = param_array(HW, wl, 1e8)
    P[st.P_PV_CALL] = pv_call
    LP = (tun or LockTunables()).array()
    for k, val in (lp or {}).items():
        LP[k] = val
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    return run_one(lock_id, module, n, K, P, LP, placement(n, HW, wl.placement), rng,
                   2000 * n * K + 100_000, 64, "auto")


def _check_final_state(S, n, K):
    """Every op completed, tickets were granted in order, and the lock and the PV
    bookkeeping are back to rest: head == tail == INC * ops, the slowpath flag cleared
    by the last slow unlock, nobody in waiting_cpus, every w->lock NULL."""
    G, mem = S["G"], S["mem"][:, 0]
    assert S["status"] == st.ST_OK, S["status"]
    assert G[st.G_OPS] == n * K
    assert (S["I"][:, st.OPS_DONE] == K).all()
    assert G[st.G_TICKET_NEXT] == pvt.TICKET_LOCK_INC * n * K  # every grant, in order
    head = mem[pvt.W_LOCK] & pvt.HEAD_MASK
    tail = mem[pvt.W_LOCK] >> pvt.TICKET_SHIFT
    assert head == tail == pvt.TICKET_LOCK_INC * n * K
    for k in range(pvt.N_GLOBAL_WORDS):
        assert mem[pvt.mask_word(k, n)] == 0
    for c in range(n):
        assert mem[pvt.kw(c, pvt.F_WLOCK)] == 0


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_table_regime_never_halts(n):
    """Dedicated CPUs, default SPIN_THRESHOLD (2^15 iterations, ~0.2 ms): a waiter
    waits at most n - 1 handoffs (well under a microsecond each), so no spin ever
    times out, nobody enters kvm_lock_spinning, no unlock takes the slowpath."""
    K = 300
    S = _run("pv-ticket", n, K, seed=n)
    _check_final_state(S, n, K)
    G = S["G"]
    assert G[st.G_TIMEOUTS] == 0
    assert G[st.G_HALT0 + st.HALT_TICKET] == 0
    assert G[st.G_KICKS] == 0
    assert G[st.G_SLOW_UNLOCKS] == 0
    assert G[st.G_PATH0 + st.PATH_FAST] + G[st.G_PATH0 + st.PATH_SPIN] == n * K
    # tail never carried the slowpath flag: it is a multiple of INC
    assert (S["mem"][pvt.W_LOCK, 0] >> pvt.TICKET_SHIFT) % pvt.TICKET_LOCK_INC == 0


def test_simulate_front_end_and_fifo_completion():
    """Through simulate(): FIFO grants make every task finish within a few handoffs."""
    res = simulate("pv-ticket", 6, 1000, hardware=HW, workload=WL, reps=2, seed=3)
    s = res.summary
    assert (s["status"] == "ok").all()
    assert (res.tasks["ops"] == 1000).all()
    assert (s["completion_spread"] < 0.01).all(), s["completion_spread"]
    assert (s["spin_timeouts"] == 0).all()


def test_pv_unlock_costs_more_than_native_at_one_task():
    """At one task every access after the first hits in L1 and the workload is
    deterministic, so ns/op is the sum of the path's costs. The PV unlock is a load of
    prev (P_HIT), a LOCK add (P_HIT + P_RMW) and a load of the tail (P_HIT) instead of
    the native plain store (P_HIT): predicted difference 2 P_HIT + P_RMW (+ P_PV_CALL for
    the paravirt branch). The only other terms are one-off: the random start offset
    (< P_LOOP) and the first op's cold misses (< 2 (2 P_SERVICE + P_XCROSS + P_RMW));
    divided by K they bound the error of ns/op for each lock."""
    K = 500
    per_op_bound = (WL.loop_ns + 2 * (2 * HW.service_ns + HW.xfer_cross_ns
                                      + HW.rmw_ns)) / K
    tol = 2 * per_op_bound  # two runs, each within the bound
    native = _run("ticket", 1, K, seed=11)
    base = float(native["F"][0, st.F_DONE_T]) / K
    for pv_call in (0.0, 7.0):
        pv = _run("pv-ticket", 1, K, seed=11, pv_call=pv_call)
        _check_final_state(pv, 1, K)
        diff = float(pv["F"][0, st.F_DONE_T]) / K - base
        predicted = 2 * HW.hit_ns + HW.rmw_ns + pv_call
        assert abs(diff - predicted) < tol, (diff, predicted, tol)
        assert diff > tol  # strictly more expensive, beyond the error bound


def test_pv_unlock_costs_more_with_random_workload():
    """Same comparison with exponential critical sections and loop overheads, as a
    statistical test: independent seeds per replication, Welch's t interval on the
    difference of mean ns/op at 99.9 %; the interval must lie above 0 and contain the
    predicted 2 P_HIT + P_RMW."""
    wl = Workload(cs_ns=30.0, loop_ns=60.0, cs_dist="exp", loop_dist="exp",
                  placement="compact")
    K, reps = 400, 8
    tk = [float(_run("ticket", 1, K, seed=100 + r, wl=wl)["F"][0, st.F_DONE_T]) / K
          for r in range(reps)]
    pv = [float(_run("pv-ticket", 1, K, seed=200 + r, wl=wl)["F"][0, st.F_DONE_T]) / K
          for r in range(reps)]
    ci = stats.ttest_ind(pv, tk, equal_var=False).confidence_interval(0.999)
    predicted = 2 * HW.hit_ns + HW.rmw_ns
    assert ci.low > 0, ci
    assert ci.low <= predicted <= ci.high, (ci, predicted)


def test_spin_threshold_is_validated():
    for bad in (0, -5, 2**31 + 1, 2.5, True):
        with pytest.raises(ValueError, match="spin_threshold"):
            LockTunables(spin_threshold=bad)
    assert LockTunables().array()[st.LP_SPIN_THRESHOLD] == 1 << 15
    assert LockTunables(spin_threshold=4).array()[st.LP_SPIN_THRESHOLD] == 4
