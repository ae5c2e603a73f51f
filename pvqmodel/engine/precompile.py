"""A cold compile on two cores: the kernel's callees compiled in a helper process.

numba compiles one function at a time in one thread. The kernel (``run_replication``,
``init_replication``) calls functions that LLVM inlines into it (``forceinline``:
``run_steps``, ``dispatch``, the coherence calls, ``tm_pop``) and a few it calls (the
hypervisor's entry points, hypervisor.py, with the fair schedulers under them; the lock
steps, locks/; ``ipi_send``, ipi.py). On a cold cache :func:`compile_in_parallel` splits
them into two groups of about equal compile time; a helper process compiles one group
into numba's on-disk cache while this process compiles the other, then this process
compiles ``run_replication``, which loads the helper's functions from the cache instead
of compiling them.

Each function is compiled with the argument types the kernel passes it (sigs.py); if a
call in the kernel changed its types, the kernel would compile that function again
itself (slower, never wrong), and ``tests/test_engine_precompile.py`` would fail: it checks
that the cache holds exactly these signatures. A function two groups call is compiled by
whichever process gets there first (the other loads it if it is in the cache by then,
else compiles it too: slower, never wrong), so the groups keep shared callees in one
process. The helper process is an optimisation only: if it fails, or there is one core,
this process compiles everything; Ctrl-C stops both. The helper's memory adds to
this process's while both run (``pvqmodel bench`` reports each one's peak and their
memory together, sampled)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

from .sigs import F1, F2, I1, I2, f8, i8


def rng_type():
    """numba type of the kernels' random argument (a PCG64 bit generator, sim.py)."""
    return numba.typeof(np.random.PCG64(0))


def groups():
    """The kernel's callees, each with the argument types the kernel passes, in groups:
    ``"main"`` (this process; the set-up, ``init_replication``, last) and ``"helper"``
    (the helper process) at the same time, then ``"kernel"`` (this process, once the
    helper has exited): ``run_replication``. The split
    balances the measured compile times and keeps shared callees in one process: the
    hypervisor's entry points share the fair schedulers (fair.py, the ``fs_*``
    functions), so all of them compile in the helper, ``hv_kick``, ``hv_halt`` and
    ``hv_release`` first: ``run_steps`` calls them and the lock steps, and comes last
    in this process, when both are in the cache. The kernel waits for the helper to
    exit: the two processes' memory is at its highest together at the end of their
    groups (about 280 + 290 MB), and compiling the kernel beside the helper would add
    the kernel's ~40 MB to that (the bench's target is 600 MB for the two together)."""
    from ..locks import (
        pv_qspinlock,
        pv_qspinlock_v10,
        pv_qspinlock_v10_unfair,
        pv_ticket,
        qspinlock,
        qspinlock_418,
        tas,
        ticket,
        unfair_qspinlock,
    )
    from . import coherence as co
    from . import core, ipi, kernel, spin
    from . import hypervisor as hv
    rng = rng_type()
    # lock steps: (v, now, I, F, G, LP row, P row, n)
    step = (i8, f8, I2, F2, I1, I1, F1, i8)
    # hypervisor entry points: (v or p, t, I, F, G, P row, LP row, H, TF, TI, rng)
    hvs = (i8, f8, I2, F2, I1, F1, I1, I1, F1, I1, rng)
    # the event loop's coherence calls: (r, now, I, F, mem, L, R, P row, rng, TF, TI, G[, n])
    coh = (i8, f8, I2, F2, I2, I2, I2, F1, rng, F1, I1, I1)
    main = [
        (pv_qspinlock.pv_qspinlock_step, step),
        (pv_qspinlock_v10.pv_qspinlock_v10_step, step),
        (pv_qspinlock_v10_unfair.pv_qspinlock_v10_unfair_step, step),
        (unfair_qspinlock.unfair_qspinlock_step, step),
        (pv_ticket.pv_ticket_step, step),
        (qspinlock.qspinlock_step, step),
        (qspinlock_418.qspinlock_418_step, step),
        (tas.tas_step, step),
        (ticket.ticket_step, step),
        (ipi.ipi_send, (i8, f8, I2, F2, I1, F1, F1, I1, F1, I1, rng)),
        (core.tm_pop, (F1, I1)),
        (co.issue, (i8, f8, I2, I1, I2, F2, I2, I1)),
        (co.apply_effect, coh),
        (co.start_service, coh + (i8,)),
        (co.line_done, (i8, i8, f8, I2, F2, I2, I1, I2, F1, F1, I1, rng, i8)),
        (co.hit_done, (i8, f8, F2, I2, F1)),
        (co.sb_pop, (i8, f8, I2, F2, I2, F1, F1, I1, i8)),
        (co.drained_at, (i8, f8, I2, F1)),
        (co.sb_as_store, (I2, i8)),
        (kernel.dispatch, coh + (i8,)),
        (spin.spin_result, (i8, f8, I2, F2, I2, I2, I2, F1, F1, I1, I1)),
        (spin.spin_timeout, (i8, f8, I2, F2, F1, I1)),
        (kernel.lock_released, (i8, i8, f8, I2, F2, I1)),
        # trace_event(i, t, I, mem, L, H, G, TR, TRT, n, pslot, sbslot)
        (kernel.trace_event, (i8, f8, I2, I2, I2, I1, I1, I2, F1, i8, i8, i8)),
        # run_steps's own callees: the steps of the workload and of the lock by id
        # workload_step(lock_id, v, now, I, F, G, LP row, P row, HO, first_ops, rng)
        (kernel.workload_step, (i8, i8, f8, I2, F2, I1, I1, F1, F2, I1, rng)),
        (kernel.lock_step, (i8,) + step),
        # run_steps(v, now, I, F, mem, R, P, LP, P row of v's VM, LP row of v's VM, H,
        # rng, TF, TI, G, HO, first_ops, n)
        (kernel.run_steps, (i8, f8, I2, F2, I2, I2, F1, I1, F1, I1, I1, rng, F1, I1, I1,
                            F2, I1, i8)),
        # hv_init(I, F, G, P row, LP row, H, TF, TI, rng)
        (hv.hv_init, (I2, F2, I1, F1, I1, I1, F1, I1, rng)),
        # the kernel's set-up, which calls nothing else not compiled by now
        (kernel.init_replication, (F2, I2, I2, I1, I1, I2, F2, I2, I2, I1, I2, I1, F1, I1,
                                   I1, F2, I1, rng)),
    ]
    helper = [
        (hv.hv_kick, hvs),
        (hv.hv_halt, hvs),
        (hv.hv_release, hvs),
        (hv.hv_quantum_end, hvs),
        (hv.hv_wake, hvs),
        (hv.hv_on_spin, hvs),
        (hv.hv_ple_exit, (i8, f8, I2, F2, I1, F1, F1, I1)),
    ]
    kern = [
        # run_replication(PV, LPV, I, F, mem, L, Q, R, H, TF, TI, G, TR, TRT, HO,
        # first_ops, max_events, budget, rng)
        (kernel.run_replication, (F2, I2, I2, F2, I2, I2, I1, I2, I1, F1, I1, I1, I2, F1,
                                  F2, I1, i8, i8, rng)),
    ]
    return {"main": main, "helper": helper, "kernel": kern}


def compile_group(name: str) -> None:
    """Compile (or load from numba's cache) every function of group ``name``."""
    for disp, sig in groups()[name]:
        disp.compile(sig)


def helper_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: The last helper process of this process (:func:`compile_in_parallel`): its exit code
#: and peak resident memory, MB (``pvqmodel bench`` reports it beside the main process's)
LAST_HELPER: dict = {}


def compile_in_parallel() -> bool:
    """Compile the kernel and its callees on two cores: the helper group in a helper
    process while this one compiles the main group; once the helper has exited, the
    kernel group here. Returns False (and does nothing) with one core. Call it before
    the kernel's first compile."""
    if helper_cores() < 2:
        return False
    # the helper imports this same package (first on its path: not a checkout in its
    # working directory) and uses this process's numba cache
    root = str(Path(__file__).resolve().parents[2])
    # os._exit once the group is compiled: every function's cache files are written and
    # closed as it compiles, and the interpreter's teardown (numba, LLVM) took 0.5 s
    # on the kernel's critical path, which waits for this process to exit
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from pvqmodel.engine.precompile import compile_group; compile_group('helper'); "
            "import os; os._exit(0)")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba.config.CACHE_DIR))
    helper = subprocess.Popen([sys.executable, "-c", code], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        compile_group("main")
        _, status, usage = os.wait4(helper.pid, 0)
        helper.returncode = os.waitstatus_to_exitcode(status)
        LAST_HELPER.update(returncode=helper.returncode, rss_mb=usage.ru_maxrss / 1024)
    finally:
        if helper.poll() is None:  # Ctrl-C or an error here: stop the helper too
            helper.kill()
            helper.wait()
    compile_group("kernel")  # (if the helper failed, this compiles its functions too)
    return True
