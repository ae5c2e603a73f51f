"""Lost-wake-up hunt: randomized adversarial schedules on the Monte Carlo engine.

Owns the timed counterpart of :mod:`pvqmodel.handshake`. The seed's ``pv_halt_check``
rests on a timing assumption (the ``qhead`` store is "highly unlikely" to lag the
``mayhalt`` read by more than 0x10 spin iterations); the exhaustive search shows *that*
a loss is reachable under x86-TSO, this hunt asks *how likely* it is. Each explored
schedule is one engine replication of a small contended run with its own random
stream: short random quanta against always-busy background vCPUs (so vCPUs are
preempted at arbitrary steps of the lock code), random kick/wake latencies, random
store-buffer drain delays under TSO, and thresholds scaled down so waiters halt often
(``mayhalt_gap`` stays the seed's 0x10: the window under test). Spurious wake-ups are
off by default: a loss that only an interrupt can rescue is still a loss. A liveness
failure is the engine's own check (every unfinished vCPU halted with no kick or
interrupt coming; a deadlock; a broken invariant), reported with the trace of the last
engine events. A schedule that hits the watchdog (no acquisition for far longer than
the run's own time constants allow, :func:`pvqmodel.sim.default_watchdog_ns`) or the
event budget is *inconclusive*: neither a loss nor a clean run, counted apart. Every
schedule is reproducible from its seed, so :meth:`HuntResult.replay` re-runs the
failing one exactly. The per-acquisition loss
probability is losses / acquisitions over the conclusive schedules (clean or lost) with
a Clopper-Pearson interval (``scipy.stats.binomtest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from .engine import ensure_compiled
from .engine import state as st
from .params import Hardware, Schedule, Workload
from .sim import (
    LOCK_ALIASES,
    LOCKS,
    PV_LOCKS,
    LockTunables,
    default_hardware,
    default_watchdog_ns,
    simulate,
)
from .validate import check_bool, check_choice, check_float, check_instance, check_int, check_seed

#: aliases of PV locks (``pv-qspinlock``: the newest merged generation), accepted and
#: resolved like the names themselves
_PV_ALIASES = tuple(a for a, name in LOCK_ALIASES.items() if name in PV_LOCKS)

__all__ = ["HuntResult", "hunt", "hunt_defaults", "hunt_sweep", "hunt_table",
           "replay_command"]

#: Engine statuses that are a loss: a liveness or safety failure the engine proved.
_LOSS = {st.ST_LOST_WAKEUP: "lost-wakeup", st.ST_NO_EVENT: "deadlock",
         st.ST_MUTEX: "mutual-exclusion", st.ST_FIFO: "fifo", st.ST_BAD_STATE: "bad-state"}
#: Statuses that decide nothing: the run was cut short, not shown to fail.
_INCONCLUSIVE = {st.ST_WATCHDOG: "no-progress", st.ST_MAX_EVENTS: "event-budget"}
_FAIL = {**_LOSS, **_INCONCLUSIVE}
_MODES = {v: k[2:].lower() for k, v in vars(st).items()
          if k.startswith("M_") and isinstance(v, int)}


def hunt_defaults(memory_model: str = "sc", *, latch: bool = True,
                  drain_ns: float = 50.0, quantum_ns: float = 2000.0):
    """The adversarial setting used by :func:`hunt` unless overridden, the same for
    every PV lock (each reads only its own tunables): returns (hardware, workload,
    schedule, tunables, tasks, ops_per_task)."""
    hw = default_hardware().with_memory_model(
        memory_model, drain_ns if memory_model == "tso" else 0.0)
    wl = Workload(cs_ns=300.0, loop_ns=300.0, cs_dist="exp", loop_dist="exp")
    sched = Schedule(overcommit=2.0, quantum_ns=quantum_ns, quantum_dist="exp",
                     halt_ns=200.0, kick_ns=500.0, wake_ns=2000.0, wake_dist="exp",
                     spurious_ns=0.0, latch=latch)
    tun = LockTunables(qspin_threshold=64, mayhalt_gap=0x10, head_mult=2,
                       pspin_threshold=64, spin_threshold=128)
    return hw, wl, sched, tun, 3, 200


@dataclass
class HuntResult:
    """Outcome of :func:`hunt`."""

    lock: str
    memory_model: str
    latch: bool
    found: bool  #: a loss (liveness or safety failure) was found
    kind: str  #: "lost-wakeup", "deadlock", ... or "" if none
    schedules_explored: int  #: clean + losses + inconclusive
    losses: int  #: schedules that ended in a failure the engine proved
    acquisitions: int  #: lock acquisitions over the conclusive (clean or lost) schedules
    p_per_acquisition: float  #: losses / acquisitions (conclusive schedules only)
    p_ci: tuple  #: 95 % Clopper-Pearson interval of p_per_acquisition
    trace: pd.DataFrame  #: the vCPU steps leading to the first failure: t_ns, vcpu, step, detail
    config: dict = field(repr=False)  #: everything needed to replay
    failing_seed: int | None = None  #: seed of the first failing schedule
    full_trace: pd.DataFrame | None = field(default=None, repr=False)  #: engine trace ring
    clean: int = 0  #: schedules that completed every operation
    inconclusive: int = 0  #: schedules cut short by the watchdog or the event budget
    #: kind ("no-progress", "event-budget") -> count of the inconclusive schedules
    inconclusive_kinds: dict = field(default_factory=dict)
    inconclusive_seeds: list = field(default_factory=list, repr=False)  #: to re-run them

    def __str__(self):
        lo, hi = self.p_ci
        head = (f"{self.lock}, {self.memory_model.upper()}, latch "
                f"{'on' if self.latch else 'off'}: ")
        tail = ""
        if self.inconclusive:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.inconclusive_kinds.items()))
            tail = (f"; {self.inconclusive} inconclusive ({kinds}; not counted, re-run with "
                    f"a larger watchdog_ns/max_events)")
        if self.found:
            return (head + f"{self.kind} found in {self.losses} of "
                    f"{self.schedules_explored} schedules ({self.clean} clean); per "
                    f"acquisition {self.p_per_acquisition:.2e} (95 % CI {lo:.1e}..{hi:.1e}); "
                    f"replay seed {self.failing_seed}" + tail)
        if self.clean == 0:
            return head + f"no conclusive schedule of {self.schedules_explored}" + tail
        return (head + f"none in {self.clean} clean of {self.schedules_explored} schedules "
                f"({self.acquisitions} acquisitions; per-acquisition rate < {hi:.1e} "
                f"at 95 %)" + tail)

    def replay(self) -> tuple[str, pd.DataFrame]:
        """Re-run the first failing schedule; returns (kind, trace)."""
        if self.failing_seed is None:
            raise ValueError("nothing to replay: no failure was found")
        res = _run(self.config, self.failing_seed)
        code = int(res.summary["status_code"].iloc[0])
        return _FAIL.get(code, "ok"), loss_trace(self.lock, res)


def _pc_names(lock: str) -> dict:
    """Program counter -> name: the lock module's step constants and the workload's."""
    mod = LOCKS[lock][1]
    names = {v: k for k, v in vars(st).items() if k.startswith("W_") and isinstance(v, int)}
    lo = None
    for k, v in vars(mod).items():
        if k.isupper() and isinstance(v, int) and 100 <= v and not k.startswith(("_", "N_")):
            lo = v if lo is None else min(lo, v)
    if lo is not None:
        base = lo - lo % 100
        for k, v in vars(mod).items():
            if (k.isupper() and isinstance(v, int) and base <= v < base + 100
                    and not k.startswith(("_", "N_", "W_"))):
                names.setdefault(v, k)
    return names


def step_trace(lock: str, raw: pd.DataFrame | None, n_lines: int | None = None) -> pd.DataFrame:
    """Engine trace rows -> (t_ns, vcpu, step, detail). Line-service, pCPU quantum-end
    and store-buffer drain events become ``line k`` / ``quantum p`` / ``drain v`` rows."""
    cols = ["t_ns", "vcpu", "step", "detail"]
    if raw is None or len(raw) == 0:
        return pd.DataFrame(columns=cols)
    names = _pc_names(lock)
    rows = []
    for r in raw.itertuples():
        if r.who >= 0:
            rows.append((r.t_ns, int(r.who), names.get(int(r.pc), str(int(r.pc))),
                         f"{_MODES.get(int(r.mode), r.mode)} res={int(r.res):#x}"))
        else:
            rows.append((r.t_ns, -1, f"{getattr(r, 'kind', 'slot')} {-int(r.who) - 1}",
                         f"served/timer; lock word={int(r.res):#x}"))
    return pd.DataFrame(rows, columns=cols)


def loss_trace(lock: str, res, steps: int = 40) -> pd.DataFrame:
    """The steps that lead to a failure: the last ``steps`` vCPU events up to the loss,
    then one ``HALTED`` row per vCPU that is never woken. The loss is the first halt,
    after the last acquisition of the run, of a vCPU that is never woken (a waiter that
    halted earlier and was then overtaken by acquisitions was still legitimately
    waiting; the one that halts after the last acquisition is the one the lock needed)."""
    full = step_trace(lock, res.failures.get(0))
    if len(full) == 0:
        return full
    tasks = res.tasks
    stuck = tasks.loc[tasks["halted"], "task"].tolist() if "halted" in tasks else []
    v = full[full["vcpu"] >= 0]
    names = _pc_names(lock)
    if not stuck:
        return v.tail(steps).reset_index(drop=True)
    last = {u: float(v.loc[v["vcpu"] == u, "t_ns"].max()) for u in stuck
            if (v["vcpu"] == u).any()}
    t_acq = float(res.summary["last_acq_ns"].iloc[0])
    after = [t for t in last.values() if t >= t_acq]
    t_loss = min(after) if after else (min(last.values()) if last else float(v["t_ns"].max()))
    out = v[v["t_ns"] <= t_loss].tail(steps)
    extra = pd.DataFrame(
        [(last.get(u, t_loss), u, "HALTED",
          f"halted at {names.get(int(tasks.loc[tasks['task'] == u, 'pc'].iloc[0]), '?')} "
          "and never woken: no kick or interrupt coming") for u in stuck],
        columns=out.columns).sort_values("t_ns")
    return pd.concat([out, extra], ignore_index=True)


def _run(cfg: dict, seed: int):
    return simulate(cfg["lock"], cfg["tasks"], cfg["ops_per_task"], hardware=cfg["hardware"],
                    workload=cfg["workload"], schedule=cfg["schedule"], reps=1, seed=seed,
                    tunables=cfg["tunables"], trace=cfg["trace"], check=False,
                    watchdog_ns=cfg["watchdog_ns"])


def hunt(lock: str = "pv-qspinlock-v10", schedule: Schedule | None = None,
         memory_model: str = "sc", budget: int = 200, seed: int = 0, *,
         latch: bool | None = None, drain_ns: float = 50.0, quantum_ns: float = 2000.0,
         hardware: Hardware | None = None, workload: Workload | None = None,
         tunables: LockTunables | None = None, tasks: int | None = None,
         ops_per_task: int | None = None, stop_at_first: bool = False,
         trace: int = 4096, progress: bool = False) -> HuntResult:
    """Search ``budget`` randomized schedules of ``lock`` for liveness failures.

    ``memory_model`` ``"sc"`` or ``"tso"`` (x86 store buffer; plain stores drain after an
    exponential delay of mean ``drain_ns``, locked ops and ``smp_mb`` drain it).
    ``latch`` overrides ``schedule.latch`` (KVM's PV-unhalted latch). Defaults for
    everything else: :func:`hunt_defaults`. One root ``seed``; schedule i runs with the
    i-th seed of ``SeedSequence(seed)``. ``stop_at_first`` ends the search at the first
    failure (the probability estimate then covers the schedules explored so far).
    """
    lock = check_choice("lock", LOCK_ALIASES.get(lock, lock) if isinstance(lock, str) else lock,
                        PV_LOCKS + _PV_ALIASES)
    memory_model = check_choice("memory_model", memory_model, ("sc", "tso"))
    budget = check_int("budget", budget, 1, 10**7)
    seed = check_seed("seed", seed)
    if latch is not None:
        latch = check_bool("latch", latch)
    drain_ns = check_float("drain_ns", drain_ns, 0.0, 1e7)
    quantum_ns = check_float("quantum_ns", quantum_ns, 1.0, 1e10)
    check_instance("schedule", schedule, Schedule, none_ok=True)
    check_instance("hardware", hardware, Hardware, none_ok=True)
    check_instance("workload", workload, Workload, none_ok=True)
    check_instance("tunables", tunables, LockTunables, none_ok=True)
    if tasks is not None:
        tasks = check_int("tasks", tasks, 1, 256)
    if ops_per_task is not None:
        ops_per_task = check_int("ops_per_task", ops_per_task, 1, 10**8)
    stop_at_first = check_bool("stop_at_first", stop_at_first)
    trace = check_int("trace", trace, 0, 10**6)
    progress = check_bool("progress", progress)
    lat = (schedule.latch if schedule is not None else True) if latch is None else latch
    hw0, wl0, sch0, tun0, n0, k0 = hunt_defaults(memory_model, latch=lat,
                                                 drain_ns=drain_ns, quantum_ns=quantum_ns)
    sched = (schedule if schedule is not None else sch0).replace(latch=lat)
    hw = hw0 if hardware is None else hardware.with_memory_model(
        memory_model, drain_ns if memory_model == "tso" else 0.0)
    n = n0 if tasks is None else tasks
    wl = wl0 if workload is None else workload
    # the hunt's own watchdog (short, so a genuine stall is reported quickly) but never
    # below what the run's time constants allow (default_watchdog_ns without its floor)
    watchdog = max(1e7, 200.0 * sched.quantum_ns * sched.overcommit + 50.0 * sched.wake_ns,
                   default_watchdog_ns(hw, wl, sched, n, lock, floor=0.0))
    cfg = dict(lock=lock, tasks=n, ops_per_task=k0 if ops_per_task is None else ops_per_task,
               hardware=hw, workload=wl, schedule=sched,
               tunables=tun0 if tunables is None else tunables, trace=trace,
               watchdog_ns=watchdog)
    seeds = np.random.SeedSequence(seed).generate_state(budget, dtype=np.uint64)
    explored = losses = clean = acqs = 0
    inconclusive: dict = {}
    inconclusive_seeds = []
    first = None
    kind = ""
    full = None
    ensure_compiled()
    for s in tqdm(seeds, desc=f"hunt {lock} {memory_model}", disable=not progress):
        s = int(s) & (2**63 - 1)
        res = _run(cfg, s)
        row = res.summary.iloc[0]
        explored += 1
        code = int(row["status_code"])
        if code in _INCONCLUSIVE or code not in _LOSS and code != st.ST_OK:
            k = _FAIL.get(code, str(code))
            inconclusive[k] = inconclusive.get(k, 0) + 1
            inconclusive_seeds.append(s)
            continue
        acqs += int(row["acquisitions"])
        if code == st.ST_OK:
            clean += 1
            continue
        losses += 1
        if first is None:
            first = (s, loss_trace(lock, res))
            full = step_trace(lock, res.failures.get(0))
            kind = _LOSS[code]
        if stop_at_first:
            break
    ci = stats.binomtest(losses, max(acqs, 1)).proportion_ci(confidence_level=0.95)
    return HuntResult(
        lock=lock, memory_model=memory_model, latch=lat, found=losses > 0, kind=kind,
        schedules_explored=explored, losses=losses, acquisitions=acqs,
        p_per_acquisition=losses / max(acqs, 1), p_ci=(float(ci.low), float(ci.high)),
        trace=first[1] if first else step_trace(lock, None), config=cfg,
        failing_seed=first[0] if first else None, full_trace=full, clean=clean,
        inconclusive=sum(inconclusive.values()), inconclusive_kinds=inconclusive,
        inconclusive_seeds=inconclusive_seeds)


def hunt_sweep(lock: str = "pv-qspinlock-v10", *, drain_ns=(0.0, 25.0, 50.0, 100.0, 200.0),
               quantum_ns=(2000.0,), memory_model: str = "tso", latch: bool = True,
               budget: int = 100, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Loss probability per acquisition against the store-buffer drain delay and the
    preemption rate (mean quantum): one :func:`hunt` per grid point, child seeds of one
    root. Columns: drain_ns, quantum_ns, schedules, clean, losses, inconclusive,
    acquisitions (of the conclusive schedules), p, p_lo, p_hi (from the conclusive
    schedules only)."""
    lock = check_choice("lock", LOCK_ALIASES.get(lock, lock) if isinstance(lock, str) else lock,
                        PV_LOCKS + _PV_ALIASES)
    drain_ns = tuple(check_float("drain_ns", d, 0.0, 1e7) for d in drain_ns)
    quantum_ns = tuple(check_float("quantum_ns", q, 1.0, 1e10) for q in quantum_ns)
    if not drain_ns or not quantum_ns:
        raise ValueError("drain_ns and quantum_ns must each hold at least one value")
    budget = check_int("budget", budget, 1, 10**7)
    seed = check_seed("seed", seed)
    latch = check_bool("latch", latch)
    rows = []
    grid = [(d, q) for q in quantum_ns for d in drain_ns]
    kids = np.random.SeedSequence(seed).generate_state(len(grid), dtype=np.uint32)
    ensure_compiled()
    for (d, q), k in zip(tqdm(grid, desc="hunt sweep", disable=not progress), kids,
                         strict=True):
        r = hunt(lock, memory_model=memory_model, budget=budget, seed=int(k), latch=latch,
                 drain_ns=float(d), quantum_ns=float(q))
        rows.append(dict(lock=lock, memory_model=memory_model, latch=latch, drain_ns=d,
                         quantum_ns=q, schedules=r.schedules_explored, clean=r.clean,
                         losses=r.losses, inconclusive=r.inconclusive,
                         acquisitions=r.acquisitions,
                         p=r.p_per_acquisition, p_lo=r.p_ci[0], p_hi=r.p_ci[1]))
    return pd.DataFrame(rows)


def replay_command(r: HuntResult) -> str:
    """The ``pvqmodel hunt ... --replay SEED`` command that re-runs ``r``'s first failing
    schedule with its trace (the CLI builds the same configuration from these flags)."""
    if r.failing_seed is None:
        raise ValueError("nothing to replay: no failure was found")
    hw = r.config["hardware"]
    flags = ["pvqmodel", "hunt", "--lock", r.lock, "--memory-model", r.memory_model,
             "--drain-ns", repr(float(hw.drain_ns if r.memory_model == "tso" else 50.0)),
             "--quantum-ns", repr(float(r.config["schedule"].quantum_ns))]
    tun = r.config["tunables"]
    if tun != hunt_defaults()[3]:
        if tun != replace(hunt_defaults()[3], pv_prev_check_mask=tun.pv_prev_check_mask):
            raise ValueError("the command line sets only pv_prev_check_mask of the hunt's "
                             "tunables; replay this result with HuntResult.replay()")
        flags += ["--pv-prev-check-mask", str(tun.pv_prev_check_mask)]
    return " ".join(flags + ([] if r.latch else ["--no-latch"])
                    + ["--replay", str(r.failing_seed)])


def hunt_table(locks=None, *, memory_models=("sc", "tso"), latches=(True, False),
               budget: int = 200, seed: int = 0, drain_ns: float = 200.0,
               pv_prev_check_mask: int = 15, progress: bool = False) -> pd.DataFrame:
    """:func:`hunt` on every lock x memory model x latch setting, one row each, with the
    same root ``seed`` for all (schedule i of every configuration has the same seed).
    ``locks`` defaults to the merged PV qspinlock's generations. The hunt's tunables
    (:func:`hunt_defaults`) with ``PV_PREV_CHECK_MASK = pv_prev_check_mask``: the
    hunt's ``SPIN_THRESHOLD`` is 128 and ``pv_wait_early`` checks when ``loop & mask ==
    0`` for ``loop`` counting down from it, so with the kernel's 0xff it never checks
    and 4.5 / 4.11 (and 4.15 / 5.4) would run the same schedules bit for bit; 15
    checks every 16 iterations, the first included. Columns: lock,
    memory_model, latch, schedules, clean, losses, inconclusive, acquisitions, kind,
    p (per acquisition), p_lo, p_hi (95 % Clopper-Pearson), failing_seed and replay (the
    ``pvqmodel hunt ... --replay SEED`` command; empty where nothing was found)."""
    from .sim import PVQ_LOCKS

    locks = PVQ_LOCKS if locks is None else locks
    if isinstance(locks, str) or not len(locks):
        raise ValueError(f"locks must be a non-empty sequence of lock names, got {locks!r}")
    locks = tuple(check_choice("locks[]", LOCK_ALIASES.get(lk, lk) if isinstance(lk, str) else lk,
                               PV_LOCKS + _PV_ALIASES) for lk in locks)
    memory_models = tuple(check_choice("memory_models[]", m, ("sc", "tso"))
                          for m in memory_models)
    latches = tuple(check_bool("latches[]", x) for x in latches)
    if not memory_models or not latches:
        raise ValueError("memory_models and latches must each hold at least one value")
    budget = check_int("budget", budget, 1, 10**7)
    seed = check_seed("seed", seed)
    drain_ns = check_float("drain_ns", drain_ns, 0.0, 1e7)
    tun = replace(hunt_defaults()[3], pv_prev_check_mask=pv_prev_check_mask)  # checks it
    grid = [(lk, m, x) for lk in locks for m in memory_models for x in latches]
    rows = []
    ensure_compiled()
    for lk, m, x in tqdm(grid, desc="hunt table", disable=not progress):
        r = hunt(lk, memory_model=m, latch=x, budget=budget, seed=seed, drain_ns=drain_ns,
                 tunables=tun)
        rows.append(dict(lock=lk, memory_model=m, latch=x, schedules=r.schedules_explored,
                         clean=r.clean, losses=r.losses, inconclusive=r.inconclusive,
                         acquisitions=r.acquisitions, kind=r.kind, p=r.p_per_acquisition,
                         p_lo=r.p_ci[0], p_hi=r.p_ci[1], failing_seed=r.failing_seed,
                         replay=replay_command(r) if r.found else ""))
    return pd.DataFrame(rows)
