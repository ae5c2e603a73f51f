"""Several VMs in one engine run (sim.build_run, simulate_vms): each VM's own lock,
parameter rows and vCPUs; VMs on dedicated pCPUs do not interact; the mutual-exclusion
check is per lock instance; CPU-bound VMs are scheduling entities only (``ent_vm``)."""

import numpy as np
import pytest

from pvqmodel.engine import state as st
from pvqmodel.locks import ticket as tk
from pvqmodel.params import Hardware, Schedule, Workload
from pvqmodel.sim import VMSpec, build_run, run_state, simulate_vms

HW = Hardware()
WL = Workload(cs_ns=50.0, loop_ns=200.0, cs_dist="exp", loop_dist="exp")


def test_two_vms_on_dedicated_pcpus_run_as_each_alone():
    """``ticket`` x 4 and ``pv-qspinlock-5.4`` x 4 in one run, dedicated pCPUs: no shared
    word, no shared line, so each VM's ops/s has the distribution of the VM alone. The
    random stream is shared (the draws interleave), so runs differ replication by
    replication and the means are compared: 16 replications each, the difference must
    be within 5 combined standard errors (a false failure has probability ~6e-7 under
    equal distributions). Sharing the lock (or its line) would slow each VM by a factor
    ~2, far outside (the replications' relative spread is ~1 %). ``pv_iter_ns`` is 0:
    the spin-iteration time is row 0's for every VM (coherence.iter_ns), so with a
    non-zero value the PV VM would spin at the ticket VM's iteration time here."""
    hw = Hardware(pv_iter_ns=0.0)
    a, b = VMSpec("ticket", 4, 200, WL), VMSpec("pv-qspinlock-5.4", 4, 200, WL)
    both = simulate_vms([a, b], hardware=hw, reps=16, seed=1).summary
    for k, spec in enumerate((a, b)):
        alone = simulate_vms([spec], hardware=hw, reps=16, seed=2).summary["ops_per_s"]
        pair = both.loc[both["vm"] == k, "ops_per_s"]
        assert (both.loc[both["vm"] == k, "ops"] == 4 * 200).all()
        se = np.sqrt(alone.var() / len(alone) + pair.var() / len(pair))
        assert abs(pair.mean() - alone.mean()) <= 5 * se, (spec.lock, pair.mean(),
                                                           alone.mean(), se)


def test_same_lock_in_two_vms_is_two_locks():
    """Two ``ticket`` VMs (different K): each VM's operations go to its own lock word
    (head == tail == its own ops), each instance's FIFO record counts its own grants,
    and the run passes the per-instance mutual-exclusion check although both locks are
    held at once: the critical sections add up to more than the run's duration, so
    some moment had two holders."""
    wl = Workload(cs_ns=1000.0, loop_ns=50.0)
    vms = [VMSpec("ticket", 4, 150, wl), VMSpec("ticket", 4, 230, wl)]
    run = build_run(vms, HW, Schedule(), 1e8)
    assert run["LP"][1, st.LP_LOCK0] == 1 and run["layout"]["M"] == 2
    S = run_state(run, np.random.Generator(np.random.PCG64(5)), 10**7, 64, "auto")
    assert S["status"] == st.ST_OK
    mem, G, I, F = S["mem"][:, 0], S["G"], S["I"], S["F"]
    for k, ops in enumerate((4 * 150, 4 * 230)):
        assert mem[k] >> tk.TICKET_SHIFT == ops  # tickets taken
        assert G[st.gl(k) + st.GL_TICKET_NEXT] == ops  # tickets granted
        h = G[st.gl(k) + st.GL_HOLDER]
        if h == -1:
            assert (mem[k] & tk.HEAD_MASK) == ops
        else:  # the run ended with the last unlock still in the holder's store buffer
            assert (mem[k] & tk.HEAD_MASK) == ops - 1 and I[h, st.SB_REQ] >= 0
            assert I[h, st.HELD] == k and 4 * k <= h < 4 * k + 4
    assert (I[:4, st.OPS_DONE] == 150).all() and (I[4:, st.OPS_DONE] == 230).all()
    assert 1000.0 * 4 * (150 + 230) > F[:8, st.F_DONE_T].max()  # sum of the CS times


def test_lock_instances_per_vm_and_per_vm_counters():
    """A VM with several lock instances spreads its operations over them (each
    instance's ticket count is its own, and they add up to the VM's); the per-vCPU
    acquisitions and wait times sum per VM."""
    vms = [VMSpec("ticket", 3, 200, WL, locks=3), VMSpec("pv-qspinlock-4.2", 4, 100, WL,
                                                        locks=2)]
    run = build_run(vms, HW, Schedule(), 1e8)
    S = run_state(run, np.random.Generator(np.random.PCG64(3)), 10**7, 0, "auto")
    assert S["status"] == st.ST_OK
    G, I, F = S["G"], S["I"], S["F"]
    grants = [int(G[st.gl(k) + st.GL_TICKET_NEXT]) for k in range(3)]
    assert sum(grants) == 3 * 200 and min(grants) > 100  # ~200 each (binomial, sd ~12)
    assert ((S["mem"][3:5, 0] & 0xFF) == 0).all()  # the PV VM's two locks end free
    acqs = I[:, st.ACQ_SEQ] - I[:, st.IN_ACQ]
    assert acqs[:3].sum() == 600 and acqs[3:].sum() == 400
    assert (F[:7, st.F_WAIT_NS] >= 0).all() and F[:7, st.F_WAIT_NS].sum() > 0
    out = simulate_vms(vms, hardware=HW, reps=1, seed=3).summary
    assert list(out["ops"]) == [600, 400] and list(out["acquisitions"]) == [600, 400]


def test_cpu_bound_vm_is_entities_only():
    """A CPU-bound VM adds scheduling entities after the lock-running vCPUs (no engine
    vCPU, no I row); ``ent_vm`` names each entity's VM. Without one, the schedule's own
    background vCPUs form VM ``len(vms)``."""
    sched = Schedule(overcommit=2.0)
    run = build_run([VMSpec("ticket", 3, 10, WL), VMSpec(None, 5)], HW, sched, 1e8)
    assert run["n"] == 3 and run["nbg"] == 5
    assert list(run["ent_vm"]) == [0, 0, 0, 1, 1, 1, 1, 1]
    run = build_run([VMSpec("ticket", 3, 10, WL)], HW, sched, 1e8)
    assert list(run["ent_vm"]) == [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="CPU-bound VMs"):
        build_run([VMSpec(None, 2), VMSpec("ticket", 3, 10, WL)], HW, sched, 1e8)
    with pytest.raises(ValueError, match="needs a schedule"):
        build_run([VMSpec("ticket", 3, 10, WL), VMSpec(None, 2)], HW, Schedule(), 1e8)
    with pytest.raises(ValueError, match="vcpus"):
        VMSpec("ticket", 0)
