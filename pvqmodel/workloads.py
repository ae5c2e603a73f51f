"""Named workloads: what the vCPUs of a study's VMs do, by name.

Owns the registry :data:`WORKLOADS`: each entry is a documented dict of
:class:`~pvqmodel.host.VM` keyword arguments (the lock's
:class:`~pvqmodel.params.Workload`, ``think_ns``, ``think_dist``, ``think``, ...) with
the reasoning behind its numbers, so a sweep spec (``pvqmodel.sweeps``) can say
``workloads = ["microbench", "think-sleep"]`` and a result row carries the name. None
of them is calibrated to a real program: they are stylized cases that bracket how a
guest uses its CPUs. A value may be a zero-argument callable (resolved when the
workload is used, e.g. the calibrated seed benchmark read from its hardware preset).
Adding one is :func:`register_workload` with a name, a summary and the keyword
arguments; :func:`workload_vm_kwargs` gives fresh VM keyword arguments and
:func:`workload_definition` their plain-JSON form (what a sweep's manifest records).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from .host import VM
from .params import Workload

__all__ = ["WORKLOADS", "NamedWorkload", "register_workload", "workload_definition",
           "workload_names", "workload_vm_kwargs"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
#: VM fields that belong to the study's layout or lock, not to the workload.
_LAYOUT_KEYS = ("name", "vcpus", "lock", "placement", "cpuset", "shares", "tunables")
#: VM keyword arguments a named workload may set: every other field of
#: :class:`~pvqmodel.host.VM` (the workload, think time, ops, and whatever the engine
#: adds, e.g. ``locks``, ``lock_choice``, ``zipf_s``, ``ipi_per_op``, ``pv_tlb_flush``).
VM_WORKLOAD_KEYS = tuple(f.name for f in fields(VM) if f.name not in _LAYOUT_KEYS)


@dataclass(frozen=True)
class NamedWorkload:
    """A registered workload: ``name``, a one-paragraph ``summary`` saying what it
    models and why its numbers, and ``vm``: the :class:`~pvqmodel.host.VM` keyword
    arguments (values or zero-argument callables)."""

    name: str
    summary: str
    vm: dict


#: name -> :class:`NamedWorkload`
WORKLOADS: dict[str, NamedWorkload] = {}


def register_workload(name: str, summary: str, **vm_kwargs) -> NamedWorkload:
    """Add a named workload (``name``: lower-case letters, digits and '-'); the keyword
    arguments are those of :class:`~pvqmodel.host.VM` listed in
    :data:`VM_WORKLOAD_KEYS` (values or zero-argument callables), e.g.::

        register_workload("many-locks", "why these numbers ...", workload=Workload(),
                          locks=64, lock_choice="zipf", zipf_s=1.0)
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be 1-40 lower-case letters, digits or '-', got {name!r}")
    if name in WORKLOADS:
        raise ValueError(f"workload {name!r} is already registered")
    bad = sorted(set(vm_kwargs) - set(VM_WORKLOAD_KEYS))
    if bad:
        raise ValueError(f"workload {name!r}: unknown VM keyword(s) {bad}; allowed: "
                         f"{list(VM_WORKLOAD_KEYS)}")
    wl = NamedWorkload(name, " ".join(summary.split()), dict(vm_kwargs))
    WORKLOADS[name] = wl
    return wl


def workload_names() -> list[str]:
    return list(WORKLOADS)


def workload_vm_kwargs(name: str) -> dict:
    """Fresh :class:`~pvqmodel.host.VM` keyword arguments of the workload ``name``
    (callables resolved); add ``name``, ``vcpus`` and ``lock`` to build a VM."""
    if name not in WORKLOADS:
        raise ValueError(f"workload must be one of {workload_names()}, got {name!r}")
    return {k: (v() if callable(v) else v) for k, v in WORKLOADS[name].vm.items()}


def workload_definition(name: str) -> dict:
    """The workload's VM keyword arguments as plain JSON values (a ``Workload`` as its
    dict): what a sweep records so that a changed definition is noticed."""
    out = {}
    for k, v in workload_vm_kwargs(name).items():
        out[k] = v.to_dict() if isinstance(v, Workload) else v
    return out


register_workload(
    "microbench",
    """The seed benchmark: every vCPU takes the VM's one lock in a tight loop (the
    calibrated critical section and loop overhead of the ``westmere-ex`` hardware preset,
    ``Workload.seed_benchmark()``) with no think time. The lock is saturated and every
    vCPU always wants its pCPU: the worst case for lock-holder and lock-waiter
    preemption, and the case the seed table measured on bare metal.""",
    workload=Workload.seed_benchmark,
)

register_workload(
    "think-sleep",
    """A VM that mostly waits: lock, a 250 ns critical section, unlock, then an
    exponential think time of mean 16 us spent idle in HLT (the vCPU halts; KVM may
    halt-poll, then the thread blocks until a timer wakes it). 16 us against 250 ns
    gives 32 vCPUs about half a lock's worth of demand (32 x 0.25 / 16.25 = 0.49), a
    moderately contended lock as in the host study (``hoststudy``, which computes
    through the same think time instead), while the vCPUs leave their pCPUs idle most of
    the time: the case where a halted waiter and a sleeping guest compete for wake-ups
    rather than for CPU time. Stylized, not measured from a program.""",
    workload=Workload(cs_ns=250.0),
    think_ns=16_000.0, think_dist="exp", think="sleep",
)

register_workload(
    "many-locks",
    """Fine-grained locking: 64 lock instances (each lock word on its own cache line,
    the per-CPU queue nodes shared by all of them as the kernel shares its ``qnodes``),
    each operation taking one chosen by a Zipf law of exponent 1 (instance 0 the
    hottest: about a fifth of the operations, the next a tenth, ...), like a hash table
    of buckets or a set of per-object locks with a few hot objects. A short critical
    section (100 ns, exponential) and 4 us of exponential think time spent computing:
    every vCPU is busy, so preemption hits holders and waiters of many locks at once,
    but most operations find their lock free. Stylized, not measured from a program.""",
    workload=Workload(cs_ns=100.0, cs_dist="exp"),
    think_ns=4_000.0, think_dist="exp", think="compute",
    locks=64, lock_choice="zipf", zipf_s=1.0,
)

_IPI_HEAVY = """A VM that shoots down TLBs often: the think-time workload of the host study
    (lock, 250 ns critical section, unlock, 16 us of exponential think time computing)
    where one operation in 20 ends with a synchronous IPI to every other vCPU (a
    ``flush_tlb_mm_range`` after an munmap or an mprotect: about 3 000 shootdowns per
    second per vCPU), each target running a 1 us handler, the sender waiting for all of
    them. Under overcommit a preempted target stalls the sender for the rest of its
    wait for a pCPU. Stylized, not measured from a program."""

register_workload(
    "ipi-heavy",
    _IPI_HEAVY + """ Without PV TLB flush (a guest without ``KVM_FEATURE_PV_TLB_FLUSH``,
    or with it hidden): every target is IPI'd and waited for.""",
    workload=Workload(cs_ns=250.0),
    think_ns=16_000.0, think_dist="exp", think="compute",
    ipi_per_op=0.05, ipi_handler_ns=1_000.0, pv_tlb_flush=False,
)

register_workload(
    "ipi-heavy-pvflush",
    _IPI_HEAVY + """ With PV TLB flush (KVM guests since 4.16, when the host exposes the
    feature): a target whose steal-time ``preempted`` flag is set is flagged for a
    flush at its next entry instead of being IPI'd and waited for.""",
    workload=Workload(cs_ns=250.0),
    think_ns=16_000.0, think_dist="exp", think="compute",
    ipi_per_op=0.05, ipi_handler_ns=1_000.0, pv_tlb_flush=True,
)
