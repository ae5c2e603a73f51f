"""The engine against the independent SimPy model (``pvqmodel.reference``), in its two
spin models.

``spin="iterate"`` simulates every spin iteration instead of parking spinners.
Tolerance: the difference of the mean ns/op must lie within the 99.9 % confidence
interval of the difference (Welch, from the replications) plus 2.5 % of the mean. The
2.5 % is the documented residual difference of the two formulations at these sizes
(the engine draws a parked spinner's re-read phase uniformly within one iteration; the
naive loop's phase follows from its own history), measured at <= 2 % over ticket and
qspinlock, N = 2..5, deterministic and exponential workloads.

``spin="park"`` works at the engine's granularity (the bench's fair peer): the same
formulation, so no residual is allowed. Tolerance: the 99.99 % Welch confidence interval
of the difference of the means, nothing added (99.99 % rather than 99.9 % because this
file makes ~40 such comparisons: the chance that any fails by sampling alone is < 0.5 %
by Bonferroni). It checks ns/op for ticket at N = 1..8 (two workloads) and qspinlock at
N = 2, 3, 5, and for ticket also the events per operation (counted like the engine's:
equal granularity means equal event counts; qspinlock's pending-bit path at N = 2 takes
fewer engine events than the model's re-read loop, so only its ns/op is compared).
"""

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("simpy")

from pvqmodel.params import Hardware, Workload  # noqa: E402
from pvqmodel.reference import reference_simulate  # noqa: E402
from pvqmodel.sim import simulate  # noqa: E402

HW = Hardware(service_ns=20.0)
WLS = {
    "det-compact": Workload(placement="compact"),
    "exp-scatter": Workload(cs_ns=20.0, loop_ns=30.0, cs_dist="exp", loop_dist="exp",
                            placement="scatter"),
}


@pytest.mark.parametrize("wl", list(WLS))
@pytest.mark.parametrize("lock", ["ticket", "qspinlock"])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_engine_matches_simpy_reference(lock, n, wl):
    reps, K = 8, 250
    a = reference_simulate(lock, n, K, hardware=HW, workload=WLS[wl], reps=reps,
                           seed=100 + n)
    assert (a["violations"] == 0).all()
    b = simulate(lock, n, K, hardware=HW, workload=WLS[wl], reps=reps, seed=200 + n).summary
    x, y = a["ns_per_op"].to_numpy(), b["ns_per_op"].to_numpy()
    se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(reps)
    tol = stats.t.ppf(0.9995, 2 * reps - 2) * se + 0.025 * x.mean()
    assert abs(x.mean() - y.mean()) <= tol, (x.mean(), y.mean(), tol)


def _welch_tol(x, y, level):
    reps = len(x)
    se = np.hypot(x.std(ddof=1), y.std(ddof=1)) / np.sqrt(reps)
    return stats.t.ppf(1 - (1 - level) / 2, 2 * reps - 2) * se


PARK_WLS = {"seed": Workload.seed_benchmark(), "exp-scatter": WLS["exp-scatter"]}
PARK_CASES = ([("ticket", n, w) for w in PARK_WLS for n in range(1, 9)]
              + [("qspinlock", n, "seed") for n in (2, 3, 5)])


@pytest.mark.parametrize("lock,n,wl", PARK_CASES)
def test_engine_matches_parked_simpy_model(lock, n, wl):
    reps, K = 8, 250
    hw = Hardware.preset() if wl == "seed" else HW
    a = reference_simulate(lock, n, K, hardware=hw, workload=PARK_WLS[wl], reps=reps,
                           seed=300 + n, spin="park")
    assert (a["violations"] == 0).all()
    b = simulate(lock, n, K, hardware=hw, workload=PARK_WLS[wl], reps=reps,
                 seed=400 + n).summary
    x, y = a["ns_per_op"].to_numpy(), b["ns_per_op"].to_numpy()
    tol = _welch_tol(x, y, 0.9999)
    assert abs(x.mean() - y.mean()) <= tol, ("ns/op", x.mean(), y.mean(), tol)
    if lock == "ticket":
        x = (a["events"] / a["ops"]).to_numpy()
        y = (b["events"] / b["ops"]).to_numpy()
        tol = _welch_tol(x, y, 0.9999)
        assert abs(x.mean() - y.mean()) <= tol, ("events/op", x.mean(), y.mean(), tol)


#: The coherence mechanisms of issue 16 switched on (three latency classes, serialised
#: Shared reads, snoop timing, latency jitter, the locked op's gap after a drain; the
#: locked RMW's time in the home's occupancy or not; a three-entry store buffer), at
#: values inside the ranges of coherence-mechanisms.md. Both models implement them from
#: the documented cost model, so the parked comparison again allows no residual.
#: (With overlap near 0 the home's occupancy outlasts a holder's whole critical section
#: and unlock, and the ticket lock runs uncontended at the home's rate; overlap 0.3 keeps
#: these cells contended, so that every mechanism is exercised.)
HW16_BASE = dict(xfer_same_ns=48.0, shared_ns=25.0, overlap=0.3, service_ns=1.0)
HW16 = Hardware.preset().replace(latency_classes=3, upgrade_ns=62.0, read_serial_ns=20.0,
                                 snoop_frac=0.25, jitter=0.05, locked_gap_ns=6.0, **HW16_BASE)
MECH_CASES = [("ticket", n) for n in (2, 3, 5, 8)] + [("qspinlock", n) for n in (2, 3, 5)]


@pytest.mark.parametrize("rmw_holds_home,store_buffer", [(True, 1), (False, 1), (True, 3)])
@pytest.mark.parametrize("lock,n", MECH_CASES)
def test_engine_matches_parked_simpy_model_with_the_coherence_mechanisms(lock, n,
                                                                         rmw_holds_home,
                                                                         store_buffer):
    reps, K = 8, 250
    wl = PARK_WLS["seed"]
    hw = HW16.replace(rmw_holds_home=rmw_holds_home, store_buffer=store_buffer)
    a = reference_simulate(lock, n, K, hardware=hw, workload=wl, reps=reps,
                           seed=500 + n, spin="park")
    assert (a["violations"] == 0).all()
    b = simulate(lock, n, K, hardware=hw, workload=wl, reps=reps, seed=600 + n).summary
    x, y = a["ns_per_op"].to_numpy(), b["ns_per_op"].to_numpy()
    tol = _welch_tol(x, y, 0.9999)
    assert abs(x.mean() - y.mean()) <= tol, ("ns/op", x.mean(), y.mean(), tol)
    # the mechanisms matter here: the same cells without them differ beyond the tolerance
    c = simulate(lock, n, K, hardware=Hardware.preset().replace(**HW16_BASE), workload=wl,
                 reps=reps, seed=600 + n).summary["ns_per_op"].to_numpy()
    if n >= 3:
        assert abs(c.mean() - y.mean()) > _welch_tol(c, y, 0.9999), (c.mean(), y.mean())
