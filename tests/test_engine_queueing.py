"""With coherence costs zero and exponential hold/think times the lock is one FCFS
(or, for non-FIFO locks, work-conserving) exponential server with N finite sources:
the machine-repairman model. The engine's throughput must match exact MVA /
``repairman`` within the replications' 99 % confidence interval (Student t) widened by
the start/end transient (each replication starts with all tasks thinking and ends
when the last task finishes; bias <= a few service times over K*N operations)."""

import numpy as np
import pytest
from scipy import stats

from pvqmodel.params import Hardware, Workload
from pvqmodel.queueing import mva, repairman
from pvqmodel.sim import simulate

S = 100.0  # mean critical section (ns)
Z = 250.0  # mean think time (ns)


@pytest.mark.parametrize("lock", ["ticket", "qspinlock", "tas"])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_zero_cost_engine_matches_repairman(lock, n):
    K, reps = 1500, 8
    wl = Workload(cs_ns=S, loop_ns=Z, cs_dist="exp", loop_dist="exp")
    res = simulate(lock, n, K, hardware=Hardware.zero_cost(), workload=wl, reps=reps, seed=n)
    x = 1.0 / res.summary["ns_per_op"].to_numpy()  # lock acquisitions per ns
    exact_mva = mva(n, S, Z).throughput[-1]
    exact_rm = repairman(n, S, Z).throughput
    assert exact_mva == pytest.approx(exact_rm, rel=1e-9)
    half = stats.t.ppf(0.995, reps - 1) * x.std(ddof=1) / np.sqrt(reps)
    transient = x.mean() * (S + Z) / (K * n) * 2  # start/end effects
    assert abs(x.mean() - exact_mva) <= half + transient, (x.mean(), exact_mva, half)


def test_zero_cost_deterministic_saturation():
    """Deterministic hold, zero think, zero costs: exactly one CS per op."""
    wl = Workload(cs_ns=50.0, loop_ns=0.0)
    s = simulate("ticket", 4, 500, hardware=Hardware.zero_cost(), workload=wl, reps=1)
    assert s.summary.iloc[0].ns_per_op == pytest.approx(50.0, rel=2e-3)
