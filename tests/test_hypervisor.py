"""The hypervisor layer: schedules, preemption and the closed forms of lock-holder
preemption (models.md §4.2)."""

import numpy as np
import pytest
from scipy import stats

from pvqmodel import queueing
from pvqmodel.params import Hardware, Schedule, Workload
from pvqmodel.sim import simulate


@pytest.mark.parametrize("kw, name", [
    (dict(pcpus=0), "pcpus"), (dict(pcpus=1.5), "pcpus"), (dict(overcommit=0.5), "overcommit"),
    (dict(quantum_ns=0.0), "quantum_ns"), (dict(quantum_dist="gamma"), "quantum_dist"),
    (dict(placement="numa"), "placement"), (dict(kick_ns=-1.0), "kick_ns"),
    (dict(wake_ns=float("nan")), "wake_ns"), (dict(spurious_ns=-5.0), "spurious_ns"),
    (dict(latch=1), "latch"), (dict(halt_ns=1e12), "halt_ns"),
])
def test_bad_schedule_parameters_raise_named_errors(kw, name):
    with pytest.raises(ValueError, match=name):
        Schedule(**kw)


def test_schedule_checked_against_the_machine_before_the_kernel_runs():
    with pytest.raises(ValueError, match="schedule.pcpus"):
        simulate("ticket", 4, 10, schedule=Schedule(pcpus=100),
                 hardware=Hardware(cores_per_socket=10, sockets=4))
    with pytest.raises(ValueError, match="schedule"):
        simulate("ticket", 4, 10, schedule="overcommit")
    with pytest.raises(ValueError, match="memory_model"):
        Hardware(memory_model="arm")
    with pytest.raises(ValueError, match="drain_ns"):
        Hardware(memory_model="sc", drain_ns=10.0)


def test_dedicated_schedule_runs_no_scheduler():
    """The default schedule is the bare-metal machine: no pCPU timers, no preemption,
    the same numbers as without a schedule argument, bit for bit."""
    a = simulate("qspinlock", 3, 300, reps=2, seed=5)
    b = simulate("qspinlock", 3, 300, reps=2, seed=5, schedule=Schedule())
    assert a.summary.equals(b.summary)
    assert (a.summary["preemptions"] == 0).all()


def test_one_vcpu_per_pcpu_with_a_scheduler_matches_native():
    """r = 1 with the scheduler running (pCPU timers, random phases) only changes the
    random stream: mean ns/op agrees with the native run within the 99.9 % confidence
    interval of the difference of means (Welch)."""
    reps = 8
    a = simulate("ticket", 4, 1500, reps=reps, seed=7)
    b = simulate("ticket", 4, 1500, reps=reps, seed=8,
                 schedule=Schedule(pcpus=4, quantum_ns=2e4))
    assert (b.summary["preemptions"] == 0).all()
    x, y = a.summary["ns_per_op"], b.summary["ns_per_op"]
    se = np.sqrt(x.var(ddof=1) / reps + y.var(ddof=1) / reps)
    assert abs(x.mean() - y.mean()) <= stats.t.ppf(0.9995, 2 * reps - 2) * se + 1e-9


def test_a_descheduled_vcpu_makes_no_progress():
    """Two tasks on ONE pCPU: all their local work is done on that pCPU one at a time,
    so the run lasts at least the sum of both tasks' critical sections and loop
    overheads (if an off-CPU vCPU progressed, it could be shorter)."""
    wl = Workload(cs_ns=3000.0, loop_ns=5000.0)
    K = 400
    r = simulate("ticket", 2, K, reps=2, seed=3, workload=wl,
                 schedule=Schedule(pcpus=1, overcommit=2.0, quantum_ns=50_000.0))
    s = r.summary
    assert (s["preemptions"] > 0).all()
    assert (s["sim_ns"] >= 2 * K * (wl.cs_ns + wl.loop_ns)).all()


@pytest.mark.parametrize("r", [2.0, 3.0])
def test_lock_holder_preemption_matches_closed_forms(r):
    """One task on one pCPU shared with r - 1 always-busy background vCPUs, fixed
    quantum q, critical section c << q, exponential loop overhead (so quantum ends fall
    at random phases). Closed forms (queueing.lhp_probability / lhp_delay_moments):
    P_LHP = c/q per acquisition and E[D] = c (r - 1). The LHP count is (nearly)
    binomial: the check is that c/q lies in the 99.9 % Clopper-Pearson interval of the
    observed rate, and that every preemption of the holder costs exactly (r - 1) q
    (so E[D] follows, within the same interval times (r - 1) q). The holder also holds
    the lock during the unlock store (a few ns against c = 20 us, a 1e-3 relative
    shift, far inside the interval)."""
    c, q, K = 20_000.0, 200_000.0, 6000
    wl = Workload(cs_ns=c, loop_ns=30_000.0, loop_dist="exp")
    res = simulate("ticket", 1, K, reps=1, seed=11, workload=wl,
                   schedule=Schedule(pcpus=1, overcommit=r, quantum_ns=q))
    s = res.summary.iloc[0]
    n_lhp = int(s["lhp"])
    ci = stats.binomtest(n_lhp, K).proportion_ci(confidence_level=0.999)
    p = queueing.lhp_probability(c, q)
    assert ci.low <= p <= ci.high, (n_lhp, K, p)
    assert s["holder_off_ns"] == pytest.approx(n_lhp * (r - 1.0) * q, rel=1e-6)
    ed, _ = queueing.lhp_delay_moments(c, q, r)
    assert ci.low * (r - 1) * q <= ed <= ci.high * (r - 1) * q


WL_FAST = Workload(cs_ns=5.0, loop_ns=20.0, loop_dist="exp")


def _round_robin_queues(S, LP):
    """The round-robin run queues of a run's final state ``S``: one list of entity ids
    per queue, oldest first, read from ``H`` as the kernel lays it out."""
    from pvqmodel.engine import fair
    from pvqmodel.engine import state as st
    H = S["H"]
    nq = int(LP[st.LP_NPCPU]) if LP[st.LP_PINNED] else 1
    cap, qb = int(H[fair.HV_RRCAP]), int(H[fair.HV_RRQ])
    queues = []
    for q in range(nq):
        head, ln = int(H[qb + 2 * q]), int(H[qb + 2 * q + 1])
        assert 0 <= ln < cap, (q, ln, cap)  # a full ring would overwrite its head
        ring = qb + 2 * nq + q * cap
        queues.append([int(H[ring + (head + k) % cap]) for k in range(ln)])
    return queues


@pytest.mark.parametrize("vms, sched", [
    ([("ticket", 7)], Schedule(overcommit=2, quantum_ns=2e4, ple_window_ns=2e3)),
    ([("pv-qspinlock", 9)], Schedule(pcpus=4, quantum_ns=2e4, quantum_dist="exp")),
    ([("pv-ticket", 5), ("pv-qspinlock-v10", 4), (None, 3)],
     Schedule(pcpus=3, quantum_ns=1.5e4, ple_window_ns=2e3)),
    ([("pv-qspinlock", 6), (None, 6)],
     Schedule(pcpus=4, quantum_ns=2e4, placement="free", ple_window_ns=2e3)),
])
@pytest.mark.parametrize("events", [3_000, 40_000])
def test_round_robin_queues_hold_each_waiting_entity_once(vms, sched, events):
    """Mid-run (the event budget stops it anywhere), every entity is in exactly one
    place: running on one pCPU, or waiting once in a run queue (pinned: its home pCPU's,
    entity e on e mod pCPUs among the vCPUs, background b on b mod pCPUs), or neither
    (a halted or finished vCPU). Each ring is sized for the entities that can wait in
    it (``rr_ring_slots``), not for all of them; this checks no ring ever fills."""
    from pvqmodel.engine import fair
    from pvqmodel.engine import state as st
    from pvqmodel.sim import VMSpec, build_run, run_state
    specs = [VMSpec(lock, n, 10**6, WL_FAST if lock else None) for lock, n in vms]
    run = build_run(specs, Hardware(), sched, 1e9)
    S = run_state(run, np.random.Generator(np.random.PCG64(5)), events, 0, "auto")
    assert S["status"] == st.ST_MAX_EVENTS
    LP, I, H = run["LP"][0], S["I"], S["H"]
    n, npc = I.shape[0], int(LP[st.LP_NPCPU])
    nent = int(H[fair.HV_NENT])
    running = [int(H[fair.HV_CUR + p]) for p in range(npc) if H[fair.HV_CUR + p] >= 0]
    queues = _round_robin_queues(S, LP)
    waiting = [e for q in queues for e in q]
    assert len(set(running + waiting)) == len(running) + len(waiting)
    if LP[st.LP_PINNED]:
        for q, members in enumerate(queues):
            assert all((e if e < n else e - n) % npc == q for e in members)
    for e in range(nent):
        if e >= n:  # a CPU-bound entity is always runnable
            assert e in running or e in waiting
        elif I[e, st.VSTATE] == st.VS_READY:
            assert e in waiting
        elif I[e, st.VSTATE] == st.VS_RUNNING:
            assert e in running
        else:
            assert e not in running and e not in waiting
