"""Simulation parameters: small frozen dataclasses validated on construction.

Owns the physical meaning, units, default values and allowed ranges of every
parameter the engine takes, and the named hardware presets stored as JSON under
``data/hardware/`` (values plus the calibration report that produced them). A bad
value raises ``ValueError`` naming the parameter and its allowed range here, in
Python, before any kernel runs. ``Hardware`` is the machine (cache-coherence and
pipeline costs, socket topology); ``Workload`` is what the tasks do (the seed's
micro-benchmark: critical section and loop overhead, their distributions, and the
rule that places tasks on sockets). A later ``Schedule`` will describe the
hypervisor (overcommit, quanta, halt/kick latencies).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

from .paths import HARDWARE

#: Allowed ranges (inclusive) used for validation. They are *validity* ranges (what the
#: engine can run), wider than the physically plausible calibration bounds in
#: :data:`pvqmodel.calibrate.BOUNDS`.
_HW_RANGES = {
    "hit_ns": (0.0, 100.0),
    "rmw_ns": (0.0, 1000.0),
    "pause_ns": (0.0, 1000.0),
    "service_ns": (0.0, 10_000.0),
    "xfer_same_ns": (0.0, 10_000.0),
    "xfer_cross_ns": (0.0, 10_000.0),
    "shared_ns": (0.0, 10_000.0),
    "overlap": (0.0, 1.0),
}


def _check_range(name: str, value, lo, hi):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(
        value
    ):
        raise ValueError(f"{name} must be a finite number in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")


class _ParamsMixin:
    """Copy, serialization and strict loading shared by the frozen parameter objects."""

    def replace(self, **kw):
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} parameter(s): {sorted(unknown)}")
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

    def __post_init__(self):
        for name, (lo, hi) in _HW_RANGES.items():
            _check_range(name, getattr(self, name), lo, hi)
        for name, hi in (("cores_per_socket", 4096), ("sockets", 64)):
            val = getattr(self, name)
            if not isinstance(val, int) or isinstance(val, bool) or not 1 <= val <= hi:
                raise ValueError(f"{name} must be an integer in [1, {hi}], got {val!r}")
        if self.hit_ns + self.pause_ns <= 0.0:
            raise ValueError(
                "hit_ns + pause_ns (one spin iteration) must be > 0, got "
                f"{self.hit_ns + self.pause_ns!r}"
            )

    @property
    def cores(self) -> int:
        return self.cores_per_socket * self.sockets

    @classmethod
    def preset(cls, name: str = "westmere-ex") -> Hardware:
        """Load a named preset from ``data/hardware/<name>.json``."""
        return cls.from_dict(load_preset(name)["hardware"])

    @classmethod
    def zero_cost(cls, **kw) -> Hardware:
        """All coherence costs zero (a spin iteration still costs ``pause_ns``): the lock
        reduces to a single server, the setting of the queueing-theory checks."""
        base = dict(hit_ns=0.0, rmw_ns=0.0, pause_ns=1e-3, service_ns=0.0, xfer_same_ns=0.0,
                    xfer_cross_ns=0.0, shared_ns=0.0, overlap=0.0)
        base.update(kw)
        return cls(**base)


_DISTS = ("det", "exp")
_PLACEMENTS = ("scatter", "compact")


@dataclass(frozen=True)
class Workload(_ParamsMixin):
    """The seed's micro-benchmark: each task does lock; critical section; unlock; loop
    overhead; K times. Times in ns; ``*_dist`` is ``"det"`` or ``"exp"``.

    ``placement`` puts task i on socket ``i % sockets`` (``"scatter"``, what the Linux
    load balancer does with a few busy tasks on an idle NUMA machine) or fills one
    socket first (``"compact"``).
    """

    cs_ns: float = 2.0
    loop_ns: float = 10.0
    cs_dist: str = "det"
    loop_dist: str = "det"
    placement: str = "scatter"

    def __post_init__(self):
        _check_range("cs_ns", self.cs_ns, 0.0, 1e9)
        _check_range("loop_ns", self.loop_ns, 0.0, 1e9)
        for name in ("cs_dist", "loop_dist"):
            if getattr(self, name) not in _DISTS:
                raise ValueError(f"{name} must be one of {_DISTS}, got {getattr(self, name)!r}")
        if self.placement not in _PLACEMENTS:
            raise ValueError(f"placement must be one of {_PLACEMENTS}, got {self.placement!r}")

    @classmethod
    def seed_benchmark(cls, preset: str = "westmere-ex") -> Workload:
        """The seed's micro-benchmark as calibrated with the named hardware preset."""
        return cls.from_dict(load_preset(preset)["workload"])


def preset_path(name: str):
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"preset name must be a plain file stem, got {name!r}")
    return HARDWARE / f"{name}.json"


def load_preset(name: str) -> dict:
    path = preset_path(name)
    if not path.exists():
        avail = sorted(p.stem for p in HARDWARE.glob("*.json")) if HARDWARE.exists() else []
        raise ValueError(f"unknown hardware preset {name!r}; available: {avail}")
    return json.loads(path.read_text())


def save_preset(name: str, hardware: Hardware, workload: Workload, report: dict) -> str:
    path = preset_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"name": name, "hardware": hardware.to_dict(), "workload": workload.to_dict(),
           "fit_report": report}
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return str(path)
