"""Sweeps: grids of host scenarios run on dask.distributed into a Parquet dataset.

Owns the step from a sweep spec (a TOML file or dict: locks x hosts x VM layouts x
workloads x replications, :class:`SweepSpec`) to results on disk. The spec expands to
scenarios, flat dicts of plain values; a scenario's **key** is the first 16 hex digits
of the sha256 of its canonical JSON (sorted keys, no spaces, a format number), so it is
the same in every process and Python version (no ``hash()``). Each (scenario,
replication) is one **task**: :func:`run_task` runs :func:`pvqmodel.hostsim.simulate_host`
with ``reps=1`` and writes one Parquet file, ``<out>/<key>/rep=<r>.parquet``, through a
temporary file renamed into place (:func:`pvqmodel.outputs.atomic_path`), so a killed
worker leaves a complete file or none. The task's seed: ``SeedSequence(root_seed,
spawn_key=(k0, k1, rep))`` with ``k0``, ``k1`` the key's two 32-bit halves, one 63-bit
integer drawn from it with ``generate_state`` is ``simulate_host``'s ``seed`` (which
spawns its single replication's stream from it): results do not depend on worker
count, order or which tasks were already done. :func:`sweep` skips tasks whose file
exists, runs the rest on a dask ``Client`` (a ``LocalCluster`` of processes by
default, any scheduler address, or ``serial=True`` in this process), and writes
``<out>/sweep.json`` first: the spec, the resolved workload and host definitions and
the package version, so a rerun with anything different into the same folder is
refused. :func:`sweep_results` reads the dataset back: one row per VM and replication
(a one-VM scenario: one row per replication), the scenario's parameters as columns
beside every column of ``HostResult.vms`` and the run's global counters (``run_*``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .paths import PROCESSED, ROOT
from .validate import SEED_MAX

__all__ = ["SCENARIO_COLUMNS", "SpecError", "SweepDirError", "SweepIncomplete", "SweepReport",
           "SweepSpec", "load_spec", "run_task", "scenario_key", "sweep", "sweep_results",
           "task_seed"]

#: Folder of the shipped study specs.
STUDIES = ROOT / "studies"
#: Bumped only when the scenario dict or the key derivation changes on purpose (it is
#: part of every key, so old results are then never mistaken for new ones).
KEY_FORMAT = 1
MANIFEST = "sweep.json"
#: Fault injection for the tests (a killed worker): when this environment variable names
#: a file, the first task that manages to delete it ends its process with ``os._exit``
#: before computing anything, as if the worker had been killed.
CRASH_ENV = "PVQMODEL_SWEEP_CRASH_FILE"

#: Columns every result row has besides those of ``HostResult.vms`` (and what they hold)
SCENARIO_COLUMNS = {
    "key": "scenario key (sha256 of the scenario's canonical JSON, 16 hex digits)",
    "rep": "replication index", "task_seed": "simulate_host's seed for this task",
    "study": "the spec's name",
    "role": "shared (the studied host) or baseline (the VM alone on vcpus dedicated pCPUs)",
    "lock": "the VMs' lock", "workload": "named workload (pvqmodel.workloads)",
    "preset": "host preset", "scheduler": "host scheduler", "pcpus": "host pCPUs",
    "ple": "pause-loop exiting on", "halt_poll": "KVM halt polling on",
    "layout": "the VMs' sizes, '+'-joined (32+32: two VMs of 32 vCPUs)",
    "n_vms": "VMs on the host", "total_vcpus": "vCPUs of all VMs",
    "overcommit": "total_vcpus / pcpus",
    "duration_ms": "simulated time per replication (NaN: fixed work)",
    "ops_per_vcpu": "fixed work: lock operations per vCPU (0: fixed duration)",
    "makespan_ns": "fixed work: time until the VM's last vCPU finished (NaN otherwise)",
    "lock_wait_vcpu_p50_ns": "median over the VM's vCPUs of each vCPU's mean lock wait",
    "lock_wait_vcpu_max_ns": "largest per-vCPU mean lock wait of the VM",
}


class SpecError(ValueError):
    """A sweep spec that cannot run: names the key and what is allowed."""


class SweepDirError(ValueError):
    """An output folder written by a different spec (or definitions, or version)."""


class SweepIncomplete(RuntimeError):
    """Some tasks failed (a killed worker, an engine failure): the finished ones are
    on disk and a rerun computes only the missing ones."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


# ----------------------------------------------------------------------------- spec

_TOP_KEYS = {"name", "description", "root_seed", "reps", "duration_ms", "ops", "host",
             "grid"}
_HOST_KEYS = {"preset", "pcpus", "scheduler", "ple", "halt_poll"}
_GRID_KEYS = {"locks", "workloads", "layouts", "baselines"}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def _listify(where, v):
    if isinstance(v, (list, tuple)):
        if not v:
            raise SpecError(f"{where} must not be empty")
        return list(v)
    return [v]


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_keys(where, d, allowed, required=()):
    if not isinstance(d, dict):
        raise SpecError(f"{where} must be a table, got {type(d).__name__}")
    bad = sorted(set(d) - set(allowed))
    if bad:
        raise SpecError(f"unknown key(s) {bad} in {where}; allowed: {sorted(allowed)}")
    missing = [k for k in required if k not in d]
    if missing:
        raise SpecError(f"missing key(s) {missing} in {where}")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: every field checked at construction (:class:`SpecError`).

    ``locks``, ``workloads`` (names of :data:`pvqmodel.workloads.WORKLOADS`),
    ``layouts`` (tuples of VM sizes: ``(32, 32)`` is two VMs of 32 vCPUs, every VM
    running the scenario's lock and workload), ``presets``, ``pcpus``, ``schedulers``
    (``None``: the preset's own), ``ple`` and ``halt_poll`` (bools) are the grid axes;
    ``reps`` replications per scenario from ``root_seed``; each replication lasts
    ``duration_ms`` of simulated time, or (``ops``) until every vCPU did ``ops`` lock
    operations (the VM's makespan). ``baselines``: also run each VM size alone on as
    many dedicated pCPUs as it has vCPUs (same lock, workload, kernel, PLE and halt-poll
    setting): the reference of the slowdown (:mod:`pvqmodel.overcommit`)."""

    name: str
    locks: tuple
    workloads: tuple
    layouts: tuple
    presets: tuple = ("current-6.13",)
    pcpus: tuple = (32,)
    schedulers: tuple = (None,)
    ple: tuple = (True, False)
    halt_poll: tuple = (True,)
    reps: int = 8
    root_seed: int = 0
    duration_ms: float | None = 50.0
    ops: int | None = None
    baselines: bool = True
    description: str = ""

    def __post_init__(self):
        from .host import MAX_VM_VCPUS, SCHEDULERS, Host
        from .locks import ALIASES, BY_NAME
        from .workloads import WORKLOADS

        def s(name, v):
            object.__setattr__(self, name, v)

        if not isinstance(self.name, str) or not self.name or \
                not set(self.name) <= _NAME_CHARS or len(self.name) > 64:
            raise SpecError("name must be 1-64 characters of lower-case letters, digits, "
                            f"'-', '_', '.', got {self.name!r}")
        locks = []
        for i, lk in enumerate(_listify("grid.locks", self.locks)):
            if lk == "all":
                from .sim import LOCKS

                locks += [n for n in LOCKS if n in BY_NAME]
                continue
            name = ALIASES.get(lk, lk) if isinstance(lk, str) else None
            if name not in BY_NAME:
                raise SpecError(f"grid.locks[{i}]: unknown lock {lk!r}; known: "
                                f"{sorted(BY_NAME)}, aliases {sorted(ALIASES)} or 'all'")
            locks.append(name)
        s("locks", tuple(dict.fromkeys(locks)))
        wls = _listify("grid.workloads", self.workloads)
        for i, w in enumerate(wls):
            if w not in WORKLOADS:
                raise SpecError(f"grid.workloads[{i}]: unknown workload {w!r}; known: "
                                f"{sorted(WORKLOADS)}")
        s("workloads", tuple(dict.fromkeys(wls)))
        layouts = []
        for i, lay in enumerate(_listify("grid.layouts", self.layouts)):
            lay = _listify(f"grid.layouts[{i}]", lay)
            if len(lay) > 8 or not all(_is_int(n) and 1 <= n <= MAX_VM_VCPUS for n in lay):
                raise SpecError(f"grid.layouts[{i}] must be a list of 1-8 VM sizes, each an "
                                f"integer in [1, {MAX_VM_VCPUS}], got {lay!r}")
            layouts.append(tuple(lay))
        s("layouts", tuple(dict.fromkeys(layouts)))
        presets = _listify("host.preset", self.presets)
        known = Host.presets()
        for p in presets:
            if p not in known:
                raise SpecError(f"host.preset: unknown host preset {p!r}; known: {known}")
        s("presets", tuple(dict.fromkeys(presets)))
        pc = _listify("host.pcpus", self.pcpus)
        if not all(_is_int(n) and 1 <= n <= 256 for n in pc):
            raise SpecError(f"host.pcpus must be integers in [1, 256], got {pc!r}")
        s("pcpus", tuple(dict.fromkeys(pc)))
        sch = _listify("host.scheduler", self.schedulers)
        for x in sch:
            if x is not None and x not in SCHEDULERS:
                raise SpecError(f"host.scheduler must be among {sorted(SCHEDULERS)} "
                                f"(omit it for the preset's own), got {x!r}")
        s("schedulers", tuple(dict.fromkeys(sch)))
        for name in ("ple", "halt_poll"):
            vals = _listify(f"host.{name}", getattr(self, name))
            if not all(isinstance(v, bool) for v in vals):
                raise SpecError(f"host.{name} must be true/false or a list of them, "
                                f"got {vals!r}")
            s(name, tuple(dict.fromkeys(vals)))
        if not _is_int(self.reps) or not 1 <= self.reps <= 10_000:
            raise SpecError(f"reps must be an integer in [1, 10000], got {self.reps!r}")
        if not _is_int(self.root_seed) or not 0 <= self.root_seed <= SEED_MAX:
            raise SpecError(f"root_seed must be an integer in [0, 2^63 - 1], "
                            f"got {self.root_seed!r}")
        if (self.duration_ms is None) == (self.ops is None):
            raise SpecError("give exactly one of duration_ms (fixed simulated time) and ops "
                            f"(fixed work per vCPU), got duration_ms={self.duration_ms!r}, "
                            f"ops={self.ops!r}")
        if self.duration_ms is not None:
            d = self.duration_ms
            if isinstance(d, bool) or not isinstance(d, (int, float)) or \
                    not (math.isfinite(d) and 1e-3 <= d <= 1e7):
                raise SpecError(f"duration_ms must be a number in [0.001, 1e7], got {d!r}")
            s("duration_ms", float(d))
        if self.ops is not None and (not _is_int(self.ops) or not 1 <= self.ops <= 10**9):
            raise SpecError(f"ops must be an integer in [1, 10^9], got {self.ops!r}")
        if not isinstance(self.baselines, bool):
            raise SpecError(f"grid.baselines must be true or false, got {self.baselines!r}")
        if not isinstance(self.description, str):
            raise SpecError("description must be a string")

    # -- conversions

    @classmethod
    def from_dict(cls, d: dict) -> SweepSpec:
        """From the TOML document's structure (see ``studies/*.toml``)."""
        _check_keys("the spec", d, _TOP_KEYS, required=("name", "grid"))
        host = d.get("host", {})
        _check_keys("[host]", host, _HOST_KEYS)
        grid = d["grid"]
        _check_keys("[grid]", grid, _GRID_KEYS, required=("locks", "workloads", "layouts"))
        kw = dict(name=d["name"], locks=grid["locks"], workloads=grid["workloads"],
                  layouts=grid["layouts"])
        for src, dst in (("preset", "presets"), ("pcpus", "pcpus"),
                         ("scheduler", "schedulers"), ("ple", "ple"),
                         ("halt_poll", "halt_poll")):
            if src in host:
                kw[dst] = host[src]
        for k in ("reps", "root_seed", "description"):
            if k in d:
                kw[k] = d[k]
        if "ops" in d:
            kw["ops"] = d["ops"]
            kw["duration_ms"] = d.get("duration_ms")
        elif "duration_ms" in d:
            kw["duration_ms"] = d["duration_ms"]
        if "baselines" in grid:
            kw["baselines"] = grid["baselines"]
        return cls(**kw)

    def to_dict(self) -> dict:
        """The canonical document (what the manifest stores; from_dict reads it back)."""
        d = {"name": self.name, "description": self.description,
             "root_seed": self.root_seed, "reps": self.reps}
        if self.ops is None:
            d["duration_ms"] = self.duration_ms
        else:
            d["ops"] = self.ops
        host = {"preset": list(self.presets), "pcpus": list(self.pcpus),
                "ple": list(self.ple), "halt_poll": list(self.halt_poll)}
        if self.schedulers != (None,):
            host["scheduler"] = [x for x in self.schedulers]
        d["host"] = host
        d["grid"] = {"locks": list(self.locks), "workloads": list(self.workloads),
                     "layouts": [list(x) for x in self.layouts],
                     "baselines": self.baselines}
        return d

    # -- expansion

    def scenarios(self) -> list[dict]:
        """Every scenario (shared-host cells, then the baselines), each once."""
        from .host import Host

        out = {}
        for preset in self.presets:
            own = Host.preset(preset).scheduler
            for sch in self.schedulers:
                sch = own if sch is None else sch
                for lock in self.locks:
                    for wl in self.workloads:
                        for ple in self.ple:
                            for hp in self.halt_poll:
                                common = dict(preset=preset, scheduler=sch, lock=lock,
                                              workload=wl, ple=ple, halt_poll=hp,
                                              duration_ms=self.duration_ms,
                                              ops_per_vcpu=self.ops or 0)
                                for pc in self.pcpus:
                                    for lay in self.layouts:
                                        sc = _scenario(common, "shared", pc, lay)
                                        out.setdefault(scenario_key(sc), sc)
                                if self.baselines:
                                    for v in sorted({n for lay in self.layouts for n in lay}):
                                        sc = _scenario(common, "baseline", v, (v,))
                                        out.setdefault(scenario_key(sc), sc)
        return list(out.values())

    def definitions(self) -> dict:
        """What the scenarios' names stand for today: each workload's VM keyword
        arguments and each host preset's parameters (the manifest records them, so a
        changed definition is not mixed with old results)."""
        from .host import Host
        from .workloads import workload_definition

        return {"workloads": {w: workload_definition(w) for w in self.workloads},
                "presets": {p: Host.preset(p).to_dict() for p in self.presets}}


def _scenario(common, role, pcpus, layout) -> dict:
    total = int(sum(layout))
    return {**common, "role": role, "pcpus": int(pcpus),
            "layout": "+".join(str(n) for n in layout), "n_vms": len(layout),
            "total_vcpus": total, "overcommit": total / pcpus}


def load_spec(spec) -> SweepSpec:
    """A :class:`SweepSpec` from a spec, a dict, a path to a TOML file, or the name of
    a shipped study (``"overcommit"``: ``studies/overcommit.toml``)."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return SweepSpec.from_dict(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise SpecError(f"spec must be a SweepSpec, a dict or a TOML path, got "
                        f"{type(spec).__name__}")
    path = Path(spec)
    if not path.exists() and (STUDIES / f"{spec}.toml").exists():
        path = STUDIES / f"{spec}.toml"
    if not path.is_file():
        raise SpecError(f"spec file {str(spec)!r} not found (shipped studies: "
                        f"{sorted(p.stem for p in STUDIES.glob('*.toml'))})")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"spec file {path}: not valid TOML: {e}") from None
    return SweepSpec.from_dict(doc)


# ------------------------------------------------------------------- keys and seeds

def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def scenario_key(scenario: dict) -> str:
    """16 hex digits of sha256 over the canonical JSON of ``{"format": KEY_FORMAT,
    "scenario": scenario}`` (sorted keys, no whitespace, ASCII; floats in Python's
    shortest round-trip form, which every Python 3 prints the same)."""
    payload = _canonical({"format": KEY_FORMAT, "scenario": scenario})
    return hashlib.sha256(payload.encode("ascii")).hexdigest()[:16]


def task_seed(root_seed: int, key: str, rep: int) -> int:
    """``simulate_host``'s seed of replication ``rep`` of scenario ``key``: a 63-bit
    integer from ``SeedSequence(root_seed, spawn_key=(int(key[:8], 16),
    int(key[8:16], 16), rep)).generate_state(1, uint64)`` shifted right by one (a
    non-negative int64). Independent streams for every (scenario, replication)."""
    import numpy as np

    ss = np.random.SeedSequence(root_seed, spawn_key=(int(key[:8], 16), int(key[8:16], 16),
                                                      int(rep)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _task_path(out: Path, key: str, rep: int) -> Path:
    return out / key / f"rep={rep}.parquet"


# ------------------------------------------------------------------------ one task

def _build(scenario: dict):
    """The scenario's Host and VMs."""
    from .host import VM
    from .hoststudy import host_for
    from .workloads import workload_vm_kwargs

    host = host_for(scenario["preset"], pcpus=scenario["pcpus"],
                    scheduler=scenario["scheduler"], ple=scenario["ple"],
                    halt_poll=scenario["halt_poll"])
    sizes = [int(n) for n in scenario["layout"].split("+")]
    vms = []
    for i, n in enumerate(sizes):
        kw = workload_vm_kwargs(scenario["workload"])
        if scenario["ops_per_vcpu"]:
            kw["ops"] = scenario["ops_per_vcpu"]
        else:
            kw.pop("ops", None)
        vms.append(VM(f"vm{i}", n, lock=scenario["lock"], **kw))
    return host, vms


def task_rows(scenario: dict, key: str, rep: int, seed: int, study: str):
    """Run one replication of ``scenario`` and return its result frame (one row per VM)."""
    import numpy as np
    import pandas as pd

    from .hostsim import simulate_host

    host, vms = _build(scenario)
    dur = scenario["duration_ms"]
    res = simulate_host(host, vms, duration_ns=None if dur is None else dur * 1e6, reps=1,
                        seed=seed, check=False)
    v = res.vms.copy()
    summ = res.summary.iloc[0]
    ents = res.vcpus
    rows = []
    for _, r in v.iterrows():
        e = ents[(ents["vm"] == r["vm"]) & (ents["vcpu"] >= 0)]
        acq = e["acquisitions"].to_numpy(float)
        per = np.where(acq > 0, e["lock_wait_ns"].to_numpy(float) / np.maximum(acq, 1),
                       np.nan)
        per = per[np.isfinite(per)]
        row = {"key": key, "rep": int(rep), "task_seed": int(seed), "study": study,
               **{k: scenario[k] for k in ("role", "lock", "workload", "preset",
                                           "scheduler", "pcpus", "ple", "halt_poll",
                                           "layout", "n_vms", "total_vcpus", "overcommit")},
               "duration_ms": math.nan if dur is None else float(dur),
               "ops_per_vcpu": int(scenario["ops_per_vcpu"])}
        for c, x in r.items():
            if c in ("rep", "lock"):
                continue
            row[c] = x.item() if hasattr(x, "item") else x
        row["makespan_ns"] = float(r["sim_ns"]) if dur is None else math.nan
        row["lock_wait_vcpu_p50_ns"] = float(np.median(per)) if per.size else math.nan
        row["lock_wait_vcpu_max_ns"] = float(per.max()) if per.size else math.nan
        for c, x in summ.items():
            if c != "rep":
                row[f"run_{c}"] = x.item() if hasattr(x, "item") else x
        rows.append(row)
    return pd.DataFrame(rows)


def run_task(task: dict) -> dict:
    """One task (runs on a worker): simulate, then write ``<out>/<key>/rep=<r>.parquet``
    atomically. Returns ``{"key", "rep", "seconds"}``."""
    crash = os.environ.get(CRASH_ENV)
    if crash:
        try:
            os.remove(crash)
        except FileNotFoundError:
            pass
        else:
            os._exit(70)  # fault injection: this worker dies before computing
    from .outputs import atomic_path

    t0 = time.perf_counter()
    df = task_rows(task["scenario"], task["key"], task["rep"], task["seed"], task["study"])
    path = Path(task["path"])
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow")
    return {"key": task["key"], "rep": task["rep"], "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------- sweep

@dataclass
class SweepReport:
    """What :func:`sweep` did: ``tasks`` in the spec, ``skipped`` (already on disk),
    ``submitted`` (computed now), ``failed`` (``{(key, rep): error text}``), wall
    ``seconds``, summed task ``task_seconds``, the output folder."""

    out: Path
    tasks: int
    skipped: int
    submitted: int
    failed: dict
    seconds: float
    task_seconds: float
    dashboard: str | None = None

    def __str__(self):
        done = self.tasks - len(self.failed) - (self.tasks - self.skipped - self.submitted)
        return (f"{self.out}: {self.tasks} tasks, {self.skipped} already on disk, "
                f"{self.submitted} computed, {len(self.failed)} failed, {done} complete; "
                f"{self.seconds:.1f} s wall, {self.task_seconds:.1f} s in tasks")


def default_out(spec: SweepSpec) -> Path:
    """``data/processed/<spec name>``."""
    return PROCESSED / spec.name


def _manifest_doc(spec: SweepSpec) -> dict:
    from . import __version__

    return {"format": KEY_FORMAT, "spec": spec.to_dict(), "definitions": spec.definitions(),
            "pvqmodel": __version__}


def _first_difference(a, b, where=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}{k}"
            d = _first_difference(a[k], b[k], f"{where}{k}.")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return where.rstrip(".")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_difference(x, y, f"{where}{i}.")
            if d:
                return d
        return None
    return None if a == b else where.rstrip(".")


def _check_out(out: Path, spec: SweepSpec) -> None:
    """Write the manifest, or refuse a folder written by something else."""
    from .outputs import write_json

    doc = _manifest_doc(spec)
    path = out / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SweepDirError(f"out: {path} is not a readable sweep manifest ({e}); "
                                "choose another output folder") from None
        # a JSON round trip so tuples and lists compare alike
        new = json.loads(json.dumps(doc))
        diff = _first_difference(old, new)
        if diff is not None:
            raise SweepDirError(
                f"out: {out} holds results of a different sweep ({diff} differs from this "
                f"spec); use another --out folder, or delete that folder to start over")
        return
    if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise SweepDirError(f"out: {out} is not empty and has no {MANIFEST}: not a sweep "
                            "folder; choose an empty or new folder")
    write_json(path, doc, sort_keys=True)


def plan(spec, out=None) -> tuple[SweepSpec, Path, list[dict]]:
    """Validate ``spec`` and list its tasks (without touching disk)."""
    spec = load_spec(spec)
    out = default_out(spec) if out is None else Path(out)
    tasks = []
    for sc in spec.scenarios():
        _build(sc)  # every Host and VM is validated before any task runs
        key = scenario_key(sc)
        for r in range(spec.reps):
            tasks.append({"scenario": sc, "key": key, "rep": r, "study": spec.name,
                          "seed": task_seed(spec.root_seed, key, r),
                          "path": str(_task_path(out, key, r))})
    return spec, out, tasks


def sweep(spec, client=None, *, out=None, workers: int | None = None, serial: bool = False,
          progress: bool = True, dashboard_address: str | None = ":0") -> SweepReport:
    """Run every task of ``spec`` (a :class:`SweepSpec`, dict, TOML path or shipped
    study name) whose result is not yet in ``out`` (default ``data/processed/<name>``).

    ``client``: a ``distributed.Client`` or a scheduler address (``"tcp://host:8786"``;
    ``out`` must then be a folder every worker can write); ``None`` starts a
    ``LocalCluster`` of ``workers`` single-threaded worker processes (default: one per
    core) for this call, with dask's dashboard (its address is printed with
    ``progress``; ``dashboard_address=":8787"`` for the usual port); ``serial=True``
    runs the tasks one after another in this process instead (same files). Bad specs
    raise :class:`SpecError` and a folder from another sweep :class:`SweepDirError`
    before anything runs. Tasks that fail (a killed worker, an engine failure) are
    reported at the end as :class:`SweepIncomplete` after every other task finished;
    Ctrl-C cancels the pending tasks, and the finished ones stay on disk. Returns a
    :class:`SweepReport`."""
    from tqdm.auto import tqdm

    spec, out, tasks = plan(spec, out)
    if workers is not None and (not _is_int(workers) or not 1 <= workers <= 256):
        raise ValueError(f"workers must be an integer in [1, 256], got {workers!r}")
    _check_out(out, spec)
    todo = [t for t in tasks if not Path(t["path"]).exists()]
    t0 = time.perf_counter()
    failed, spent, dash = {}, 0.0, None
    bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", disable=not progress or not todo,
               unit="task")
    try:
        if todo and serial:
            from .engine import ensure_compiled

            ensure_compiled()
            for t in todo:
                spent += run_task(t)["seconds"]
                bar.update()
        elif todo:
            spent, failed, dash = _run_dask(todo, client, workers, bar, progress,
                                            dashboard_address)
    finally:
        bar.close()
    rep = SweepReport(out, len(tasks), len(tasks) - len(todo), len(todo), failed,
                      time.perf_counter() - t0, spent, dash)
    if failed:
        raise SweepIncomplete(f"{len(failed)} of {len(todo)} tasks failed (finished ones are "
                              f"in {out}; run the sweep again to compute only the missing "
                              f"ones); first: {next(iter(failed.values()))}", rep)
    return rep


def _run_dask(todo, client, workers, bar, progress, dashboard_address):
    import logging

    from distributed import Client, LocalCluster, as_completed

    own = []
    try:
        if client is None:
            # compile (or load) the engine here first, so the workers load numba's
            # cache instead of each compiling it
            from .engine import ensure_compiled

            ensure_compiled()
            cluster = LocalCluster(n_workers=workers or (os.cpu_count() or 1),
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=dashboard_address,
                                   silence_logs=logging.ERROR)
            own.append(cluster)
            client = Client(cluster)
            own.append(client)
        elif isinstance(client, str):
            client = Client(client)
            own.append(client)
        dash = getattr(client, "dashboard_link", None)
        if progress and dash:
            print(f"dask dashboard: {dash}", file=sys.stderr)
        futures = {}
        # a fresh token per call: a scheduler that still remembers a task of this name
        # from an earlier call (erred by a killed worker) must not answer for it
        run = os.urandom(4).hex()
        for t in todo:
            f = client.submit(run_task, t, key=f"pvq-{t['key']}-r{t['rep']}-{run}",
                              pure=False, retries=0)
            futures[f] = t
        spent, failed = 0.0, {}
        try:
            for f in as_completed(list(futures)):
                t = futures[f]
                try:
                    spent += f.result()["seconds"]
                except Exception as e:  # noqa: BLE001 - reported per task, not raised
                    failed[t["key"], t["rep"]] = f"{type(e).__name__}: {e}"
                bar.update()
        except BaseException:
            client.cancel(list(futures))
            raise
        return spent, failed, dash
    finally:
        for obj in reversed(own):
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - closing after an interrupt is best effort
                pass


# -------------------------------------------------------------------------- reading

def read_manifest(out) -> dict:
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no sweep results at {out} (no {MANIFEST}): run "
                                "`pvqmodel sweep SPEC.toml --out DIR` (or `pvqmodel reproduce` "
                                "for the reduced overcommit study) first")
    return json.loads(path.read_text())


def task_files(out) -> list[Path]:
    """The finished tasks' files (temporary files of running tasks are hidden names)."""
    return sorted(Path(out).glob("*/rep=*.parquet"))


def sweep_results(out, *, complete: bool = False):
    """The dataset in ``out`` as one DataFrame (one row per VM and replication), sorted
    by scenario key, replication and VM. ``complete=True``: raise if tasks of the
    manifest's spec are missing. The spec's name, the task count and the missing count
    are in ``df.attrs``."""
    import pandas as pd
    import pyarrow.dataset as ds

    out = Path(out)
    man = read_manifest(out)
    files = task_files(out)
    spec = SweepSpec.from_dict(man["spec"])
    n_tasks = len(spec.scenarios()) * spec.reps
    missing = n_tasks - len(files)
    if complete and missing:
        raise SweepIncomplete(f"{missing} of {n_tasks} tasks are missing in {out}: run the "
                              "sweep again to complete it", None)
    if files:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # one schema for all files: a column a newer engine reports is null in the rows
        # of files written before it (the manifest keeps different sweeps apart; this is
        # for a dataset completed across an engine update that added columns)
        schema = pa.unify_schemas(list({str(sc): sc for sc in
                                        (pq.read_schema(f) for f in files)}.values()))
        df = ds.dataset([str(f) for f in files], format="parquet",
                        schema=schema).to_table().to_pandas()
        df["_vm"] = df["vm"].str[2:].astype(int)
        df = df.sort_values(["key", "rep", "_vm"], kind="stable").drop(columns="_vm")
        df = df.reset_index(drop=True)
    else:
        df = pd.DataFrame(columns=list(SCENARIO_COLUMNS))
    df.attrs.update(study=spec.name, tasks=n_tasks, missing=missing, spec=man["spec"])
    return df
