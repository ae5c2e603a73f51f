"""The native 4.18+ qspinlock (``qspinlock-4.18``) and the lock registry.

Mutual exclusion, completion and path use at N = 1..8 are in test_engine_invariants.py,
the randomized schedules (300 per lock, 10^4 under ``slow``) in test_pv_schedules.py,
the bounds-checked build in test_engine_safety.py: all of them run every lock of
``sim.LOCKS``. Here: the queue grants follow the order of ``xchg_tail`` (observed from
outside the kernel, event by event), the engine's own FIFO check is live for this lock,
the ``_Q_PENDING_LOOPS`` bound, the seed benchmark beside the v10 lock, and the registry
(``sim.LOCKS``, the CLI, the README).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from pvqmodel import cli
from pvqmodel.engine import state as st
from pvqmodel.engine.kernel import init_replication, run_replication
from pvqmodel.locks import ALIASES, REGISTRY, registry_markdown, registry_rows
from pvqmodel.locks import qspinlock_418 as q8
from pvqmodel.locks.qspinlock import _Q_TAIL_CPU_OFFSET
from pvqmodel.params import Hardware, Workload
from pvqmodel.sim import (
    LOCK_ALIASES,
    LOCKS,
    PV_LOCKS,
    LockTunables,
    _alloc,
    _lock_table,
    _place_vm,
    param_array,
    placement,
    run_layout,
    schedule_lp,
    simulate,
)

HW = Hardware()
WL = Workload(cs_ns=20.0, loop_ns=40.0, cs_dist="exp", loop_dist="exp", placement="scatter")
QLAST = st.NG + st.GL_QLAST  # the one lock instance's MCS FIFO record (G[gl(0) + ...])
README = Path(__file__).resolve().parent.parent / "README.md"


class _Stepper:
    """One replication of ``lock`` run one engine event per kernel call, so a test can
    look at the state between any two events (the chunking changes no result)."""

    def __init__(self, lock, n, K, seed, tun=None, wl=WL):
        from pvqmodel.params import Schedule

        self.lock_id, module = LOCKS[lock]
        self.n, self.K = n, K
        sched = Schedule()
        self.P = param_array(HW, wl, 1e8, sched, pv=lock in PV_LOCKS)[None, :]
        self.LP = (tun or LockTunables()).array()
        schedule_lp(self.LP, sched, n)
        lay = run_layout([(module, n, 1)])
        _place_vm(self.LP, lay, 0, self.lock_id, K, 1, 0, n)
        self.LP = self.LP[None, :]
        self.S = S = _alloc(n, module, 0, "auto")
        self.bg = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed))).bit_generator
        init_replication(self.P, self.LP, _lock_table(self.LP, lay),
                         placement(n, HW, wl.placement), np.zeros(n, dtype=np.int64), S["I"],
                         S["F"], S["mem"], S["L"], S["Q"], S["R"], S["H"], S["TF"], S["TI"],
                         S["G"], S["HO"], S["first"], self.bg)

    def step(self):
        S = self.S
        return run_replication(self.P, self.LP, S["I"], S["F"], S["mem"],
                               S["L"], S["Q"], S["R"], S["H"], S["TF"], S["TI"], S["G"],
                               S["TR"], S["TRT"], S["HO"], S["first"], 10**9, 1, self.bg)


@pytest.mark.parametrize("n", [3, 6])
def test_queue_grants_follow_the_tail_order(n):
    """MCS FIFO, checked outside the kernel: every tail code written into the lock word
    (only ``xchg_tail`` writes a non-zero tail) is a vCPU entering the queue; the vCPUs
    granted on the queue path must come in exactly that order."""
    s = _Stepper("qspinlock-4.18", n, 150, seed=n)
    I, G, mem = s.S["I"], s.S["G"], s.S["mem"]
    entered, granted = [], []
    tail = 0
    acqs = 0
    status = st.ST_PAUSED
    while status == st.ST_PAUSED:
        status = s.step()
        t = (int(mem[q8.W_LOCK, 0]) & q8._Q_TAIL_MASK)
        if t != tail and t != 0:
            entered.append((t >> _Q_TAIL_CPU_OFFSET) - 1)
        tail = t
        if G[st.G_ACQS] != acqs:  # one acquisition per event at most
            acqs = int(G[st.G_ACQS])
            v = int(np.flatnonzero(I[:, st.PC] == st.W_CS_DONE)[0])
            if I[v, st.PATH] == st.PATH_QUEUE:
                granted.append(v)
    assert status == st.ST_OK
    assert G[st.G_OPS] == n * 150
    assert len(granted) > 100  # the queue carried many acquisitions
    assert granted == entered


def test_the_engine_fifo_check_is_live():
    """Corrupt the record of the last queue-path acquirer while the queue head has a
    predecessor: its grant must then fail the engine's FIFO check (ST_FIFO)."""
    s = _Stepper("qspinlock-4.18", 6, 200, seed=1)
    I, G = s.S["I"], s.S["G"]
    head_states = range(q8.Q8_HEAD_WAIT, q8.Q8_ACQUIRED + 1)
    for _ in range(200_000):
        assert s.step() == st.ST_PAUSED
        heads = [v for v in range(6) if I[v, st.PC] in head_states]
        if heads and I[heads[0], st.R4] >= 0 and G[QLAST] == I[heads[0], st.R4]:
            break
    else:
        pytest.fail("never saw a queue head with a predecessor")
    G[QLAST] = (G[QLAST] + 1) % 6
    status = st.ST_PAUSED
    while status == st.ST_PAUSED:
        status = s.step()
    assert status == st.ST_FIFO


def test_pending_loops_bounds_the_hand_over_wait():
    """``_Q_PENDING_LOOPS``: a newcomer that finds 0,1,0 re-reads at most cnt + 1 times.
    With 0 it reads once and gives up (spin timeouts); with the x86 512 the hand-over (one
    16-bit store of the pending waiter, ~0.1 us) always completes first (512 iterations
    of a cached load + PAUSE are ~5 us at this hardware's costs), so no spin times out:
    every other spin of this lock is unbounded."""
    wl = Workload(cs_ns=2.0, loop_ns=10.0, placement="compact")
    kw = dict(hardware=HW, workload=wl, reps=3, seed=5)
    zero = simulate("qspinlock-4.18", 3, 2000, tunables=LockTunables(pending_loops=0),
                    **kw).summary
    dflt = simulate("qspinlock-4.18", 3, 2000, **kw).summary
    assert (zero["status"] == "ok").all() and (dflt["status"] == "ok").all()
    assert zero["spin_timeouts"].sum() > 0
    assert dflt["spin_timeouts"].sum() == 0


@pytest.mark.parametrize("bad", [-1, 2**30 + 1, 1.5, "512"])
def test_pending_loops_range_is_checked(bad):
    with pytest.raises((ValueError, TypeError), match="pending_loops"):
        LockTunables(pending_loops=bad)


def test_tunable_reaches_the_kernel_argument():
    assert LockTunables(pending_loops=7).array()[st.LP_PENDING_LOOPS] == 7
    assert LockTunables().array()[st.LP_PENDING_LOOPS] == 1 << 9


def test_seed_benchmark_beside_the_v10_lock():
    """Dedicated pCPUs, N = 1..8, the default preset: every cell completes (simulate
    raises on any failed check), v10_ms is the engine table's queue column, and one task
    alone costs the same in both forms (the uncontended path is one cmpxchg and one byte
    store in both: the per-op times agree to rounding)."""
    from pvqmodel.calibrate import engine_table, qspinlock_418_table

    v10 = engine_table(ops_per_task=300, reps=2, seed=3, progress=False, pv="off")
    q = qspinlock_418_table(ops_per_task=300, reps=2, seed=3, progress=False, v10=v10)
    assert list(q["tasks"]) == list(range(1, 9))
    mine = v10[v10["lock"] == "queue"].set_index("tasks")["model_ms"]
    assert np.array_equal(q.set_index("tasks")["v10_ms"], mine)
    assert np.isfinite(q["v418_ms"]).all() and (q["v418_ms"] > 0).all()
    one = q[q["tasks"] == 1].iloc[0]
    assert one.v418_ms == pytest.approx(one.v10_ms, rel=1e-9)
    # a run of its own gives the same per-op cost as the table's (same seed)
    alone = simulate("qspinlock-4.18", 4, 300, reps=2, seed=3).summary["ns_per_op"].mean()
    assert q[q["tasks"] == 4].iloc[0].v418_ms == pytest.approx(alone * 4 * 5, rel=1e-12)


# ---- registry ------------------------------------------------------------------------

def test_registry_and_engine_agree():
    names = [r.name for r in REGISTRY]
    assert len(names) == len(set(names))
    assert set(names) == set(LOCKS)
    for r in REGISTRY:
        assert LOCKS[r.name][1].__name__ == f"pvqmodel.locks.{r.module}"
        assert r.pv == (r.name in PV_LOCKS)
        assert r.summary and "\n" not in r.summary and r.kernel
    assert LOCK_ALIASES == ALIASES == {"qspinlock-v10": "qspinlock",
                                       "pv-qspinlock": "pv-qspinlock-5.4"}


def test_the_v10_alias_is_the_same_lock():
    a = simulate("qspinlock-v10", 3, 200, reps=2, seed=4).summary
    b = simulate("qspinlock", 3, 200, reps=2, seed=4).summary
    assert a.equals(b)  # same lock, same name in the output
    assert (a["lock"] == "qspinlock").all()


def test_cli_prints_the_registry(capsys):
    assert cli.main(["locks", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == registry_rows()
    assert cli.main(["locks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(REGISTRY)
    for r, line in zip(REGISTRY, lines[1:], strict=True):
        assert line.startswith(r.name) and line.rstrip().endswith(r.summary)


def test_readme_holds_the_registry_table():
    assert registry_markdown() in README.read_text()
