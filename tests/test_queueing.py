"""Invariants and oracles of the analytical models (pvqmodel.queueing)."""

import numpy as np
import pytest
from scipy import stats

from pvqmodel import queueing as q


@pytest.mark.parametrize("n,s,z", [(1, 1.0, 1.0), (8, 1.0, 1.0), (5, 140.0, 10.0),
                                   (12, 2.0, 30.0), (64, 1.0, 100.0)])
def test_mva_equals_repairman_closed_form(n, s, z):
    m = q.mva(n, s, z)
    for k in range(1, n + 1):
        r = q.repairman(k, s, z)
        assert m.throughput[k - 1] == pytest.approx(r.throughput, rel=1e-10)
        assert m.queue[k - 1] == pytest.approx(r.mean_queue, rel=1e-9, abs=1e-12)
        assert m.response[k - 1] == pytest.approx(r.response, rel=1e-9)


def test_repairman_matches_textbook_formula():
    n, s, z = 4, 2.0, 3.0
    rho = s / z
    w = np.array([np.prod(np.arange(n, n - k, -1)) * rho**k for k in range(n + 1)])
    p = w / w.sum()
    r = q.repairman(n, s, z)
    np.testing.assert_allclose(r.probabilities, p)
    assert r.throughput == pytest.approx((1 - p[0]) / s)


@pytest.mark.parametrize("n,s,c,z", [(1, 75.0, 30.0, 5.0), (8, 75.0, 30.0, 0.6),
                                     (48, 400.0, 100.0, 3000.0), (200, 10.0, 2.0, 50.0)])
def test_bw_chain_probabilities_are_a_distribution(n, s, c, z):
    r = q.bw_chain(n, s, c, z)
    assert r.probabilities.shape == (n + 1,)
    assert np.all(r.probabilities >= 0)
    assert r.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    # Detailed balance P_k a_k = P_{k+1} mu_{k+1}.
    k = np.arange(n)
    lhs = r.probabilities[:-1] * (n - k) / z
    rhs = r.probabilities[1:] / (s + c * (k + 1) / 2)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-300)


def test_bw_chain_reduces_to_repairman_when_c_is_zero():
    for n in (1, 3, 8, 30):
        a, b = q.bw_chain(n, 140.0, 0.0, 20.0), q.repairman(n, 140.0, 20.0)
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-12)
        assert a.throughput == pytest.approx(b.throughput)


def test_bw_chain_saturated_limit_is_linear_handoff():
    # think = 0: the chain sits at k = n, one op per s + c n / 2.
    for n in (2, 5, 8):
        assert q.bw_chain(n, 75.0, 30.0, 0.0).time_per_op == pytest.approx(75.0 + 15.0 * n)


def test_bw_ticket_collapse_throughput_falls_past_a_knee():
    # BW's qualitative result: with a short serial section throughput peaks, then collapses.
    x = [q.bw_chain(n, 400.0, 200.0, 20000.0).throughput for n in range(1, 80)]
    peak = int(np.argmax(x))
    assert 0 < peak < 78
    assert x[-1] < 0.8 * x[peak]


@pytest.mark.parametrize("s,z", [(1.0, 0.0), (1.0, 1.0), (140.0, 5.0), (3.0, 300.0)])
def test_throughput_never_exceeds_operational_bounds(s, z):
    n = np.arange(1, 41)
    b = q.operational_bounds(n, s, z)
    m = q.mva(40, s, z)
    assert np.all(m.throughput <= b.throughput_upper * (1 + 1e-12))
    assert np.all(m.response >= b.response_lower * (1 - 1e-12))
    for c in (0.0, 0.5 * s):
        # The BW lock serves no faster than its fastest state, 1/(s + c/2).
        x = np.array([q.bw_chain(k, s, c, z).throughput for k in n])
        ub = q.operational_bounds(n, s + c / 2, z).throughput_upper
        assert np.all(x <= ub * (1 + 1e-12))
    assert b.knee == pytest.approx((z + s) / s)


def test_saturated_and_constant_handoff():
    n = np.arange(1, 9)
    np.testing.assert_allclose(q.constant_handoff_time(n, 5e6, 141.0), n * 5e6 * 141.0)
    np.testing.assert_allclose(q.saturated_time(n, 10, lambda x: 70 + 15 * x),
                               n * 10 * (70 + 15 * n))


def test_lhp_formulas():
    assert q.lhp_probability(1.0, 4.0) == 0.25
    ed, ed2 = q.lhp_delay_moments(1e3, 3e6, 2.0)
    assert ed == pytest.approx(1e3 * 1.0)  # c (r - 1), independent of q
    assert ed2 == pytest.approx(1e3 * 3e6 * 1.0)
    assert q.lhp_delay_moments(1e3, 6e6, 2.0)[0] == pytest.approx(ed)
    # models.md example: c = 1 us, q = 3 ms, r = 2, lambda = 1e5/s -> W ~ 190 us.
    w = q.lhp_pk_wait(1e5, 1e-6, 3e-3, 2.0)
    assert 185e-6 < w < 195e-6
    assert q.ticket_lwp_handoff(1e-7, 3e-3, 2.0) == pytest.approx(1e-7 + 0.75e-3)


def test_lhp_matches_direct_monte_carlo():
    # D = (r-1) q with probability c/q: sample it and compare moments within 4 sigma.
    rng = np.random.default_rng(1)
    c, quantum, r, n = 50.0, 1000.0, 3.0, 200_000
    start = rng.uniform(0, quantum, n)
    d = np.where(start + c > quantum, (r - 1) * quantum, 0.0)
    ed, ed2 = q.lhp_delay_moments(c, quantum, r)
    assert abs(d.mean() - ed) < 4 * d.std() / np.sqrt(n)
    assert abs((d**2).mean() - ed2) < 4 * (d**2).std() / np.sqrt(n)


def test_spin_then_halt_cost():
    w = stats.expon(scale=100.0)
    cost, extra, p = q.spin_then_halt_cost(w, 300.0, 50.0, 20.0)
    # E[min(W,T)] = m (1 - e^{-T/m}) for exponential W.
    assert p == pytest.approx(np.exp(-3))
    assert cost == pytest.approx(100 * (1 - np.exp(-3)) + np.exp(-3) * 70, rel=1e-7)
    assert extra == pytest.approx(np.exp(-3) * 20)
    c, _, p = q.spin_then_halt_cost(w, [0.0, 1e9], 50.0, 20.0)
    assert c[0] == pytest.approx(70.0) and p[1] == pytest.approx(0.0)
    assert c[1] == pytest.approx(100.0, rel=1e-6)
    assert q.karlin_threshold(50.0, 20.0) == 70.0


@pytest.mark.parametrize("call,name", [
    (lambda: q.mva(0, 1.0, 1.0), "n"),
    (lambda: q.mva(2.5, 1.0, 1.0), "n"),
    (lambda: q.repairman(3, -1.0, 1.0), "service"),
    (lambda: q.repairman(3, 1.0, -2.0), "think"),
    (lambda: q.bw_chain(3, 1.0, -1.0, 1.0), "per_waiter"),
    (lambda: q.bw_chain(-1, 1.0, 1.0, 1.0), "n"),
    (lambda: q.operational_bounds([1, 0], 1.0, 1.0), "n"),
    (lambda: q.lhp_probability(5.0, 1.0), "critical"),
    (lambda: q.lhp_delay_moments(1.0, 10.0, 0.5), "overcommit"),
    (lambda: q.lhp_pk_wait(1e6, 1e-6, 1e-3, 2.0), "rho"),
    (lambda: q.spin_then_halt_cost(stats.expon(), -1.0, 1.0, 1.0), "threshold"),
    (lambda: q.spin_then_halt_cost(3.0, 1.0, 1.0, 1.0), "wait"),
    (lambda: q.constant_handoff_time(4, 5e6, 0.0), "handoff"),
])
def test_bad_inputs_raise_named_value_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_mva_locks_is_mva_for_one_lock_and_splits_the_demand():
    """One lock is the one-server MVA; M equally used locks with n = 1 give the same
    cycle time (a lone vCPU never waits), and with many vCPUs the throughput tends to
    the busiest lock's capacity 1 / (p_max S)."""
    from pvqmodel.queueing import mva, mva_locks

    one, ref = mva_locks(5, 100.0, 250.0, [1.0]), mva(5, 100.0, 250.0)
    assert np.allclose(one.throughput, ref.throughput) and np.allclose(one.queue, ref.queue)
    four = mva_locks(1, 100.0, 250.0, [0.25] * 4)
    assert four.throughput[0] == pytest.approx(1 / 350.0)
    many = mva_locks(400, 100.0, 0.0, [0.5, 0.3, 0.2])
    assert many.throughput[-1] == pytest.approx(1 / 50.0, rel=1e-3)
    for bad in ([], [0.5, 0.6], [-0.1, 1.1], [[1.0]], [np.nan, 1.0]):
        with pytest.raises(ValueError, match="probs"):
            mva_locks(3, 100.0, 250.0, bad)
