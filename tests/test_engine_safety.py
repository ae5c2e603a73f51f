"""Engine safety: memory (bounds, budget), deterministic failure traces, chunked runs that
are bit-identical to unchunked ones, Ctrl-C, and the compile message.

The bounds check runs the engine in a subprocess compiled with ``NUMBA_BOUNDSCHECK=1``
in its own numba cache directory (under pytest's cache, keyed by the engine's source
hash, so it compiles once per source change): any out-of-bounds access in a kernel
raises ``IndexError`` there.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from pvqmodel import Hardware, LockTunables, Schedule, Workload, simulate
from pvqmodel import sim as simmod
from pvqmodel.engine import source_hash
from pvqmodel.engine import state as st

HW = Hardware()
WL = Workload(cs_ns=5.0, loop_ns=20.0, loop_dist="exp")
TSO = HW.replace(memory_model="tso", drain_ns=50.0)
SCHED = Schedule(overcommit=2, quantum_ns=2000.0)
TUN = LockTunables(spin_threshold=16, qspin_threshold=64, mayhalt_gap=8)  # halts often


def _same(a, b):
    """Every output of two SimResults identical (bit for bit for the numbers)."""
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)
    pd.testing.assert_frame_equal(a.handoff, b.handoff, check_exact=True)
    pd.testing.assert_frame_equal(a.waits, b.waits, check_exact=True)
    assert a.failures.keys() == b.failures.keys()
    for r in a.failures:
        pd.testing.assert_frame_equal(a.failures[r], b.failures[r], check_exact=True)


# ---- trace: what fired, read from that kind's own arrays ------------------------------

def test_trace_records_every_slot_kind_with_its_own_index():
    n = 4
    r = simulate("pv-qspinlock-v10", n, 200, hardware=TSO, workload=WL, schedule=SCHED,
                 reps=1, seed=3, max_events=20_000, trace=20_000, check=False)
    tr = r.failures[0]  # the event budget stops it: the whole run is in the trace
    assert len(tr) == 20_000 and (np.diff(tr["event"]) == 1).all()
    assert set(tr["kind"].astype(str)) == {"vcpu", "line", "quantum", "drain"}
    n_lines = 1 + n  # the lock line, one line per CPU (its queue node)
    npcpu = SCHED.layout(n)[0]
    for kind, hi in (("vcpu", n), ("line", n_lines), ("quantum", npcpu), ("drain", n)):
        rows = tr[tr["kind"] == kind]
        assert rows["index"].between(0, hi - 1).all(), kind
        if kind != "vcpu":
            assert (rows["who"] == -(rows["index"] + 1)).all()
    lines = tr[tr["kind"] == "line"]
    # the request in service: a vCPU's (v), a buffered store's (n + v), or none (-1)
    assert lines["pc"].between(-1, 2 * n - 1).all() and (lines["pc"] >= n).any()
    q = tr[tr["kind"] == "quantum"]
    assert q["pc"].between(-1, n + SCHED.layout(n)[1] - 1).all()  # an entity or idle


@pytest.mark.parametrize("case", ["scheduled", "tso-drain"])
def test_failure_trace_is_deterministic(case):
    """Same seed, same failure trace, byte for byte (the run is stopped by its event
    budget, a failed check, at the same event each time)."""
    kw = dict(schedule=Schedule(overcommit=2, quantum_ns=1000.0, ple_window_ns=1707.0))
    if case == "tso-drain":
        kw = dict(hardware=TSO, schedule=SCHED)
    runs = [simulate("pv-ticket", 4, 500, workload=WL, reps=2, seed=11, max_events=30_000,
                     trace=512, check=False, **kw) for _ in range(2)]
    assert sorted(runs[0].failures) == [0, 1]
    for r in (0, 1):
        a, b = (x.failures[r] for x in runs)
        assert len(a) == 512
        assert a.to_csv().encode() == b.to_csv().encode()
    assert not runs[0].failures[0].equals(runs[0].failures[1])  # distinct streams


# ---- chunked event loop ---------------------------------------------------------------

CHUNK_CASES = {
    "dedicated": dict(lock="qspinlock", n=5, kw=dict(hardware=HW, workload=WL)),
    "ple": dict(lock="pv-qspinlock-v10", n=6, kw=dict(workload=WL, schedule=Schedule(
        overcommit=2, quantum_ns=2e4, ple_window_ns=1707.0))),
    "free-wakeup": dict(lock="pv-ticket", n=6, kw=dict(workload=WL, schedule=Schedule(
        overcommit=2, quantum_ns=2e4, placement="free", wakeup_preempt=True))),
    "tso-drain": dict(lock="pv-qspinlock-v10-unfair", n=4,
                      kw=dict(hardware=TSO, workload=WL, schedule=SCHED)),
}


@pytest.mark.parametrize("case", sorted(CHUNK_CASES))
def test_chunk_size_changes_nothing(case):
    c = CHUNK_CASES[case]
    runs = [simulate(c["lock"], c["n"], 150, reps=2, seed=4, check=False,
                     chunk_events=ce, **c["kw"]) for ce in (2**40, None, 1000, 7, 1)]
    for other in runs[1:]:
        _same(runs[0], other)


def test_chunk_size_changes_nothing_in_a_failing_run():
    runs = [simulate("pv-ticket", 4, 500, workload=WL, hardware=TSO, schedule=SCHED, reps=1,
                     seed=2, max_events=12_345, check=False, chunk_events=ce)
            for ce in (None, 1, 100)]
    assert runs[0].summary["status_code"].iloc[0] == st.ST_MAX_EVENTS
    for other in runs[1:]:
        _same(runs[0], other)


# ---- memory budget --------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [
    dict(n=4, lock="ticket", trace=256, timer="auto"),
    dict(n=64, lock="pv-qspinlock-v10", trace=0, timer="auto", npcpu=32, nbg=0, drain=True),
    dict(n=20, lock="qspinlock", trace=1000, timer="calendar", npcpu=10, nbg=3, pinned=False),
])
def test_memory_estimate_matches_the_allocation(cfg):
    cfg = dict(cfg)
    module = simmod.LOCKS[cfg.pop("lock")][1]
    n, trace, timer = cfg.pop("n"), cfg.pop("trace"), cfg.pop("timer")
    S = simmod._alloc(n, module, trace, timer, **cfg)
    shapes = simmod._shapes(n, module, trace, timer, **cfg)
    assert sorted(S) == sorted(shapes)
    for k, a in S.items():
        assert a.shape == shapes[k][0] and a.dtype == shapes[k][1], k
    assert simmod._state_bytes(shapes) == sum(a.nbytes for a in S.values())


def test_over_budget_is_refused_before_any_kernel_runs(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a kernel ran")

    monkeypatch.setattr(simmod, "run_one", boom)
    with pytest.raises(ValueError, match=r"trace=1000000 x reps=40.*GiB.*budget"):
        simulate("ticket", 4, 100, reps=40, trace=10**6, check=False)
    with pytest.raises(ValueError, match="budget"):  # 256 threads each holding a big ring
        simulate("ticket", 4, 100, reps=256, workers=256, trace=10**6)
    need = simmod.memory_estimate(4, simmod.LOCKS["ticket"][1], 10**6, "auto", 2, 1, True)
    assert need < simmod.MEMORY_BUDGET  # one big ring at a time is fine
    monkeypatch.undo()
    r = simulate("ticket", 2, 5, hardware=HW, workload=WL, reps=2, trace=10**6)
    assert (r.summary["status_code"] == st.ST_OK).all()


# ---- counters -------------------------------------------------------------------------

def test_slow_unlock_time_never_negative_when_a_run_stops_inside_a_slowpath():
    """Stop a PV-ticket run that halts often (small spin threshold, overcommit) at many
    event counts; some stops fall inside an unlock slowpath (the raw counter shows it
    open) and the reported time must still be >= 0 (before the fix such a stop left the
    slowpath's start time subtracted)."""
    sched = Schedule(overcommit=2, quantum_ns=1e4)
    opened = 0
    for me in range(3000, 60_000, 1499):
        r = simulate("pv-ticket", 4, 300, workload=WL, schedule=sched, reps=1, seed=1,
                     max_events=me, check=False, tunables=TUN)
        row = r.summary.iloc[0]
        assert row["slow_unlock_ns"] >= 0.0, me
        if row["status_code"] == st.ST_MAX_EVENTS and row["slow_unlocks"] > 0:
            opened += _open_slowpaths(sched, me)
    assert opened > 0  # the test did stop runs inside slowpaths


def _open_slowpaths(sched, me):
    lock_id, module = simmod.LOCKS["pv-ticket"]
    n = 4
    hw = simmod.default_hardware()
    P = simmod.param_array(hw, WL, 1e8, sched, pv=True)
    LP = TUN.array()
    simmod.schedule_lp(LP, sched, n)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(1).spawn(1)[0]))
    sock = simmod.placement(n, hw, WL.placement)
    S = simmod.run_one(lock_id, module, n, 300, P, LP, sock, rng, me, 0, "auto")
    return int(S["G"][st.G_SLOW_OPEN])


def test_timer_calendar_matches_dense_under_preemption():
    """The calendar queue moves and cancels slots between buckets (preemptions postpone
    timers, spinners re-arm their budget timers): the run is the dense timer's, exactly."""
    kw = dict(hardware=Hardware(cores_per_socket=16, sockets=4), workload=WL, reps=1, seed=5,
              schedule=Schedule(overcommit=2, quantum_ns=1e3))  # preemptions: re-armed timers
    cal = simulate("pv-qspinlock-v10", 32, 40, timer="calendar", **kw).summary
    dense = simulate("pv-qspinlock-v10", 32, 40, timer="dense", **kw).summary
    pd.testing.assert_frame_equal(cal, dense, check_exact=True)


# ---- Ctrl-C ---------------------------------------------------------------------------

_SIGINT_SCRIPT = textwrap.dedent("""
    import sys, threading
    import pvqmodel
    pvqmodel.ensure_compiled()
    print("started", flush=True)
    try:
        pvqmodel.simulate("qspinlock", 8, 3_000_000, reps=2, workers=int(sys.argv[1]))
    except KeyboardInterrupt:
        print(f"interrupted threads={threading.active_count()}", flush=True)
        sys.exit(3)
    print("finished", flush=True)
""")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigint_stops_a_long_simulation_promptly(workers):
    p = subprocess.Popen([sys.executable, "-c", _SIGINT_SCRIPT, str(workers)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        time.sleep(1.5)  # inside the kernel (the full run takes minutes)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        waited = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 3, (out, err)
    # one thread left (the main one); exited well within the few seconds asked for
    # (chunks last ~0.15 s; the margin is for a loaded 2-core machine)
    assert "interrupted threads=1" in out
    assert waited < 5.0, waited


# ---- bounds check and compile message (subprocess, NUMBA_BOUNDSCHECK=1) --------------

_BOUNDS_SCRIPT = textwrap.dedent("""
    import io, numba, numpy as np
    from numba import njit
    assert numba.config.BOUNDSCHECK, "NUMBA_BOUNDSCHECK not in effect"

    @njit
    def poke(a, i):
        return a[i]

    try:
        poke(np.zeros(3), 5)
    except IndexError:
        pass
    else:
        raise SystemExit("boundscheck did not raise on a bad index")

    import pvqmodel
    from pvqmodel import Hardware, LockTunables, Schedule, Workload, simulate
    from pvqmodel.engine import kernel_cache_is_warm
    warm = kernel_cache_is_warm()
    msg = io.StringIO()
    cold = pvqmodel.ensure_compiled(stream=msg)
    assert cold == (not warm), (cold, warm)
    assert ("compiling the engine once" in msg.getvalue()) == cold, msg.getvalue()
    assert kernel_cache_is_warm()
    print("cold" if cold else "warm", flush=True)

    wl = Workload(cs_ns=5.0, loop_ns=20.0, loop_dist="exp")
    tso = Hardware().replace(memory_model="tso", drain_ns=50.0)
    ple = Schedule(overcommit=2, quantum_ns=2e3, ple_window_ns=1707.0)
    free = Schedule(overcommit=2, quantum_ns=2e3, placement="free", wakeup_preempt=True)
    # issue 16's mechanisms, with a four-entry store buffer (early RFOs, in-order commit)
    mech = Hardware().replace(latency_classes=3, read_serial_ns=20.0, snoop_frac=0.2,
                              jitter=0.05, locked_gap_ns=1.0, rmw_holds_home=False,
                              store_buffer=4)
    for lock in sorted(pvqmodel.sim.LOCKS):
        for kw in (dict(), dict(schedule=ple), dict(schedule=free),
                   dict(hardware=tso, schedule=Schedule(overcommit=2, quantum_ns=5e3)),
                   dict(hardware=mech), dict(hardware=mech, schedule=ple)):
            simulate(lock, 4, 60, workload=wl, reps=1, seed=1, trace=64, check=False,
                     **kw)
    simulate("ticket", 2, 20, schedule=Schedule(overcommit=2, quantum_ns=1000.0), reps=1)
    big = Hardware(cores_per_socket=16, sockets=4)
    simulate("qspinlock", 64, 5, hardware=big, workload=wl, reps=1, trace=64)
    simulate("pv-qspinlock-v10", 64, 5, hardware=big.replace(memory_model="tso",
             drain_ns=50.0), workload=wl, schedule=Schedule(overcommit=2, quantum_ns=1e4),
             reps=1, trace=64, check=False)
    # the host model: both fair schedulers, PLE, halt polling, sleeping and lognormal
    # think times, pinned and free VMs, a CPU-bound co-tenant, kick yield
    from pvqmodel.host import KVM, VM, Host
    from pvqmodel.hostsim import simulate_host
    for sched in ("cfs", "eevdf", "rr"):
        h = Host(pcpus=4, sockets=2, scheduler=sched, quantum_ns=2e4,
                 kvm=KVM(kick_yield=True, halt_poll_ns=2e5))
        vms = [VM("a", 4, lock="pv-qspinlock", workload=wl, think_ns=3e3, think="sleep",
                  think_dist="lognormal"),
               VM("b", 3, lock="ticket", workload=wl, think_ns=1e3,
                  placement="pinned" if sched != "rr" else "free"),
               VM("c", 2)]
        simulate_host(h, vms, duration_ns=2e6, reps=1, seed=2, check=False, trace=64)
        # issue 15's workloads: Zipf over several locks, lognormal critical sections,
        # synchronous IPIs (halted lock waiters woken, idle ones skipped, PV TLB flush)
        lwl = Workload(cs_ns=50.0, loop_ns=20.0, cs_dist="lognormal", cs_cv=1.5)
        vms = [VM("a", 4, lock="pv-qspinlock", workload=lwl, think_ns=3e3, think="sleep",
                  locks=16, lock_choice="zipf", zipf_s=1.1, ipi_per_op=0.05,
                  pv_tlb_flush=True),
               VM("b", 3, lock="qspinlock", workload=lwl, locks=3, ipi_per_op=0.05),
               VM("c", 2)]
        simulate_host(h, vms, duration_ns=2e6, reps=1, seed=3, check=False, trace=64)
    print("ok", flush=True)
""")


def test_engine_has_no_out_of_bounds_access(request):
    cache = request.config.cache.mkdir(f"numba-boundscheck-{source_hash()}")
    for old in cache.parent.glob("numba-boundscheck-*"):
        if old != cache:  # earlier sources
            import shutil
            shutil.rmtree(old, ignore_errors=True)
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(cache))
    p = subprocess.run([sys.executable, "-c", _BOUNDS_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-4000:]
    lines = p.stdout.split()
    assert lines[0] in ("cold", "warm") and lines[-1] == "ok", p.stdout
