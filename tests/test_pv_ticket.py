"""The 3.12-3.19 PV ticket lock (``pv-ticket``): invariants, the table regime (no
halting), the cost of the PV unlock at one task, and the halt/kick slowpath (forced
by a tiny SPIN_THRESHOLD, and under an overcommitted schedule).

Runs go through :func:`pvqmodel.sim.run_one` where the test needs the raw counters
``G`` or the final memory (the lock word, the ``klock_waiting`` words, the
``waiting_cpus`` mask) or a parameter the front-end does not expose (``P_PV_CALL``).
"""

import numpy as np
import pytest
from scipy import stats

from pvqmodel.engine import state as st
from pvqmodel.locks import pv_ticket as pvt
from pvqmodel.params import Hardware, Schedule, Workload
from pvqmodel.sim import (
    LOCKS,
    PV_LOCKS,
    LockTunables,
    param_array,
    placement,
    run_one,
    schedule_lp,
    simulate,
)

HW = Hardware()
WL = Workload(placement="compact")


def _run(lock, n, K, *, seed=0, tun=None, wl=WL, pv_call=None, sched=None, hw=HW):
    """One replication, as simulate() would run it (a PV lock pays the hardware's PV hook
    costs); ``pv_call`` overrides P_PV_CALL."""
    lock_id, module = LOCKS[lock]
    sched = sched or Schedule()
    watchdog = 1e8 if sched.dedicated else max(1e8, 50 * sched.quantum_ns * sched.overcommit)
    P = param_array(hw, wl, watchdog, sched, pv=lock in PV_LOCKS)
    if pv_call is not None:
        P[st.P_PV_CALL] = pv_call
    LP = (tun or LockTunables()).array()
    schedule_lp(LP, sched, n)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    return run_one(lock_id, module, n, K, P, LP, placement(n, hw, wl.placement), rng,
                   2000 * n * K + 100_000, 64, "auto")


def _check_final_state(S, n, K):
    """Every op completed, tickets were granted in order, and the lock and the PV
    bookkeeping are back to rest: head == tail == INC * ops, the slowpath flag cleared
    by the last slow unlock, nobody in waiting_cpus, every w->lock NULL."""
    G, mem = S["G"], S["mem"][:, 0]
    assert S["status"] == st.ST_OK, S["status"]
    assert G[st.G_OPS] == n * K
    assert (S["I"][:, st.OPS_DONE] == K).all()
    assert G[st.NG + st.GL_TICKET_NEXT] == pvt.TICKET_LOCK_INC * n * K  # every grant, in order
    head = mem[pvt.W_LOCK] & pvt.HEAD_MASK
    tail = mem[pvt.W_LOCK] >> pvt.TICKET_SHIFT
    assert head == tail == pvt.TICKET_LOCK_INC * n * K
    for k in range(pvt.N_GLOBAL_WORDS):
        assert mem[1 + pvt.N_WORDS_PER_CPU * n + k] == 0  # waiting_cpus word k
    for c in range(n):
        assert mem[1 + pvt.N_WORDS_PER_CPU * c + pvt.F_WLOCK] == 0  # per_cpu w->lock


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
    assert (s[["halts", "kicks", "slow_unlocks"]] == 0).all().all()


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
    native = _run("ticket", 1, K, seed=11)  # no PV costs: not a PV lock
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
    predicted 2 P_HIT + P_RMW + P_PV_CALL."""
    wl = Workload(cs_ns=30.0, loop_ns=60.0, cs_dist="exp", loop_dist="exp",
                  placement="compact")
    K, reps = 400, 8
    tk = [float(_run("ticket", 1, K, seed=100 + r, wl=wl)["F"][0, st.F_DONE_T]) / K
          for r in range(reps)]
    pv = [float(_run("pv-ticket", 1, K, seed=200 + r, wl=wl)["F"][0, st.F_DONE_T]) / K
          for r in range(reps)]
    ci = stats.ttest_ind(pv, tk, equal_var=False).confidence_interval(0.999)
    predicted = 2 * HW.hit_ns + HW.rmw_ns + HW.pv_call_ns
    assert ci.low > 0, ci
    assert ci.low <= predicted <= ci.high, (ci, predicted)


def test_spin_threshold_is_validated():
    for bad in (0, -5, 2**31 + 1, 2.5, True):
        with pytest.raises(ValueError, match="spin_threshold"):
            LockTunables(spin_threshold=bad)
    assert LockTunables().array()[st.LP_SPIN_THRESHOLD] == 1 << 15
    assert LockTunables(spin_threshold=4).array()[st.LP_SPIN_THRESHOLD] == 4


@pytest.mark.parametrize("latch", [True, False])
@pytest.mark.parametrize("n", [3, 5, 8])
def test_forced_halts_complete_and_kick_the_next_ticket(n, latch):
    """SPIN_THRESHOLD = 4 on dedicated pCPUs: waiters time out almost at once, publish
    klock_waiting, set the tail flag and halt; every unlock that sees the flag kicks
    the waiter holding the new head ticket. With no interrupts (spurious_ns = 0) a
    halted vCPU can only be woken by a kick, so: every halt ends in a kick, nobody is
    kicked twice (kicks = kicked wake-ups + kicks that found the target running), every
    halt followed a spin timeout, the kick cost is inside the slow-unlock time, and the
    lock and the PV bookkeeping end at rest. Without the latch a kick that precedes the
    HLT would be lost; the re-check of the head under the flag makes that impossible."""
    K = 200
    S = _run("pv-ticket", n, K, seed=n, tun=LockTunables(spin_threshold=4),
             sched=Schedule(latch=latch))
    _check_final_state(S, n, K)
    G, F = S["G"], S["F"]
    halts = G[st.G_HALT0 + st.HALT_TICKET]
    assert halts > 0 and G[st.G_KICKS] > 0 and G[st.G_SLOW_UNLOCKS] > 0
    assert G[st.G_WAKE_KICKED] == halts
    assert G[st.G_SPURIOUS] == 0
    assert G[st.G_KICKS] == G[st.G_WAKE_KICKED] + G[st.G_KICK_NOHALT]
    assert G[st.G_TIMEOUTS] >= halts + G[st.G_LATCH_HITS]
    assert G[st.G_SLOW_UNLOCKS] >= G[st.G_KICKS]  # at most one kick per slow unlock
    sched = Schedule()
    assert F[n, st.GF_SLOW_UNLOCK_NS] >= G[st.G_KICKS] * sched.kick_ns


def test_forced_halts_with_interrupts():
    """As above with interrupts every 20 us on average (spurious_ns): a halted waiter
    is woken by whichever comes first, the kick (58 us after it is sent) or an
    interrupt (P = 1 - exp(-58/20) = 0.945 per halt that waits a full wake latency, so
    with hundreds of halts at least one is certain); a waiter woken early spins again
    and halts again. Every halt ends in exactly one wake-up."""
    n, K = 5, 200
    S = _run("pv-ticket", n, K, seed=9, tun=LockTunables(spin_threshold=4),
             sched=Schedule(spurious_ns=2e4))
    _check_final_state(S, n, K)
    G = S["G"]
    halts = G[st.G_HALT0 + st.HALT_TICKET]
    assert halts > 100 and G[st.G_KICKS] > 0
    assert G[st.G_SPURIOUS] > 0
    assert G[st.G_WAKE_KICKED] + G[st.G_SPURIOUS] == halts


def test_forced_halts_256_vcpus_use_every_cpumask_word():
    """256 vCPUs: waiting_cpus spans four 64-bit words (bit 63 is the int64 sign bit).
    Every halted waiter must be found by kvm_unlock_kick's walk (no interrupts, so an
    unfound waiter would never wake: a lost wake-up), and every bit is cleared at the
    end."""
    n, K = 256, 3
    S = _run("pv-ticket", n, K, seed=1, tun=LockTunables(spin_threshold=4),
             hw=Hardware(sockets=8, cores_per_socket=32))
    _check_final_state(S, n, K)
    G = S["G"]
    halted = S["I"][:, st.HALT_SITE] == st.HALT_TICKET  # halted at least once
    for k in range(pvt.N_GLOBAL_WORDS):
        assert halted[64 * k: 64 * (k + 1)].any()
    assert halted[63::64].any()  # the sign bit of a mask word was used
    assert G[st.G_WAKE_KICKED] == G[st.G_HALT0 + st.HALT_TICKET]


@pytest.mark.parametrize("sched", [
    Schedule(pcpus=4, overcommit=2.0, quantum_ns=1e5),
    Schedule(pcpus=3, quantum_ns=1e5, placement="free"),
], ids=["pinned-2x", "free-3pcpu"])
def test_overcommitted_schedule_completes(sched):
    """Four vCPUs share pCPUs with background vCPUs (pinned, 2x overcommit) or among
    themselves (3 pCPUs, one run queue) with the default SPIN_THRESHOLD: every op still
    completes in FIFO order and the PV state ends at rest. The run lasts longer than two
    fixed quanta (4000 contended ops at > 50 ns each), so some vCPU of the VM must have
    been descheduled: the schedule really interleaved with the lock."""
    n, K = 4, 1000
    S = _run("pv-ticket", n, K, seed=5, sched=sched)
    _check_final_state(S, n, K)
    assert S["F"][:n, st.F_DONE_T].max() > 2 * sched.quantum_ns
    assert S["G"][st.G_PREEMPTS] > 0
