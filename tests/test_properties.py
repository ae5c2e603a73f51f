"""Property-based tests (hypothesis) of every parameter object, ``simulate`` and
``hunt``: any valid input constructs (normalized to Python types) or runs and returns
a reported status; any input with one invalid argument raises a ``ValueError`` naming
that argument before any kernel runs.

Each test has a fixed example budget with ``derandomize=True`` (the same examples on
every run, so CI is deterministic) and no deadline (a shared 2-core machine); the
whole file takes ~20-40 s.
"""

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pvqmodel
import pvqmodel.sim as sim
from pvqmodel import Hardware, LockTunables, Schedule, Workload, simulate
from pvqmodel.params import _HW_RANGES

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
RUNS = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ strategies

def real(lo, hi):
    """A valid number in [lo, hi] as a Python float, int-valued float, numpy float64
    or float32 (when float32 rounding keeps it in range)."""
    def variants(v):
        out = [v, np.float64(v)]
        if lo <= float(np.float32(v)) <= hi:
            out.append(np.float32(v))
        return st.sampled_from(out)
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).flatmap(variants)


def integer(lo, hi):
    return st.integers(lo, hi).flatmap(lambda v: st.sampled_from([v, np.int64(v),
                                                                  np.int32(v)]
                                                                 if abs(v) < 2**31 else
                                                                 [v, np.int64(v)]))


def bad_real(lo, hi):
    """Not a number in [lo, hi]: out of range, NaN, infinite, bool, text, None."""
    outside = []
    if lo > -1e300:
        outside.append(st.floats(max_value=lo, exclude_max=True, allow_nan=False,
                                 allow_infinity=False))
    if hi < 1e300:
        outside.append(st.floats(min_value=hi, exclude_min=True, allow_nan=False,
                                 allow_infinity=False))
    return st.one_of(*outside, st.just(float("nan")), st.just(np.float32("nan")),
                     st.just(float("inf")), st.booleans(), st.just(np.bool_(True)),
                     st.text(max_size=3), st.none())


def bad_int(lo, hi):
    """Not an integer in [lo, hi]: out of range, a float (even an integral one), bool,
    text, None."""
    return st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1),
                     st.floats(allow_nan=True), st.booleans(), st.text(max_size=3), st.none())


def bad_choice(choices):
    return st.one_of(st.text(max_size=6).filter(lambda s: s not in choices), st.integers(),
                     st.none(), st.booleans())


def bad_bool():
    return st.one_of(st.integers(0, 1), st.floats(), st.text(max_size=3), st.none())


#: field -> (valid strategy, invalid strategy) of each parameter object
HW_FIELDS = {name: (real(lo, hi), bad_real(lo, hi)) for name, (lo, hi) in _HW_RANGES.items()}
HW_FIELDS.update(cores_per_socket=(integer(1, 4096), bad_int(1, 4096)),
                 sockets=(integer(1, 64), bad_int(1, 64)),
                 memory_model=(st.sampled_from(["tso", "sc"]), bad_choice(("tso", "sc"))))
WL_FIELDS = {"cs_ns": (real(0.0, 1e9), bad_real(0.0, 1e9)),
             "loop_ns": (real(0.0, 1e9), bad_real(0.0, 1e9)),
             "cs_dist": (st.sampled_from(["det", "exp"]), bad_choice(("det", "exp"))),
             "loop_dist": (st.sampled_from(["det", "exp"]), bad_choice(("det", "exp"))),
             "placement": (st.sampled_from(["scatter", "compact"]),
                           bad_choice(("scatter", "compact")))}
SC_FIELDS = {"pcpus": (st.none() | integer(1, 256), bad_int(1, 256).filter(
                 lambda v: v is not None)),
             "overcommit": (real(1.0, 64.0), bad_real(1.0, 64.0)),
             "quantum_ns": (real(1.0, 1e10), bad_real(1.0, 1e10)),
             "quantum_dist": (st.sampled_from(["det", "exp"]), bad_choice(("det", "exp"))),
             "placement": (st.sampled_from(["pinned", "free"]), bad_choice(("pinned", "free"))),
             "halt_ns": (real(0.0, 1e9), bad_real(0.0, 1e9)),
             "kick_ns": (real(0.0, 1e9), bad_real(0.0, 1e9)),
             "wake_ns": (real(0.0, 1e10), bad_real(0.0, 1e10)),
             "wake_dist": (st.sampled_from(["det", "exp"]), bad_choice(("det", "exp"))),
             "spurious_ns": (real(0.0, 1e12), bad_real(0.0, 1e12)),
             "latch": (st.booleans(), bad_bool()),
             "ple_window_ns": (st.none() | real(1.0, 1e9), bad_real(1.0, 1e9).filter(
                 lambda v: v is not None)),
             "ple_exit_ns": (real(0.0, 1e8), bad_real(0.0, 1e8)),
             "ple_grow": (integer(1, 64), bad_int(1, 64)),
             "ple_gap_ns": (real(0.0, 1e4), bad_real(0.0, 1e4)),
             "wakeup_preempt": (st.booleans(), bad_bool())}
TUN_FIELDS = {"pending_retry": (integer(0, 1000), bad_int(0, 1000)),
              "qspin_threshold": (integer(2, 2**30), bad_int(2, 2**30)),
              "head_mult": (integer(1, 64), bad_int(1, 64)),
              "pspin_threshold": (integer(1, 2**30), bad_int(1, 2**30)),
              "spin_threshold": (integer(1, 2**31), bad_int(1, 2**31)),
              "pending_loops": (integer(0, 2**30), bad_int(0, 2**30))}


@st.composite
def hardware_kw(draw):
    kw = {k: draw(v) for k, (v, _) in HW_FIELDS.items()}
    if kw["memory_model"] == "sc":
        kw["drain_ns"] = 0.0
    if float(kw["hit_ns"]) + float(kw["pause_ns"]) <= 0.0:
        kw["pause_ns"] = 1.0
    return kw


@st.composite
def workload_kw(draw):
    return {k: draw(v) for k, (v, _) in WL_FIELDS.items()}


@st.composite
def schedule_kw(draw):
    kw = {k: draw(v) for k, (v, _) in SC_FIELDS.items()}
    lo = 1.0 if kw["ple_window_ns"] is None else float(kw["ple_window_ns"])
    kw["ple_window_max_ns"] = draw(real(lo, 1e10))
    return kw


@st.composite
def tunables_kw(draw):
    kw = {k: draw(v) for k, (v, _) in TUN_FIELDS.items()}
    k_min = draw(st.integers(0, 20))
    k_max = draw(st.integers(k_min, 20))
    kw["lsteal_min_mask"], kw["lsteal_max_mask"] = 2**k_min - 1, 2**k_max - 1
    kw["mayhalt_gap"] = draw(integer(1, int(kw["qspin_threshold"]) - 1))
    return kw


OBJECTS = {"Hardware": (Hardware, hardware_kw(), HW_FIELDS),
           "Workload": (Workload, workload_kw(), WL_FIELDS),
           "Schedule": (Schedule, schedule_kw(), SC_FIELDS),
           "LockTunables": (LockTunables, tunables_kw(), TUN_FIELDS)}


def _python_type(v):
    return type(v) in (int, float, str, bool, type(None))


# ---------------------------------------------------------- parameter objects

@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_valid_parameters_construct_normalized(name):
    cls, strat, _ = OBJECTS[name]

    @FAST
    @given(kw=strat)
    def check(kw):
        obj = cls(**kw)
        for k, v in kw.items():
            got = getattr(obj, k)
            assert _python_type(got), (k, type(got))
            assert got == v or (v is not None and float(got) == float(v)), (k, got, v)
        assert cls(**obj.__dict__) == obj  # the normalized values validate again

    check()


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_one_invalid_field_raises_naming_it(name):
    cls, strat, fields = OBJECTS[name]

    @FAST
    @given(kw=strat, data=st.data())
    def check(kw, data):
        field = data.draw(st.sampled_from(sorted(fields)), label="field")
        bad = data.draw(fields[field][1], label="value")
        with pytest.raises(ValueError, match=field):
            cls(**{**kw, field: bad})

    check()


# ---------------------------------------------------------------- simulate

SMALL_LOCKS = sorted(sim.LOCKS)


@st.composite
def simulate_kw(draw):
    """A small valid run: up to 4 tasks, 30 ops, 2 replications, short time constants
    (the runs stay fast), dedicated or a small overcommitted schedule."""
    kw = dict(lock=draw(st.sampled_from(SMALL_LOCKS + ["queue"])),
              tasks=draw(integer(1, 4)), ops_per_task=draw(integer(1, 30)),
              reps=draw(integer(1, 2)), seed=draw(integer(0, 2**63 - 1)),
              workload=Workload(cs_ns=draw(real(0.0, 500.0)), loop_ns=draw(real(0.0, 500.0)),
                                cs_dist=draw(st.sampled_from(["det", "exp"]))),
              tunables=LockTunables(qspin_threshold=draw(st.sampled_from([64, 1 << 14])),
                                    pspin_threshold=64, spin_threshold=128))
    if draw(st.booleans()):
        kw["schedule"] = Schedule(overcommit=draw(real(1.0, 2.0)),
                                  quantum_ns=draw(real(1e3, 1e5)), quantum_dist="exp",
                                  halt_ns=200.0, kick_ns=500.0, wake_ns=draw(real(0.0, 5e3)),
                                  latch=draw(st.booleans()),
                                  ple_window_ns=draw(st.none() | real(500.0, 5e3)),
                                  wakeup_preempt=draw(st.booleans()))
    if draw(st.booleans()):
        kw["hardware"] = sim.default_hardware().with_memory_model(
            "tso", draw(real(0.0, 200.0)))
    return kw


@RUNS
@given(kw=simulate_kw())
def test_valid_simulate_runs_and_reports_a_status(kw):
    res = simulate(check=False, **kw)
    s = res.summary
    assert len(s) == int(kw["reps"])
    assert set(s["status"]) <= set(sim.STATUS_TEXT.values())
    ok = s["status_code"] == sim.st.ST_OK
    assert (s.loc[ok, "ops"] == int(kw["tasks"]) * int(kw["ops_per_task"])).all()
    assert set(res.failures) == set(np.flatnonzero(~ok.to_numpy()))


SIM_BAD = {
    "lock": bad_choice(tuple(SMALL_LOCKS) + ("queue",)),
    "tasks": bad_int(1, 256), "ops_per_task": bad_int(1, 10**8), "reps": bad_int(1, 10_000),
    "seed": bad_int(0, 2**63 - 1), "workers": bad_int(1, 256), "trace": bad_int(0, 10**6),
    "timer": bad_choice(("auto", "dense", "calendar")), "check": bad_bool(),
    "watchdog_ns": bad_real(1e-3, 1e18).filter(lambda v: v is not None),
    "max_events": bad_int(1, 2**62).filter(lambda v: v is not None),
    "hardware": st.one_of(st.integers(), st.text(max_size=3), st.just(Workload())),
    "workload": st.one_of(st.integers(), st.text(max_size=3), st.just(Hardware())),
    "schedule": st.one_of(st.integers(), st.text(max_size=3), st.just(Workload())),
    "tunables": st.one_of(st.integers(), st.text(max_size=3), st.just({"head_mult": 2})),
}


@FAST
@given(kw=simulate_kw(), data=st.data())
def test_one_invalid_simulate_argument_raises_before_any_kernel(kw, data):
    name = data.draw(st.sampled_from(sorted(SIM_BAD)), label="argument")
    kw = {**kw, name: data.draw(SIM_BAD[name], label="value")}
    with mock.patch.object(sim, "run_one", side_effect=AssertionError("kernel ran")):
        with pytest.raises(ValueError, match=name):
            simulate(**kw)


# --------------------------------------------------------------------- hunt

@st.composite
def hunt_kw(draw):
    return dict(lock=draw(st.sampled_from(list(sim.PV_LOCKS))),
                memory_model=draw(st.sampled_from(["sc", "tso"])), budget=draw(integer(1, 2)),
                seed=draw(integer(0, 2**63 - 1)), latch=draw(st.none() | st.booleans()),
                drain_ns=draw(real(0.0, 300.0)), quantum_ns=draw(real(500.0, 1e4)),
                tasks=draw(integer(2, 3)), ops_per_task=draw(integer(1, 40)))


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(kw=hunt_kw())
def test_valid_hunt_reports_every_schedule(kw):
    r = pvqmodel.hunt(**kw)
    assert r.schedules_explored == r.clean + r.losses + r.inconclusive == int(kw["budget"])
    assert r.found == (r.losses > 0) and 0.0 <= r.p_ci[0] <= r.p_per_acquisition <= r.p_ci[1]
    assert str(r)


HUNT_BAD = {
    "lock": bad_choice(tuple(sim.PV_LOCKS)), "memory_model": bad_choice(("sc", "tso")),
    "budget": bad_int(1, 10**7), "seed": bad_int(0, 2**63 - 1),
    "latch": bad_bool().filter(lambda v: v is not None),
    "drain_ns": bad_real(0.0, 1e7), "quantum_ns": bad_real(1.0, 1e10),
    "tasks": bad_int(1, 256).filter(lambda v: v is not None),
    "ops_per_task": bad_int(1, 10**8).filter(lambda v: v is not None),
    "stop_at_first": bad_bool(), "trace": bad_int(0, 10**6),
    "schedule": st.one_of(st.integers(), st.text(max_size=3)),
    "tunables": st.one_of(st.integers(), st.text(max_size=3)),
}


@FAST
@given(kw=hunt_kw(), data=st.data())
def test_one_invalid_hunt_argument_raises_before_any_kernel(kw, data):
    name = data.draw(st.sampled_from(sorted(HUNT_BAD)), label="argument")
    kw = {**kw, name: data.draw(HUNT_BAD[name], label="value")}
    with mock.patch.object(sim, "run_one", side_effect=AssertionError("kernel ran")):
        with pytest.raises(ValueError, match=name):
            pvqmodel.hunt(**kw)
