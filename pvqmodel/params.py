"""Simulation parameters: small frozen dataclasses validated on construction.

Owns the physical meaning, units, default values and allowed ranges of every
parameter the engine takes, and the named hardware presets stored as JSON under
``data/hardware/`` (values plus the calibration report that produced them). A bad
value raises ``ValueError`` naming the parameter and its allowed range here, in
Python, before any kernel runs. ``Hardware`` is the machine (cache-coherence and
pipeline costs, socket topology); ``Workload`` is what the tasks do (the seed's
micro-benchmark: critical section and loop overhead, their distributions, and the
rule that places tasks on sockets); ``Schedule`` is the hypervisor (pCPUs,
overcommit by background vCPUs of other VMs, quanta, placement, halt/kick/wake
latencies, interrupts, KVM's PV-unhalted latch, pause-loop exiting with directed
yield, wake-up preemption).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from .paths import HARDWARE
from .validate import check_bool, check_choice, check_float, check_instance, check_int

#: Allowed ranges (inclusive) used for validation. They are *validity* ranges (what the
#: engine can run), wider than the physically plausible calibration bounds in
#: :data:`pvqmodel.mechanisms.MECH_BOUNDS`.
_HW_RANGES = {
    "hit_ns": (0.0, 100.0),
    "rmw_ns": (0.0, 1000.0),
    "pause_ns": (0.0, 1000.0),
    "service_ns": (0.0, 10_000.0),
    "xfer_same_ns": (0.0, 10_000.0),
    "xfer_cross_ns": (0.0, 10_000.0),
    "shared_ns": (0.0, 10_000.0),
    "overlap": (0.0, 1.0),
    "pv_call_ns": (0.0, 1000.0),
    "pv_iter_ns": (0.0, 1000.0),
    "drain_ns": (0.0, 1e7),
    "upgrade_ns": (0.0, 10_000.0),
    "read_serial_ns": (0.0, 10_000.0),
    "snoop_frac": (0.0, 1.0),
    "jitter": (0.0, 0.5),
    "locked_gap_ns": (0.0, 10_000.0),
}
_MEMORY_MODELS = ("tso", "sc")


def _set(obj, name, value):
    """Store a normalized value on a frozen dataclass."""
    object.__setattr__(obj, name, value)


def _check_range(obj, name: str, lo, hi):
    _set(obj, name, check_float(name, getattr(obj, name), lo, hi))


def _check_int_field(obj, name: str, lo, hi):
    _set(obj, name, check_int(name, getattr(obj, name), lo, hi))


def _check_choice_field(obj, name: str, choices):
    _set(obj, name, check_choice(name, getattr(obj, name), choices))


class _ParamsMixin:
    """Copy, serialization and strict loading shared by the frozen parameter objects."""

    def replace(self, **kw):
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, *, complete: bool = False):
        """Build from a dict; unknown keys are errors, and with ``complete=True`` (how
        presets are loaded) so are missing ones: a preset states every value."""
        check_instance(f"{cls.__name__} parameters", d, dict)
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} parameter(s): {sorted(unknown)}")
        missing = names - set(d)
        if complete and missing:
            raise ValueError(f"missing {cls.__name__} parameter(s): {sorted(missing)}")
        return cls(**d)


@dataclass(frozen=True)
class Hardware(_ParamsMixin):
    """Cache-coherence and pipeline costs of one machine, in ns, and its sockets.

    Defaults are priors for a 2.4 GHz Westmere-EX (kernel-locks.md §7): L1 hit ~4
    cycles, locked RMW ~20 extra cycles, PAUSE ~10 cycles (pre-Skylake), a Modified-line
    transfer ~100 cycles on the same socket and ~250-300 cycles across one QPI hop, an
    LLC hit for a line held shared ~40 cycles; 10 cores per socket, 4 sockets. The
    calibrated values are the ``westmere-ex`` preset (:meth:`preset`).
    """

    hit_ns: float = 1.7
    rmw_ns: float = 8.0
    pause_ns: float = 4.0
    service_ns: float = 10.0
    xfer_same_ns: float = 45.0
    xfer_cross_ns: float = 115.0
    shared_ns: float = 17.0
    overlap: float = 0.5
    cores_per_socket: int = 10
    sockets: int = 4
    #: a paravirt hook taken on a PV lock's lock/unlock path (indirect call, static key)
    pv_call_ns: float = 2.0
    #: the PV checks a PV lock's spin loop runs each iteration (count test, state load)
    pv_iter_ns: float = 0.5
    #: ``"tso"``: plain stores wait in a store buffer (x86); ``"sc"``: each store completes
    #: before the next step (sequential consistency)
    memory_model: str = "tso"
    #: x86-TSO only: mean extra time (exponential) a plain store waits in the store
    #: buffer before its RFO is issued; 0 = issued at once (the calibrated machine)
    drain_ns: float = 0.0
    # The coherence mechanisms of coherence-mechanisms.md (issue 16), each a switch whose
    # default is the older model, so that its effect can be measured (an ablation):
    #: 2: an RFO of a line held Shared costs ``shared_ns`` for an upgrade of one's own copy
    #: and ``xfer_same_ns`` otherwise; 3: it is its own class U, ``upgrade_ns``
    latency_classes: int = 2
    #: U: an RFO that invalidates Shared copies (with ``latency_classes=3``), ns
    upgrade_ns: float = 50.0
    #: S: the home's occupancy by a read of a line held Shared (same-address reads are
    #: serialised at the LLC slice), ns; 0: reads do not occupy the home beyond its lookup
    read_serial_ns: float = 0.0
    #: the snoop reaches the line's holders this fraction of the transaction latency after
    #: the home's lookup; 0: at the lookup
    snoop_frac: float = 0.0
    #: relative half-width of a uniform jitter on every transaction's latency; 0: none
    jitter: float = 0.0
    #: a locked operation that waited for its store buffer to drain starts this long after
    #: the drain (the releaser's next locked op against the waiter's queued snoop), ns
    locked_gap_ns: float = 0.0
    #: True: a locked RMW's time (``rmw_ns``) also occupies the line's home (the older
    #: model); False: the home serves the next request while the new owner's RMW runs
    #: in its core (whose snoop still waits for the RMW: the line is locked in its L1)
    rmw_holds_home: bool = True
    #: x86-TSO store-buffer entries the model tracks: 1, the older model (a store waits
    #: for the one before it to drain); 2..4: a younger store's RFO is issued while older
    #: ones are in flight (a prefetch for ownership), and stores commit in order
    store_buffer: int = 1

    def __post_init__(self):
        for name, (lo, hi) in _HW_RANGES.items():
            _check_range(self, name, lo, hi)
        _check_int_field(self, "latency_classes", 2, 3)
        _set(self, "rmw_holds_home", check_bool("rmw_holds_home", self.rmw_holds_home))
        _check_int_field(self, "store_buffer", 1, 4)
        if self.store_buffer > 1 and (self.memory_model != "tso" or self.drain_ns != 0.0):
            raise ValueError("store_buffer > 1 needs memory_model='tso' and drain_ns=0 (the "
                             "drain delay is modelled for a one-entry buffer only; "
                             "Hardware.with_memory_model sets the three together), got "
                             f"memory_model={self.memory_model!r}, "
                             f"drain_ns={self.drain_ns!r}")
        _check_choice_field(self, "memory_model", _MEMORY_MODELS)
        if self.memory_model == "sc" and self.drain_ns != 0.0:
            raise ValueError("drain_ns must be 0 with memory_model='sc' (no store buffer), "
                             f"got {self.drain_ns!r}")
        for name, hi in (("cores_per_socket", 4096), ("sockets", 64)):
            _check_int_field(self, name, 1, hi)
        if self.hit_ns + self.pause_ns <= 0.0:
            raise ValueError(
                "hit_ns + pause_ns (one spin iteration) must be > 0, got "
                f"{self.hit_ns + self.pause_ns!r}"
            )

    @property
    def cores(self) -> int:
        return self.cores_per_socket * self.sockets

    def with_memory_model(self, memory_model: str, drain_ns: float = 0.0) -> Hardware:
        """This machine under ``memory_model`` with store-buffer drain delay ``drain_ns``
        (the lost-wake-up hunt's setting; a delay needs ``"tso"``): with ``"sc"`` or a
        drain delay the store buffer has one entry (the delay is modelled for one entry),
        otherwise it keeps its own."""
        drain_ns = check_float("drain_ns", drain_ns, *_HW_RANGES["drain_ns"])
        one = memory_model != "tso" or drain_ns > 0.0
        return self.replace(memory_model=memory_model, drain_ns=drain_ns,
                            store_buffer=1 if one else self.store_buffer)

    @classmethod
    def preset(cls, name: str = "westmere-ex") -> Hardware:
        """Load a named preset from ``data/hardware/<name>.json``."""
        return cls.from_dict(load_preset(name)["hardware"], complete=True)

    @classmethod
    def zero_cost(cls, **kw) -> Hardware:
        """All coherence costs zero (a spin iteration still costs ``pause_ns``): the lock
        reduces to a single server, the setting of the queueing-theory checks."""
        base = dict(hit_ns=0.0, rmw_ns=0.0, pause_ns=1e-3, service_ns=0.0, xfer_same_ns=0.0,
                    xfer_cross_ns=0.0, shared_ns=0.0, overlap=0.0)
        base.update(kw)
        return cls(**base)


_DISTS = ("det", "exp")
#: The critical section may also be lognormal (its coefficient of variation ``cs_cv``).
_CS_DISTS = ("det", "exp", "lognormal")
_PLACEMENTS = ("scatter", "compact")


@dataclass(frozen=True)
class Workload(_ParamsMixin):
    """The seed's micro-benchmark: each task does lock; critical section; unlock; loop
    overhead; K times. Times in ns; ``*_dist`` is ``"det"`` or ``"exp"``; the critical
    section may also be ``"lognormal"`` with mean ``cs_ns`` and coefficient of variation
    ``cs_cv`` (0..100; ``sigma^2 = ln(1 + cv^2)``, ``mu = ln(cs_ns) - sigma^2 / 2``; the
    workloads of issue 15). ``cs_cv`` is used by the lognormal only.

    ``placement`` puts task i on socket ``i % sockets`` (``"scatter"``, what the Linux
    load balancer does with a few busy tasks on an idle NUMA machine) or fills one
    socket first (``"compact"``).
    """

    cs_ns: float = 2.0
    loop_ns: float = 10.0
    cs_dist: str = "det"
    loop_dist: str = "det"
    placement: str = "scatter"
    cs_cv: float = 1.0

    def __post_init__(self):
        _check_range(self, "cs_ns", 0.0, 1e9)
        _check_range(self, "loop_ns", 0.0, 1e9)
        _check_choice_field(self, "cs_dist", _CS_DISTS)
        _check_choice_field(self, "loop_dist", _DISTS)
        _check_choice_field(self, "placement", _PLACEMENTS)
        _check_range(self, "cs_cv", 0.0, 100.0)

    @classmethod
    def seed_benchmark(cls, preset: str = "westmere-ex") -> Workload:
        """The seed's micro-benchmark as calibrated with the named hardware preset."""
        return cls.from_dict(load_preset(preset)["workload"], complete=True)


_PLACES = ("pinned", "free")
#: KVM's ``ple_window`` default, 4096 TSC cycles, at 2.4 GHz (Westmere-EX E7-8870), ns
PLE_WINDOW_NS = 4096 / 2.4
#: KVM's ``KVM_VMX_DEFAULT_PLE_WINDOW_MAX`` (``UINT_MAX`` cycles) at 2.4 GHz, ns
PLE_WINDOW_MAX_NS = 2.0**32 / 2.4
#: KVM's ``ple_gap`` default, 128 cycles, at 2.4 GHz, ns
PLE_GAP_NS = 128 / 2.4


@dataclass(frozen=True)
class Schedule(_ParamsMixin):
    """The hypervisor around the VM: who gets a pCPU, for how long, and what halting
    and kicking cost. Times in ns; ``*_dist`` is ``"det"`` or ``"exp"``.

    ``pcpus=None`` with ``overcommit=1`` is the *dedicated* machine (every vCPU has its
    own pCPU, nothing else runs: the seed's bare-metal setting; the engine then runs no
    scheduler at all and gives the native results bit for bit). Otherwise ``pcpus``
    pCPUs (default: one per VM vCPU) run ``round(overcommit * pcpus)`` vCPUs in all, the
    VM's and, for the rest, always-busy background vCPUs of other VMs, round-robin for
    a quantum each (CFS ``sched_min_granularity`` 0.75 ms x (1 + log2 8) = 3 ms by
    default; kernel-locks.md §5.4), with a random phase at start. ``placement``:
    ``"pinned"`` (vCPU i on pCPU i mod pcpus) or ``"free"`` (one run queue; any idle
    pCPU takes the next vCPU). Halting: ``halt_ns`` is the HLT VM exit/entry the halted
    vCPU pays when it runs again; ``kick_ns`` the kicker's time in the kick hypercall
    (9.3 us on Westmere-EX) and ``wake_ns`` the time from kick to the target being
    runnable (the measured 67.6 us kick-to-return minus a little; kernel-locks.md §5.3);
    ``spurious_ns`` the mean time between interrupts that wake a halted vCPU (0: none, so
    a lost wake-up is not rescued); ``latch`` is KVM's "PV-unhalted" flag (a kick that
    reaches a vCPU before it halts makes its next HLT return at once).

    Pause-loop exiting (VMX PLE; kernel-locks.md §5.2), off with ``ple_window_ns=None``:
    a vCPU whose PAUSE loop has lasted its window, on its pCPU, takes a VM exit. A loop
    goes on while the time between two PAUSEs stays within ``ple_gap_ns`` (KVM's
    ``ple_gap`` 128 cycles = 53 ns at 2.4 GHz): a re-read after an invalidation
    continues it only if the miss is that fast; lock code, a VM entry or a slower miss
    starts a new loop. KVM's defaults: ``ple_window`` 4096 cycles = 1707 ns at 2.4 GHz;
    multiplied by ``ple_grow`` (``ple_window_grow`` 2) at each exit up to
    ``ple_window_max_ns`` (``UINT_MAX`` cycles = 1.79 s at 2.4 GHz: no practical cap)
    and back to the base when the vCPU is scheduled in again (``ple_window_shrink`` 0,
    ``vmx_sched_in``). ``ple_exit_ns`` is the exit's cost on the pCPU: VM exit and entry
    (a few hundred cycles on Westmere) plus ``kvm_vcpu_on_spin`` (a scan of the VM's
    vCPUs and ``yield_to``: run-queue locks, maybe a reschedule IPI); 2 us by default,
    an estimate, not a measurement. At the
    end of the exit the directed yield picks the next VM vCPU after
    ``last_boosted_vcpu`` that is runnable but not running (preempted or woken and
    queued) and runs it next, or one halted with its kick on its way, which then runs
    as soon as the kick lands; the spinner then gives its pCPU to whoever waits on its
    run queue, if anyone (engine/hypervisor.py). A target on another pCPU's run queue
    (pinned placement) is put at its head, and that pCPU switches to it when the
    reschedule IPI has reached it and the vCPU running there has exited:
    ``resched_ns`` later (``resched_curr``; default KVM's ``vmexit_ns`` of
    :class:`pvqmodel.KVM`, the exit dominates the IPI's delivery).
    ``wakeup_preempt``: a woken vCPU (kick or interrupt) preempts the entity on its pCPU
    at once (CFS ``check_preempt_wakeup``) instead of waiting for the quantum's end.
    """

    pcpus: int | None = None
    overcommit: float = 1.0
    quantum_ns: float = 3e6
    quantum_dist: str = "det"
    placement: str = "pinned"
    halt_ns: float = 1500.0
    kick_ns: float = 9300.0
    wake_ns: float = 58000.0
    wake_dist: str = "det"
    spurious_ns: float = 0.0
    latch: bool = True
    ple_window_ns: float | None = None
    ple_exit_ns: float = 2000.0
    ple_grow: int = 2
    ple_window_max_ns: float = PLE_WINDOW_MAX_NS
    ple_gap_ns: float = PLE_GAP_NS
    wakeup_preempt: bool = False
    resched_ns: float = 600.0

    def __post_init__(self):
        if self.pcpus is not None:
            _check_int_field(self, "pcpus", 1, 256)
        _check_range(self, "overcommit", 1.0, 64.0)
        _check_range(self, "quantum_ns", 1.0, 1e10)
        _check_range(self, "halt_ns", 0.0, 1e9)
        _check_range(self, "kick_ns", 0.0, 1e9)
        _check_range(self, "wake_ns", 0.0, 1e10)
        _check_range(self, "spurious_ns", 0.0, 1e12)
        for name in ("quantum_dist", "wake_dist"):
            _check_choice_field(self, name, _DISTS)
        _check_choice_field(self, "placement", _PLACES)
        _set(self, "latch", check_bool("latch", self.latch))
        if self.ple_window_ns is not None:
            _check_range(self, "ple_window_ns", 1.0, 1e9)
        _check_range(self, "ple_exit_ns", 0.0, 1e8)
        _check_int_field(self, "ple_grow", 1, 64)
        _check_range(self, "ple_gap_ns", 0.0, 1e4)
        lo = 1.0 if self.ple_window_ns is None else self.ple_window_ns
        _check_range(self, "ple_window_max_ns", lo, 1e10)
        _set(self, "wakeup_preempt", check_bool("wakeup_preempt", self.wakeup_preempt))
        _check_range(self, "resched_ns", 0.0, 1e8)

    @property
    def dedicated(self) -> bool:
        return self.pcpus is None and self.overcommit == 1.0

    def layout(self, tasks: int) -> tuple[int, int]:
        """(pCPUs, background vCPUs) for a VM of ``tasks`` vCPUs."""
        p = tasks if self.pcpus is None else self.pcpus
        total = int(round(self.overcommit * p))
        return p, max(0, total - tasks)


def preset_path(name: str):
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"preset name must be a plain file stem, got {name!r}")
    return HARDWARE / f"{name}.json"


class PresetNotFoundError(ValueError):
    """No preset file of that name (the only case where a default may fall back)."""


#: The keys of a preset file, all required, no others.
PRESET_KEYS = ("name", "hardware", "workload", "fit_report")


def load_preset_document(path, name: str, where: str, keys, what: str) -> dict:
    """The JSON object of a preset file with exactly ``keys`` and its own ``name``
    (hardware and host presets alike); ``ValueError`` naming ``where`` otherwise."""
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{where} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must hold a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(keys))
    missing = [k for k in keys if k not in doc]
    if unknown or missing:
        raise ValueError(f"{where}: unknown key(s) {unknown}, missing key(s) {missing}; "
                         f"{what} has exactly {list(keys)}")
    if doc["name"] != name:
        raise ValueError(f"{where}: name must be {name!r} (the file stem), got {doc['name']!r}")
    return doc


def load_preset(name: str) -> dict:
    """The preset document ``data/hardware/<name>.json``, validated strictly: valid JSON,
    exactly the keys :data:`PRESET_KEYS`, its own name, and complete ``hardware`` and
    ``workload`` sections whose every value passes :class:`Hardware` and
    :class:`Workload` validation. A missing file raises :class:`PresetNotFoundError`;
    anything else wrong raises ``ValueError`` naming the file and the field."""
    path = preset_path(name)
    if not path.exists():
        avail = sorted(p.stem for p in HARDWARE.glob("*.json")) if HARDWARE.exists() else []
        raise PresetNotFoundError(f"unknown hardware preset {name!r}; available: {avail}")
    where = f"hardware preset {name!r} ({path})"
    doc = load_preset_document(path, name, where, PRESET_KEYS, "a preset")
    if not isinstance(doc["fit_report"], dict):
        raise ValueError(f"{where}: fit_report must be a JSON object, "
                         f"got {type(doc['fit_report']).__name__}")
    for key, cls in (("hardware", Hardware), ("workload", Workload)):
        try:
            cls.from_dict(doc[key], complete=True)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}, section {key!r}: {e}") from None
    return doc


def save_preset(name: str, hardware: Hardware, workload: Workload, report: dict, *,
                overwrite: bool = False) -> str:
    """Write ``data/hardware/<name>.json`` atomically; an existing preset is replaced only
    with ``overwrite=True`` (committed presets are inputs, not scratch files)."""
    from .outputs import write_json

    path = preset_path(name)
    check_instance("hardware", hardware, Hardware)
    check_instance("workload", workload, Workload)
    check_instance("report", report, dict)
    if path.exists() and not check_bool("overwrite", overwrite):
        raise ValueError(f"hardware preset {name!r} exists ({path}); pass overwrite=True to "
                         "replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"name": name, "hardware": hardware.to_dict(), "workload": workload.to_dict(),
           "fit_report": report}
    write_json(path, doc)  # atomic: an interrupted save keeps the old preset
    return str(path)
