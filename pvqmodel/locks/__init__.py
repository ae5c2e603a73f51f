"""Lock algorithms, one file each, written as integer-state step functions that read
like the kernel code they model (kernel identifiers in comments), and the registry
of them (:data:`REGISTRY`: what each lock follows, printed by ``pvqmodel locks`` and in
the README).

A step function ``<lock>_step(v, now, I, F, G, LP, P, n)`` runs the state at
``I[v, PC]`` of vCPU ``v`` until it needs the machine: it then requests one action
(``act_mem``, ``act_store``, ``act_spin``, ``act_delay`` from
:mod:`pvqmodel.engine.state`) and returns. Acquisition is reported by moving to the
workload state ``W_LOCKED``; an unlock ends with a release store continuing at
``W_UNLOCKED`` (or, for the PV locks, a locked RMW release followed by the unlock
slowpath). Program counters: ticket 100-199, qspinlock 200-299, tas 300-399, unfair
qspinlock 400-499, PV ticket 500-599, v10 PV qspinlock 600-699, its unfair variant
700-799, native 4.18+ qspinlock 800-899, the merged PV qspinlock (every generation,
``pv_qspinlock.py``; its generations' metadata in ``pv_generations.py``) 900-999.

Addresses are never constants: the lock an operation takes is word ``lock = I[v, LKW]``
(one of its VM's lock instances, chosen by the workload), a CPU's per-CPU node starts at
``I[cpu, NODEW]`` (``per_cpu_ptr``), the VM's lock-global words (``pv_lock_hash``,
``waiting_cpus``) at ``LP[LP_GLOBAL_W0]``; ``LP``/``P`` are the rows of v's VM, and the
FIFO / hash records are the instance's block ``G[gl(I[v, LKI]) + GL_*]``. So several
VMs, each with its own lock algorithm and any number of lock instances, share one run.

This file imports nothing heavy (no numba), so the registry costs nothing to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pv_generations import ALIAS as _PVQ_ALIAS
from .pv_generations import GENERATIONS as _PVQ_GENERATIONS


@dataclass(frozen=True)
class LockInfo:
    """One lock of the engine: ``name`` as :func:`pvqmodel.simulate` takes it."""

    name: str
    module: str  #: the file in pvqmodel/locks/ that implements it
    kernel: str  #: kernel version (or patch series) the steps follow
    commits: tuple[str, ...]  #: commit ids the steps follow ("" if none could be pinned)
    summary: str  #: one line
    pv: bool  #: PV hooks compiled in (pays Hardware.pv_call_ns / pv_iter_ns)
    #: FIFO by design, and the engine checks it at every grant: ticket order, or the MCS
    #: queue's order among queued waiters (a qspinlock arrival may still take the lock
    #: on its fast or pending path before them)
    fifo: bool
    aliases: tuple[str, ...] = ()  #: other names simulate() accepts for it


REGISTRY: tuple[LockInfo, ...] = (
    LockInfo("ticket", "ticket", "3.12-4.1 (x86, native)", (),
             "xadd ticket, spin on head, non-atomic add unlock", pv=False, fifo=True),
    LockInfo("qspinlock", "qspinlock", "v10 series (May 2014, unmerged)", (),
             "the seed's v10-era native qspinlock: trylock_pending with retry, MCS queue, "
             "claim cmpxchg loop", pv=False, fifo=True, aliases=("qspinlock-v10",)),
    LockInfo("qspinlock-4.18", "qspinlock_418", "4.18+ (x86 fetch-set-pending of 4.20)",
             ("7aa54be29765",),
             "bounded hand-over wait (_Q_PENDING_LOOPS), lock btsl + re-read, undo of "
             "pending, prefetchw(next), single claim cmpxchg", pv=False, fifo=True),
    LockInfo("tas", "tas", "4.2+ virt_spin_lock", ("2aa79af64263",),
             "test-and-test-and-set on the whole qspinlock word (hypervisor without PV "
             "spinlocks)", pv=False, fifo=False),
    LockInfo("unfair-qspinlock", "unfair_qspinlock",
             "v10 series, CONFIG_PARAVIRT_UNFAIR_LOCKS", (),
             "v10 qspinlock with byte-steal fast path and queued-node lock stealing",
             pv=False, fifo=False),
    LockInfo("pv-ticket", "pv_ticket", "3.12-3.19 (x86, KVM)", (),
             "ticket lock with SPIN_THRESHOLD spin, kvm_lock_spinning halt, tail slowpath "
             "flag and unlock kick", pv=True, fifo=True),
    LockInfo("pv-qspinlock-v10", "pv_qspinlock_v10", "v10 series patch 17 (May 2014)", (),
             "the seed's PV qspinlock: node/head halt after QSPIN_THRESHOLD, "
             "_Q_LOCKED_SLOWPATH unlock kick", pv=True, fifo=True),
    LockInfo("pv-qspinlock-v10-unfair", "pv_qspinlock_v10_unfair",
             "v10 series patch 17 + CONFIG_PARAVIRT_UNFAIR_LOCKS", (),
             "the seed's PV qspinlock with the v10 unfair fast-path byte steal (no "
             "stealing by queued nodes under PV)", pv=True, fifo=True),
    # the merged PV qspinlock, one generation per kernel version where a behaviour changed
    # (stealing arrivals bypass the queue from 4.5 on; queued nodes stay in MCS order,
    # which the engine checks)
    *(LockInfo(name, "pv_qspinlock", g["kernel"], tuple(g["commits"]), g["summary"],
               pv=True, fifo=True,
               aliases=tuple(a for a, tgt in _PVQ_ALIAS.items() if tgt == name))
      for name, g in _PVQ_GENERATIONS.items()),
)

#: name -> record
BY_NAME = {rec.name: rec for rec in REGISTRY}
#: alias -> name (``"qspinlock-v10"`` is the seed's native lock, ``"qspinlock"``)
ALIASES = {a: rec.name for rec in REGISTRY for a in rec.aliases}


def registry_rows() -> list[dict]:
    """The registry as table rows (``pvqmodel locks``, ``--json``, the README table)."""
    return [{"lock": r.name, "kernel": r.kernel, "kind": "PV" if r.pv else "native",
             "fifo": r.fifo, "commits": list(r.commits), "aliases": list(r.aliases),
             "summary": r.summary} for r in REGISTRY]


def registry_markdown() -> str:
    """The registry as the README's markdown table (a test checks the README has it)."""
    lines = ["| lock | kernel | kind | FIFO | commits | summary |",
             "|---|---|---|---|---|---|"]
    for r in registry_rows():
        name = f"`{r['lock']}`" + "".join(f" (`{a}`)" for a in r["aliases"])
        commits = ", ".join(r["commits"]) or "-"
        # kernel identifiers: escape "_" so markdown does not read it as emphasis
        kernel, summary = (r[k].replace("_", "\\_") for k in ("kernel", "summary"))
        lines.append(f"| {name} | {kernel} | {r['kind']} | "
                     f"{'yes' if r['fifo'] else 'no'} | {commits} | {summary} |")
    return "\n".join(lines)
