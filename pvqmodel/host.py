"""The host's parameters: a Linux/KVM host (``Host`` with its ``KVM``) and the VMs it runs
(``VM``), validated in Python, with the host presets of ``data/hosts/`` and the derived
numbers the engine needs.

Owns what a host *is* as numbers: the pCPUs and sockets, the host scheduler (``"cfs"``,
``"eevdf"`` or the old FIFO round robin ``"rr"``) with the kernel's own tunables in their
normalized form, KVM's module parameters and its ``kvm_vcpu_on_spin`` candidate rules as
switches by era, and the mechanism costs (VM exit, candidate scan, ``yield_to``, context
switch, kick and wake latencies) that no kernel source fixes, each a parameter whose
plausible range and source the preset files state (``data/hosts/SOURCES.md``). A bad
value raises ``ValueError`` naming the parameter and its allowed range before any kernel
runs; a preset is loaded strictly (every parameter present, each with a source, numeric
ones inside their stated range). :meth:`Host.derived` turns the parameters into the
plain numbers the kernel reads (scaled CFS/EEVDF tunables, tick, sleeper credit, PLE
window in ns, load-balance intervals, integer codes): keys are stable, ints go to the
``LP`` array and floats to ``P``. Nothing here runs or imports the engine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

from .params import (
    Workload,
    _check_choice_field,
    _check_int_field,
    _check_range,
    _ParamsMixin,
    _set,
    load_preset_document,
)
from .paths import HOSTS
from .validate import check_bool, check_instance, check_int

__all__ = ["Host", "KVM", "VM", "load_host_preset"]

#: Host schedulers and their integer codes in :meth:`Host.derived` (``"scheduler"``).
SCHEDULERS = {"cfs": 0, "eevdf": 1, "rr": 2}
#: ``CONFIG_HZ`` choices (kernel/Kconfig.hz).
HZ_CHOICES = (100, 250, 300, 1000)
#: ``sysctl_sched_tunable_scaling`` (SCHED_TUNABLESCALING_NONE / LOG / LINEAR).
TUNABLE_SCALINGS = ("none", "log", "linear")
#: ``kvm_vcpu_on_spin``'s first filter: ``vcpu->preempted`` (3.10-5.2) or ``vcpu->ready``
#: (5.3+, d73eb57b80b9); codes in :meth:`Host.derived` (``"on_spin_candidate"``).
CANDIDATE_RULES = {"preempted": 0, "ready": 1}
#: What the guest reads in ``kvm_steal_time.preempted``: nothing (before 4.10), set on
#: every ``vcpu_put`` (4.10 to ~5.17: halted vCPUs read as preempted), only on
#: involuntary preemption at an external-interrupt exit (6.1+); codes for ``derived``.
PREEMPTED_FLAGS = {"none": 0, "every_put": 1, "involuntary": 2}
#: A VM's think-time distributions and their codes in :meth:`VM.derived`.
THINK_DISTS = {"det": 0, "exp": 1, "lognormal": 2}
#: ``"compute"``: the vCPU runs through its think time; ``"sleep"``: the guest idles in HLT.
THINK_MODES = ("compute", "sleep")
VM_PLACEMENTS = ("free", "pinned")
#: How a VM's operation picks one of its ``locks`` (``pvqmodel.sim.LOCK_CHOICES``).
LOCK_CHOICES = ("uniform", "zipf")
#: The engine's limit on vCPUs per VM (``pvqmodel.sim.MAX_VCPUS``; not imported: numba).
MAX_VM_VCPUS = 256

# Validity ranges (inclusive): what the engine can run, wider than the plausible ranges
# each preset states per value. The scheduler time tunables take the bounds of the
# kernel's sysctl table (3.19 kernel/sysctl.c: min_sched_granularity_ns = 100 us,
# max = 1 s; wakeup granularity 0 .. 1 s), applied to the normalized value.
_HOST_INTS = {
    "pcpus": (1, 256),
    "sockets": (1, 64),
    "hz": (100, 1000),
    "balance_busy_factor": (1, 1024),
}
_HOST_FLOATS = {
    "sched_latency_ns": (1e5, 1e9),
    "sched_min_granularity_ns": (1e5, 1e9),
    "sched_wakeup_granularity_ns": (0.0, 1e9),
    "base_slice_ns": (1e5, 1e9),
    "migration_cost_ns": (0.0, 1e9),
    "quantum_ns": (1.0, 1e10),
}
_KVM_INTS = {
    # TSC cycles. A window of at least 128 (one default ple_gap) keeps ple_window_grow and
    # ple_window_shrink (<= 64) below it, where KVM multiplies/divides instead of adding
    # (__grow_ple_window / __shrink_ple_window).
    "ple_window": (128, 2**32 - 1),
    "ple_gap": (0, 65535),
    "ple_window_grow": (1, 64),
    "ple_window_shrink": (0, 64),
    "ple_window_max": (128, 2**32 - 1),
    "esrch_tries": (1, 64),
    "halt_poll_ns_grow": (0, 64),
    "halt_poll_ns_shrink": (0, 64),
}
_KVM_FLOATS = {
    "tsc_ghz": (0.1, 10.0),
    "halt_poll_ns": (0.0, 1e9),
    "halt_poll_ns_grow_start": (0.0, 1e9),
    "vmexit_ns": (0.0, 1e8),
    "on_spin_scan_ns": (0.0, 1e8),
    "yield_to_ns": (0.0, 1e8),
    "context_switch_ns": (0.0, 1e8),
    "kick_ns": (0.0, 1e8),
    "wake_poll_ns": (0.0, 1e8),
    "wake_idle_ns": (0.0, 1e8),
    "wake_enqueue_ns": (0.0, 1e8),
    "halt_exit_ns": (0.0, 1e8),
}
_KVM_BOOLS = ("halted_if_runnable", "in_kernel_check", "dy_eligible", "kick_yield",
              "pv_unhalted_latch")
_HOST_BOOLS = ("gentle_fair_sleepers", "start_debit", "next_buddy", "last_buddy",
               "wakeup_preemption", "run_to_parity", "place_lag", "pick_buddy",
               "delay_dequeue", "group_per_vm")


def _valid_range(section: str, name: str):
    """(lo, hi) validity range of a numeric parameter, or None for a non-numeric one."""
    table = ({**_HOST_INTS, **_HOST_FLOATS} if section == "host"
             else {**_KVM_INTS, **_KVM_FLOATS})
    return table.get(name)


def _check_choice_key(obj, name: str, choices):
    """A string choice given as the keys of a code table."""
    _check_choice_field(obj, name, tuple(choices))


@dataclass(frozen=True)
class KVM(_ParamsMixin):
    """KVM on the host: module parameters, ``kvm_vcpu_on_spin``'s candidate rules by era
    (a switch each), halt polling, the guest-visible ``preempted`` flag, the PV-unhalted
    latch, and the mechanism costs in ns. VMX (Intel) semantics throughout.

    Defaults are KVM of 6.13 (virt/kvm/kvm_main.c, arch/x86/kvm/x86.h, vmx/vmx.c, read
    in ChenRuiwei/linux-6.13.7) with the costs of the ``current-6.13`` preset.

    PLE (``handle_pause``): a PAUSE loop that lasts ``ple_window`` TSC cycles, PAUSEs no
    more than ``ple_gap`` cycles apart, exits (``ple_gap = 0``: PLE off). Each exit
    multiplies the vCPU's window by ``ple_window_grow`` up to ``ple_window_max`` (3.18+;
    ``1`` keeps it fixed, as 3.10 did); the first sched-in after a deschedule divides it
    by ``ple_window_shrink`` (``0``: back to ``ple_window``).

    ``kvm_vcpu_on_spin`` (round robin from ``last_boosted_vcpu``): ``candidate`` is the
    first filter, ``"preempted"`` (involuntarily descheduled, 3.10-5.2) or ``"ready"``
    (also woken-not-yet-running, 5.3+); ``halted_if_runnable``: a halted candidate counts
    if it has a wake-up pending (3.19 ``kvm_arch_vcpu_runnable``, 5.3+
    ``vcpu_dy_runnable``: a pending kick), else halted ones are skipped; ``in_kernel_check``
    (4.14+): a preempted candidate must have been in guest kernel mode;
    ``dy_eligible`` (3.6+): a candidate that is itself in a PLE handler is taken only
    every second time; ``esrch_tries``: ``yield_to`` returning -ESRCH (both run queues
    hold one task) this many times ends the scan. ``kick_yield`` (5.3+, 266e85a5ec91):
    after ``KVM_HC_KICK_CPU`` the kicker yields to the kicked vCPU if it is ``ready`` and
    its own pCPU has another runnable task.

    Halt polling (4.3+; ``halt_poll_ns = 0``: none, as in 3.x): a halted vCPU alone on
    its pCPU polls up to its per-vCPU window before blocking; the window grows by
    ``halt_poll_ns_grow`` (from ``halt_poll_ns_grow_start``) and shrinks by
    ``halt_poll_ns_shrink`` (``0``: to 0), capped by ``halt_poll_ns``.

    Costs (ns), each a parameter because no source pins it for every machine; the
    presets give the value, its plausible range and the source (``data/hosts/``):
    ``vmexit_ns`` a VM exit plus the entry back (hardware round trip and KVM's exit
    dispatch); ``on_spin_scan_ns`` examining one candidate in ``kvm_vcpu_on_spin``;
    ``yield_to_ns`` one ``yield_to`` (``double_rq_lock``, buddies, a resched IPI to a
    remote target); ``context_switch_ns`` a host switch between vCPU threads
    (``schedule`` plus ``vcpu_put``/``vcpu_load``); ``kick_ns`` the kicker's time in the
    kick hypercall; wake latencies from the kick's start to the target back in the guest,
    by the target's state: halt-polling (``wake_poll_ns``), blocked with its pCPU idle
    (``wake_idle_ns``; the published 63.6-67.6 us), and, with its pCPU busy, the time to
    make it runnable there (``wake_enqueue_ns``; when it runs is the scheduler's
    decision, then it pays ``context_switch_ns``); ``halt_exit_ns`` an HLT exit and
    entry that does not block (the latch, an event already pending).
    """

    tsc_ghz: float = 2.0
    ple_window: int = 4096
    ple_gap: int = 128
    ple_window_grow: int = 2
    ple_window_shrink: int = 0
    ple_window_max: int = 2**32 - 1
    candidate: str = "ready"
    halted_if_runnable: bool = True
    in_kernel_check: bool = True
    dy_eligible: bool = True
    esrch_tries: int = 3
    kick_yield: bool = True
    halt_poll_ns: float = 200_000.0
    halt_poll_ns_grow: int = 2
    halt_poll_ns_grow_start: float = 10_000.0
    halt_poll_ns_shrink: int = 2
    preempted_flag: str = "involuntary"
    pv_unhalted_latch: bool = True
    vmexit_ns: float = 600.0
    on_spin_scan_ns: float = 30.0
    yield_to_ns: float = 1000.0
    context_switch_ns: float = 2000.0
    kick_ns: float = 7400.0
    wake_poll_ns: float = 2000.0
    wake_idle_ns: float = 63_600.0
    wake_enqueue_ns: float = 3000.0
    halt_exit_ns: float = 1000.0

    def __post_init__(self):
        for name, (lo, hi) in _KVM_FLOATS.items():
            _check_range(self, name, lo, hi)
        for name, (lo, hi) in _KVM_INTS.items():
            _check_int_field(self, name, lo, hi)
        for name in _KVM_BOOLS:
            _set(self, name, check_bool(name, getattr(self, name)))
        _check_choice_key(self, "candidate", CANDIDATE_RULES)
        _check_choice_key(self, "preempted_flag", PREEMPTED_FLAGS)
        if self.ple_window_max < self.ple_window:
            raise ValueError(f"ple_window_max must be an integer in [ple_window "
                             f"({self.ple_window}), {2**32 - 1}], got {self.ple_window_max!r}")

    @property
    def ple_enabled(self) -> bool:
        """KVM turns PLE off with ``ple_gap = 0`` (vmx.c ``hardware_setup``)."""
        return self.ple_gap != 0

    def cycles_to_ns(self, cycles: float) -> float:
        return cycles / self.tsc_ghz

    def ple_exit_ns(self, candidates: int, yielded: bool = True) -> float:
        """One PLE exit's cost on the spinner's pCPU, from its parts: the exit and entry,
        ``candidates`` vCPUs examined by ``kvm_vcpu_on_spin``, and one ``yield_to`` if a
        candidate passed the filters and was boosted. The context switch that follows a
        successful yield is the scheduler's (``context_switch_ns``), not counted here."""
        n = check_int("candidates", candidates, 0, 1 << 20)
        yielded = check_bool("yielded", yielded)
        return self.vmexit_ns + n * self.on_spin_scan_ns + (self.yield_to_ns if yielded else 0.0)


@dataclass(frozen=True)
class Host(_ParamsMixin):
    """A Linux host running KVM: its pCPUs, the scheduler with its tunables, and ``kvm``.

    ``pcpus`` pCPUs (one per core; SMT is not modelled) split evenly over ``sockets``.
    ``scheduler``: ``"cfs"`` (hosts up to 6.5), ``"eevdf"`` (6.6+) or ``"rr"`` (the old
    FIFO round robin with ``quantum_ns`` quanta, kept for the closed-form tests). ``hz``
    is ``CONFIG_HZ``: slice ends are seen at the tick (``HRTICK`` is off by default).

    Scheduler tunables are the kernel's *normalized* values; the kernel multiplies them
    by ``1 + ilog2(min(pcpus, 8))`` (``tunable_scaling = "log"``, the default), by
    ``min(pcpus, 8)`` (``"linear"``) or by 1 (``"none"``) (``get_update_sysctl_factor``;
    :meth:`derived` gives the scaled values). CFS (3.19 fair.c, features.h):
    ``sched_latency_ns`` 6 ms, ``sched_min_granularity_ns`` 0.75 ms,
    ``sched_wakeup_granularity_ns`` 1 ms; ``gentle_fair_sleepers`` halves the sleeper
    credit (``place_entity``); ``start_debit`` places new tasks one vslice late;
    ``next_buddy`` (``NEXT_BUDDY``, off by default: a wakee becomes next buddy only if it
    preempts; under EEVDF 6.6-6.12 it is what would make ``yield_to``'s target
    preferred); ``last_buddy``; ``wakeup_preemption``. EEVDF (6.13 fair.c, features.h):
    ``base_slice_ns`` 0.75 ms, ``run_to_parity``, ``place_lag``, ``pick_buddy`` (6.13's
    ``PICK_BUDDY``: ``yield_to``'s next buddy is picked if eligible), ``delay_dequeue``
    (6.12+). Fields of the other scheduler are ignored.

    ``group_per_vm``: one cgroup per VM with its ``VM.shares`` (libvirt's
    ``machine.slice`` layout), so VMs share by weight whatever their vCPU counts; else
    every vCPU thread is an independent nice-0 task. Load balancing of unpinned vCPUs:
    ``balance_busy_factor`` (32 in 3.19, 16 in 6.x) stretches a busy CPU's balance
    interval; ``migration_cost_ns`` (0.5 ms) is ``task_hot`` and the idle-balance
    threshold.

    Defaults: the ``current-6.13`` preset's kernel (EEVDF, HZ 1000, KVM of 6.13) on a
    small 8-pCPU, 1-socket machine (:meth:`preset` for the two eras).
    """

    pcpus: int = 8
    sockets: int = 1
    scheduler: str = "eevdf"
    hz: int = 1000
    sched_latency_ns: float = 6e6
    sched_min_granularity_ns: float = 7.5e5
    sched_wakeup_granularity_ns: float = 1e6
    tunable_scaling: str = "log"
    gentle_fair_sleepers: bool = True
    start_debit: bool = True
    next_buddy: bool = False
    last_buddy: bool = True
    wakeup_preemption: bool = True
    base_slice_ns: float = 7.5e5
    run_to_parity: bool = True
    place_lag: bool = True
    pick_buddy: bool = True
    delay_dequeue: bool = True
    group_per_vm: bool = True
    balance_busy_factor: int = 16
    migration_cost_ns: float = 5e5
    quantum_ns: float = 3e6
    kvm: KVM = KVM()

    def __post_init__(self):
        for name, (lo, hi) in _HOST_INTS.items():
            _check_int_field(self, name, lo, hi)
        if self.hz not in HZ_CHOICES:
            raise ValueError(f"hz must be one of {HZ_CHOICES!r}, got {self.hz!r}")
        if self.pcpus % self.sockets:
            raise ValueError(f"pcpus ({self.pcpus}) must split evenly over sockets "
                             f"({self.sockets}): pcpus must be a multiple of sockets")
        for name, (lo, hi) in _HOST_FLOATS.items():
            _check_range(self, name, lo, hi)
        for name in _HOST_BOOLS:
            _set(self, name, check_bool(name, getattr(self, name)))
        _check_choice_key(self, "scheduler", SCHEDULERS)
        _check_choice_field(self, "tunable_scaling", TUNABLE_SCALINGS)
        check_instance("kvm", self.kvm, KVM)

    @classmethod
    def from_dict(cls, d: dict, *, complete: bool = False):
        """As :meth:`_ParamsMixin.from_dict`; ``kvm`` may be a dict (nested, same rules)."""
        check_instance(f"{cls.__name__} parameters", d, dict)
        if isinstance(d.get("kvm"), dict):
            d = {**d, "kvm": KVM.from_dict(d["kvm"], complete=complete)}
        return super().from_dict(d, complete=complete)

    @property
    def pcpus_per_socket(self) -> int:
        return self.pcpus // self.sockets

    @property
    def factor(self) -> int:
        """``get_update_sysctl_factor()``: ``cpus = min(num_online_cpus(), 8)``, then 1,
        ``cpus`` or ``1 + ilog2(cpus)`` by ``tunable_scaling`` (3.19 and 6.13 fair.c)."""
        cpus = min(self.pcpus, 8)
        if self.tunable_scaling == "none":
            return 1
        if self.tunable_scaling == "linear":
            return cpus
        return 1 + (cpus.bit_length() - 1)  # ilog2 of a positive int

    def _jiffies_ns(self, ms: float) -> float:
        """``msecs_to_jiffies`` (rounds up to whole ticks), in ns."""
        tick = 1e9 / self.hz
        return math.ceil(ms * self.hz / 1000.0 - 1e-9) * tick

    def _balance_interval_ns(self, sd_weight: int, busy: bool) -> float:
        """``get_sd_balance_interval`` at a domain's starting interval (``min_interval =
        sd_weight`` ms), times ``busy_factor`` when busy, in whole ticks, clamped to
        [1 tick, ``max_load_balance_interval = HZ * num_online_cpus / 10`` ticks].
        (6.x also takes one tick off a busy interval so levels do not align; ignored.)"""
        ms = sd_weight * (self.balance_busy_factor if busy else 1)
        tick = 1e9 / self.hz
        hi = max(1, self.hz * self.pcpus // 10) * tick
        return min(max(self._jiffies_ns(ms), tick), hi)

    def derived(self) -> dict:
        """The numbers the kernel needs, in ns, by the kernel's rules (host-scheduling.md
        §1-§5): a plain dict with stable keys; ``int`` values go to ``LP``, ``float``
        values to ``P`` (booleans and choices as integer codes: :data:`SCHEDULERS`,
        :data:`CANDIDATE_RULES`, :data:`PREEMPTED_FLAGS`).

        Scheduler: ``factor``; ``sched_latency_ns``, ``sched_min_granularity_ns``,
        ``sched_wakeup_granularity_ns``, ``base_slice_ns`` scaled by it;
        ``sched_nr_latency`` (``DIV_ROUND_UP(latency, min_gran)``); ``tick_ns``;
        ``sleeper_credit_ns`` (CFS ``place_entity``: latency, halved if
        ``gentle_fair_sleepers``); ``eevdf_lag_limit_ns`` (the dequeue lag clamp
        ``max(2 * slice, TICK_NSEC)`` of a nice-0 entity); the load-balance intervals of
        the socket (LLC) domain and of the whole machine, idle and busy; feature flags.
        KVM: PLE window, gap and cap in ns with grow/shrink; the candidate rules; halt
        polling; the costs, and ``ple_exit_fixed_ns`` (exit and entry) so a PLE exit
        costs ``ple_exit_fixed_ns + n * on_spin_scan_ns (+ yield_to_ns)``
        (:meth:`KVM.ple_exit_ns`).
        """
        f = self.factor
        k = self.kvm
        latency = f * self.sched_latency_ns
        min_gran = f * self.sched_min_granularity_ns
        slice_ = f * self.base_slice_ns
        tick = 1e9 / self.hz
        d = {
            "pcpus": self.pcpus,
            "sockets": self.sockets,
            "pcpus_per_socket": self.pcpus_per_socket,
            "scheduler": SCHEDULERS[self.scheduler],
            "hz": self.hz,
            "tick_ns": tick,
            "factor": f,
            "sched_latency_ns": latency,
            "sched_min_granularity_ns": min_gran,
            "sched_wakeup_granularity_ns": f * self.sched_wakeup_granularity_ns,
            "sched_nr_latency": max(1, math.ceil(latency / min_gran - 1e-9)),
            "sleeper_credit_ns": latency / 2 if self.gentle_fair_sleepers else latency,
            "gentle_fair_sleepers": int(self.gentle_fair_sleepers),
            "start_debit": int(self.start_debit),
            "next_buddy": int(self.next_buddy),
            "last_buddy": int(self.last_buddy),
            "wakeup_preemption": int(self.wakeup_preemption),
            "base_slice_ns": slice_,
            "eevdf_lag_limit_ns": max(2.0 * slice_, tick),
            "run_to_parity": int(self.run_to_parity),
            "place_lag": int(self.place_lag),
            "pick_buddy": int(self.pick_buddy),
            "delay_dequeue": int(self.delay_dequeue),
            "group_per_vm": int(self.group_per_vm),
            "balance_busy_factor": self.balance_busy_factor,
            "migration_cost_ns": self.migration_cost_ns,
            "balance_interval_socket_ns": self._balance_interval_ns(self.pcpus_per_socket, False),
            "balance_interval_socket_busy_ns": self._balance_interval_ns(self.pcpus_per_socket,
                                                                         True),
            "balance_interval_machine_ns": self._balance_interval_ns(self.pcpus, False),
            "balance_interval_machine_busy_ns": self._balance_interval_ns(self.pcpus, True),
            "quantum_ns": self.quantum_ns,
            # KVM
            "tsc_ghz": k.tsc_ghz,
            "ple_enabled": int(k.ple_enabled),
            "ple_window_ns": k.cycles_to_ns(k.ple_window),
            "ple_gap_ns": k.cycles_to_ns(k.ple_gap),
            "ple_window_max_ns": k.cycles_to_ns(k.ple_window_max),
            "ple_window_grow": k.ple_window_grow,
            "ple_window_shrink": k.ple_window_shrink,
            "on_spin_candidate": CANDIDATE_RULES[k.candidate],
            "on_spin_halted_if_runnable": int(k.halted_if_runnable),
            "on_spin_in_kernel_check": int(k.in_kernel_check),
            "on_spin_dy_eligible": int(k.dy_eligible),
            "on_spin_esrch_tries": k.esrch_tries,
            "kick_yield": int(k.kick_yield),
            "halt_poll_enabled": int(k.halt_poll_ns > 0.0),
            "halt_poll_ns": k.halt_poll_ns,
            "halt_poll_ns_grow": k.halt_poll_ns_grow,
            "halt_poll_ns_grow_start": k.halt_poll_ns_grow_start,
            "halt_poll_ns_shrink": k.halt_poll_ns_shrink,
            "preempted_flag": PREEMPTED_FLAGS[k.preempted_flag],
            "pv_unhalted_latch": int(k.pv_unhalted_latch),
            "ple_exit_fixed_ns": k.ple_exit_ns(0, yielded=False),
        }
        for name in ("vmexit_ns", "on_spin_scan_ns", "yield_to_ns", "context_switch_ns",
                     "kick_ns", "wake_poll_ns", "wake_idle_ns", "wake_enqueue_ns",
                     "halt_exit_ns"):
            d[name] = getattr(k, name)
        return d

    def check_vms(self, vms) -> tuple:
        """``vms`` as a tuple of :class:`VM` that fit this host: at least one, unique
        names, every ``cpuset`` inside ``[0, pcpus)``."""
        if isinstance(vms, VM):
            vms = (vms,)
        if not isinstance(vms, (list, tuple)) or not vms:
            raise ValueError(f"vms must be a non-empty list of VM, got {vms!r}")
        seen = set()
        for i, vm in enumerate(vms):
            check_instance(f"vms[{i}]", vm, VM)
            if vm.name in seen:
                raise ValueError(f"VM names must be unique, {vm.name!r} appears twice")
            seen.add(vm.name)
            vm.cpus(self)
        return tuple(vms)

    # ---------------------------------------------------------------- presets

    @classmethod
    def preset(cls, name: str) -> Host:
        """The host preset ``data/hosts/<name>.json`` (see :func:`load_host_preset`)."""
        return cls.from_dict(_preset_values(load_host_preset(name)), complete=True)

    @staticmethod
    def presets() -> list[str]:
        """Names of the host presets in ``data/hosts/``."""
        return sorted(p.stem for p in HOSTS.glob("*.json")) if HOSTS.exists() else []

    @staticmethod
    def preset_sources(name: str) -> dict:
        """``{"pcpus": source, ..., "kvm.vmexit_ns": source}`` of a preset."""
        return {k: e["source"] for k, e in _entries(load_host_preset(name))}

    @staticmethod
    def preset_ranges(name: str) -> dict:
        """``{"kvm.vmexit_ns": (lo, hi), ...}``: the stated range of each numeric value
        of a preset (what a study sweeps)."""
        return {k: tuple(e["range"]) for k, e in _entries(load_host_preset(name))
                if "range" in e}


_VM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class VM(_ParamsMixin):
    """One VM on a :class:`Host`: ``vcpus`` vCPUs running ``lock`` with ``workload``.

    ``lock``: a lock name of :data:`pvqmodel.locks.REGISTRY` (aliases accepted, stored
    as the canonical name; a PV lock means PV spinlocks on), or ``None`` for a CPU-bound
    loop that takes no lock and never halts (today's background vCPUs). ``workload``: the
    lock's :class:`~pvqmodel.params.Workload` (``None`` with a lock: ``Workload()``; must
    be ``None`` without one). Each operation is lock, critical section, unlock, the
    workload's loop overhead, then ``think_ns`` of think time drawn from ``think_dist``
    (``"det"``, ``"exp"``, ``"lognormal"`` with coefficient of variation ``think_cv``),
    spent running (``think = "compute"``) or idle in HLT (``"sleep"``: the vCPU halts, KVM
    may poll, then blocks; a timer wakes it). ``ops`` operations per vCPU, or ``None``:
    run for the simulation's duration.

    ``placement``: ``"free"`` (the host's load balancer moves the vCPUs) or ``"pinned"``
    (vCPU i on pCPU ``lo + i mod (hi - lo)``); ``cpuset = (lo, hi)``: the pCPUs ``lo ..
    hi - 1`` the VM may use (half-open, like ``range``), ``None``: all of them.
    ``shares``: the VM cgroup's ``cpu.shares`` (cgroup v1, 2 .. 262144; 1024 default)
    when the host has ``group_per_vm``. ``tunables``: a
    :class:`~pvqmodel.sim.LockTunables` for the lock, or ``None`` (kernel values).

    The workload (issue 15; a lock VM only): ``locks`` lock instances (1..4096, each lock
    word on its own cache line; the per-CPU queue nodes are shared by all of them, as the
    kernel's per-CPU ``qnodes`` are); each operation takes one, ``lock_choice =
    "uniform"`` or ``"zipf"`` (rank r = instance r - 1 with probability proportional to
    ``r ** -zipf_s``, ``zipf_s`` in [0, 4]). The critical section's distribution is the
    workload's (``Workload.cs_dist``: ``"det"``, ``"exp"`` or ``"lognormal"`` with
    ``cs_cv``). ``ipi_per_op`` in [0, 1]: the probability that an operation ends (after
    its unlock and loop overhead, before its think time) with a synchronous IPI, a TLB
    shootdown to the VM's other vCPUs that the sender waits on until each has run a
    ``ipi_handler_ns`` handler (0..1e9; the default 1 us is a prior: interrupt entry and
    exit plus ``flush_tlb_func`` of a few pages, not a measured value); a preempted target
    stalls the sender until it runs again. ``pv_tlb_flush``: the guest uses KVM's
    ``KVM_FEATURE_PV_TLB_FLUSH`` (4.16+): targets whose steal-time ``preempted`` flag is
    set are flagged for a flush at their next entry instead of waited for. It needs no
    PV spinlocks (any KVM guest with steal time), but only matters where vCPUs are
    preempted, and only with a host whose ``kvm.preempted_flag`` is not ``"none"`` (the
    guest reads the flag KVM writes). Model and simplifications: ``pvqmodel.engine.ipi``.
    """

    name: str
    vcpus: int
    lock: str | None = None
    workload: Workload | None = None
    think_ns: float = 0.0
    think_dist: str = "det"
    think_cv: float = 1.0
    think: str = "compute"
    ops: int | None = None
    placement: str = "free"
    cpuset: tuple | None = None
    shares: int = 1024
    tunables: object = None
    locks: int = 1
    lock_choice: str = "uniform"
    zipf_s: float = 1.0
    ipi_per_op: float = 0.0
    ipi_handler_ns: float = 1000.0
    pv_tlb_flush: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not _VM_NAME.match(self.name):
            raise ValueError("name must be 1-64 characters of letters, digits, '_', '.', '-' "
                             f"(starting with a letter or digit), got {self.name!r}")
        _check_int_field(self, "vcpus", 1, MAX_VM_VCPUS)
        if self.lock is not None:
            from .locks import ALIASES, BY_NAME

            name = ALIASES.get(self.lock, self.lock) if isinstance(self.lock, str) else None
            if name not in BY_NAME:
                raise ValueError(f"lock must be one of {sorted(BY_NAME)} (or an alias: "
                                 f"{sorted(ALIASES)}) or None, got {self.lock!r}")
            _set(self, "lock", name)
            if self.workload is None:
                _set(self, "workload", Workload())
        elif self.workload is not None:
            raise ValueError("workload must be None when lock is None (a CPU-bound loop "
                             f"takes no lock), got {self.workload!r}")
        check_instance("workload", self.workload, Workload, none_ok=True)
        _check_range(self, "think_ns", 0.0, 1e10)
        _check_choice_key(self, "think_dist", THINK_DISTS)
        _check_range(self, "think_cv", 0.0, 100.0)
        _check_choice_field(self, "think", THINK_MODES)
        if self.lock is None and self.think != "compute":
            raise ValueError("think must be 'compute' when lock is None (a CPU-bound loop "
                             f"never halts), got {self.think!r}")
        if self.ops is not None:
            _check_int_field(self, "ops", 1, 10**12)
        _check_choice_field(self, "placement", VM_PLACEMENTS)
        if self.cpuset is not None:
            c = self.cpuset
            if not isinstance(c, (tuple, list)) or len(c) != 2:
                raise ValueError(f"cpuset must be None or a pair (lo, hi) of pCPU indices, "
                                 f"got {c!r}")
            lo = check_int("cpuset lo", c[0], 0, 255)
            hi = check_int("cpuset hi", c[1], lo + 1, 256)
            _set(self, "cpuset", (lo, hi))
        _check_int_field(self, "shares", 2, 1 << 18)
        if self.tunables is not None:
            if self.lock is None:
                raise ValueError("tunables must be None when lock is None, got "
                                 f"{self.tunables!r}")
            from .sim import LockTunables  # numba: only when tunables are given

            check_instance("tunables", self.tunables, LockTunables, none_ok=True)
        _check_int_field(self, "locks", 1, 4096)
        _check_choice_field(self, "lock_choice", LOCK_CHOICES)
        _check_range(self, "zipf_s", 0.0, 4.0)
        _check_range(self, "ipi_per_op", 0.0, 1.0)
        _check_range(self, "ipi_handler_ns", 0.0, 1e9)
        _set(self, "pv_tlb_flush", check_bool("pv_tlb_flush", self.pv_tlb_flush))
        if self.lock is None and (self.locks != 1 or self.lock_choice != "uniform"
                                  or self.ipi_per_op > 0):
            raise ValueError("locks, lock_choice and ipi_per_op need a lock (a CPU-bound VM "
                             f"runs no workload loop): got locks={self.locks}, lock_choice="
                             f"{self.lock_choice!r}, ipi_per_op={self.ipi_per_op} with "
                             "lock=None")

    @classmethod
    def from_dict(cls, d: dict, *, complete: bool = False):
        """As :meth:`_ParamsMixin.from_dict`; ``workload`` and ``tunables`` may be dicts
        and ``cpuset`` a list (what :meth:`to_dict` and JSON give back)."""
        check_instance(f"{cls.__name__} parameters", d, dict)
        d = dict(d)
        if isinstance(d.get("workload"), dict):
            d["workload"] = Workload.from_dict(d["workload"], complete=complete)
        if isinstance(d.get("tunables"), dict):
            from .sim import LockTunables

            d["tunables"] = LockTunables(**d["tunables"])
        if isinstance(d.get("cpuset"), list):
            d["cpuset"] = tuple(d["cpuset"])
        return super().from_dict(d, complete=complete)

    @property
    def pv(self) -> bool:
        """The lock has the PV hooks (halt and kick) compiled in."""
        if self.lock is None:
            return False
        from .locks import BY_NAME

        return BY_NAME[self.lock].pv

    def cpus(self, host: Host) -> tuple[int, int]:
        """The pCPU range ``(lo, hi)`` this VM may use on ``host``; raises if its
        ``cpuset`` does not fit there."""
        check_instance("host", host, Host)
        if self.cpuset is None:
            return 0, host.pcpus
        lo, hi = self.cpuset
        if hi > host.pcpus:
            raise ValueError(f"cpuset of VM {self.name!r} must lie in [0, pcpus={host.pcpus}), "
                             f"got {self.cpuset!r}")
        return lo, hi

    def derived(self, host: Host) -> dict:
        """The VM's numbers for the kernel on ``host`` (ints for ``LP``, floats for
        ``P``): ``vcpus``, ``ops`` (-1: run for the duration), ``think_ns``,
        ``think_dist`` (:data:`THINK_DISTS`), ``think_sleep``, the lognormal's
        ``think_mu``/``think_sigma`` (of ln ns; ``sigma^2 = ln(1 + cv^2)``,
        ``mu = ln(mean) - sigma^2 / 2``, so the mean is ``think_ns``), ``pinned``,
        ``cpuset_lo``/``cpuset_hi`` (half-open) and ``shares``. The lock's id is
        ``pvqmodel.sim.LOCKS[vm.lock]``."""
        lo, hi = self.cpus(host)
        sigma2 = math.log1p(self.think_cv**2)
        mu = math.log(self.think_ns) - sigma2 / 2 if self.think_ns > 0 else 0.0
        return {
            "vcpus": self.vcpus,
            "ops": -1 if self.ops is None else self.ops,
            "think_ns": self.think_ns,
            "think_dist": THINK_DISTS[self.think_dist],
            "think_sleep": int(self.think == "sleep"),
            "think_mu": mu,
            "think_sigma": math.sqrt(sigma2),
            "pinned": int(self.placement == "pinned"),
            "cpuset_lo": lo,
            "cpuset_hi": hi,
            "shares": self.shares,
        }


# -------------------------------------------------------------------- preset files

#: The keys of a host preset file, all required, no others.
HOST_PRESET_KEYS = ("name", "summary", "machine", "host")
_ENTRY_KEYS = {"value", "source", "range"}


def host_preset_path(name: str):
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"host preset name must be a plain file stem, got {name!r}")
    return HOSTS / f"{name}.json"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _entries(doc: dict):
    """(dotted name, entry) of every value of a loaded preset, host fields then kvm's."""
    for k, e in doc["host"].items():
        if k == "kvm":
            for kk, ee in e.items():
                yield f"kvm.{kk}", ee
        else:
            yield k, e


def _preset_values(doc: dict) -> dict:
    values = {k: e["value"] for k, e in doc["host"].items() if k != "kvm"}
    values["kvm"] = {k: e["value"] for k, e in doc["host"]["kvm"].items()}
    return values


def _check_entry(where: str, key: str, entry, section: str, name: str):
    """One ``{"value", "source", "range"?}`` entry: a non-empty source; numeric values
    carry ``range: [lo, hi]`` inside the parameter's validity range and holding the
    value; other values carry none."""
    at = f"{where}, {key}"
    if not isinstance(entry, dict):
        raise ValueError(f"{at} must be an object {{\"value\", \"source\", \"range\"}}, "
                         f"got {entry!r}")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown or "value" not in entry or "source" not in entry:
        raise ValueError(f"{at}: keys must be 'value', 'source' and (numbers only) 'range'; "
                         f"got {sorted(entry)}")
    src = entry["source"]
    if not isinstance(src, str) or not src.strip():
        raise ValueError(f"{at}: source must be a non-empty string, got {src!r}")
    value = entry["value"]
    if _is_number(value):
        rng = entry.get("range")
        if (not isinstance(rng, list) or len(rng) != 2 or not all(map(_is_number, rng))
                or not rng[0] <= rng[1]):
            raise ValueError(f"{at}: a numeric value needs range [lo, hi] with lo <= hi, "
                             f"got {rng!r}")
        if not rng[0] <= value <= rng[1]:
            raise ValueError(f"{at}: value {value!r} outside its stated range {rng!r}")
        valid = _valid_range(section, name)
        if valid is not None and not (valid[0] <= rng[0] and rng[1] <= valid[1]):
            raise ValueError(f"{at}: stated range {rng!r} must lie within the valid range "
                             f"[{valid[0]}, {valid[1]}]")
    elif "range" in entry:
        raise ValueError(f"{at}: only numeric values take a range, got range "
                         f"{entry['range']!r} for value {value!r}")


def _check_section(where: str, section: dict, cls, label: str, skip=()):
    if not isinstance(section, dict):
        raise ValueError(f"{where}: {label} must be a JSON object, got {type(section).__name__}")
    names = {f.name for f in fields(cls)} - set(skip)
    unknown = sorted(set(section) - names - set(skip))
    missing = sorted(names - set(section))
    if unknown or missing:
        raise ValueError(f"{where}: {label} has unknown key(s) {unknown}, missing key(s) "
                         f"{missing}")
    for name in sorted(names):
        key = name if label == "host" else f"kvm.{name}"
        _check_entry(where, key, section[name], "host" if label == "host" else "kvm", name)


def load_host_preset(name: str) -> dict:
    """The host preset document ``data/hosts/<name>.json``, validated strictly: valid
    JSON, exactly :data:`HOST_PRESET_KEYS`, its own name, a ``host`` section with every
    :class:`Host` field and a ``kvm`` section with every :class:`KVM` field, each as
    ``{"value": ..., "source": "...", "range": [lo, hi]}`` (range for numbers only, the
    value inside it, the range inside the parameter's validity range), and values that
    pass :class:`Host`/:class:`KVM` validation. Anything wrong raises ``ValueError``
    naming the file and the field."""
    path = host_preset_path(name)
    if not path.exists():
        raise ValueError(f"unknown host preset {name!r}; available: {Host.presets()}")
    where = f"host preset {name!r} ({path})"
    doc = load_preset_document(path, name, where, HOST_PRESET_KEYS, "a host preset")
    for key in ("summary", "machine"):
        if not isinstance(doc[key], str) or not doc[key].strip():
            raise ValueError(f"{where}: {key} must be a non-empty string")
    _check_section(where, doc["host"], Host, "host", skip=("kvm",))
    if "kvm" not in doc["host"]:
        raise ValueError(f"{where}: host has unknown key(s) [], missing key(s) ['kvm']")
    _check_section(where, doc["host"]["kvm"], KVM, "kvm")
    try:
        Host.from_dict(_preset_values(doc), complete=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    return doc
