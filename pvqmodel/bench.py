"""``pvqmodel bench``: the engine's speed targets (issue 12), each measured and printed
with a verdict.

Owns the measuring stick of the engine's speed. Groups (``--only``):

- ``ratio``: lock operations per wall-clock second, ticket lock, N = 8, preset hardware
  and seed workload: the engine over the SimPy model at the engine's granularity
  (:mod:`pvqmodel.reference`, ``spin="park"``: parked spinners, one event per line
  transaction, the same cost model; it agrees with the engine in distribution on ns/op
  and events/op, tests/test_engine_reference.py). The per-iteration SimPy oracle
  (``spin="iterate"``) is timed too, as information without a verdict.
- ``events``: engine events per second (the kernel's events: vCPU steps, line service
  completions, quantum ends, store-buffer drains) on one thread, N = 8, ticket and
  pv-qspinlock-v10, dedicated pCPUs; ``simulate`` with its defaults (a trace ring of 256,
  filled only if a replication fails: sim.run_state).
- ``scaling``: wall time per event at N = 256 over N = 8 for ticket, qspinlock and
  pv-qspinlock-v10, dedicated and under an overcommit-2 schedule with KVM's default PLE,
  on the preset hardware widened to 4 sockets x 64 cores. Each run is cut at an event
  budget (``max_events``, results unchecked): only its cost per event is used; no trace
  ring (``trace=0``), since a run cut by its budget counts as failed and
  ``simulate`` would run it again to record the trace (sim.run_state). Information
  beside each ratio: the same under overcommit 2 without PLE (a control: the same run
  queues, timers and background threads, none of the exits), and how predictable each
  run's sequence of events is, the entropy of the next event's kind given the last 8
  (:func:`conditional_entropy`, bits per event, from a traced run of
  ``entropy_events``). The cost of an event tracks it, not only N: at 256 vCPUs the
  dedicated and control runs (about 0.1 bit per event) cost about what 8 vCPUs do,
  while the ticket lock's PLE exits, directed yields and reschedules (about 1 bit per
  event) cost 40 % more. Presumably the event loop's branches, which the CPU predicts
  from their history, are mispredicted more often in a stream it cannot predict (the
  2-core VM has no performance counters to count them).
- ``table``: the 32-cell engine table as ``make reproduce`` runs it
  (``engine_table(ops_per_task=20_000, reps=4, seed=1)``) in process CPU seconds
  (``time.process_time``), one worker; then again with ``workers=2``: the wall speed-up.
- ``compile``: a cold compile of the engine (``ensure_compiled`` plus a small engine
  table and a scheduled PV run, so every kernel ``make reproduce`` uses) in a subprocess
  with a fresh empty ``NUMBA_CACHE_DIR``: its wall time and peak memory: the resident
  memory of the child and of the compile's helper process (engine/precompile.py)
  together, sampled every 10 ms (``_TreeRss``; the target), beside each one's own peak
  (the child's ``VmHWM``, see ``_HWM``; the helper's from ``wait4``) and their sum, an
  upper bound that counts memory never resident at once (the helper has exited before
  the child compiles the kernel); and, warm cache, the time of ``import pvqmodel`` plus
  a first ``simulate`` measured inside a fresh subprocess.
- ``host``: engine events per second of a 2-VM overcommit case on the host model (issue
  14): two VMs of 16 vCPUs, pv-qspinlock and ticket, on 16 pCPUs of the
  ``current-6.13`` host (EEVDF, PLE, halt polling, kick yield), a fixed simulated time,
  one thread; the same ``>= 15 M`` events/s as the dedicated runs, and the same run under
  CFS as information. A run simulates 100 ms (4-6 M events, about 0.35 s): the
  front-end's fixed cost per call (building the run, the result frames: about 5 ms, 10 ms
  before the frames were built from arrays) is then a few per cent at most, as in the
  ``events`` group's runs; at the 20 ms used before it was 13 % of the measured rate.
- ``memory``: peak RSS (imports included) of a subprocess that runs 256-vCPU
  simulations: ticket dedicated and pv-qspinlock-v10 under the overcommit-2 PLE
  schedule (each cut at an event budget).

Rounds are interleaved (every measurement of a group once per round, in turn, so a slow
spell of the machine hits all alike); a figure is the median over rounds with the
min-max range. The table and the cold compile are run once (about a minute or two
each). Speeds are never checked by a test: tests check the output's structure only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from .validate import check_int

GROUPS = ("ratio", "events", "scaling", "host", "table", "compile", "memory")

#: (key, group, what, comparison, limit, unit, aim or None)
TARGETS = (
    ("ratio", "ratio", "engine/SimPy (engine granularity) lock ops/s, ticket N=8", ">=",
     50.0, "x", 100.0),
    ("events_per_s_ticket", "events", "engine events/s, one thread, ticket N=8", ">=",
     15e6, "/s", 25e6),
    ("events_per_s_pv-qspinlock-v10", "events",
     "engine events/s, one thread, pv-qspinlock-v10 N=8", ">=", 15e6, "/s", 25e6),
    *((f"scaling_{lock}_{sched}", "scaling",
       f"wall per event N=256 / N=8, {lock}, {label}", "<=", 1.3, "x", None)
      for sched, label in (("dedicated", "dedicated"), ("oc2-ple", "overcommit 2 + PLE"))
      for lock in ("ticket", "qspinlock", "pv-qspinlock-v10")),
    ("events_per_s_host2vm", "host",
     "engine events/s, one thread, 2 VMs x 16 vCPUs on 16 pCPUs (EEVDF + PLE)", ">=", 15e6,
     "/s", 25e6),
    ("table_cpu_s", "table", "32-cell engine table (K=20000, 4 reps), process CPU time",
     "<=", 20.0, " CPU-s", None),
    ("table_speedup", "table", "32-cell engine table wall speed-up, workers=2 over 1", ">=",
     1.7, "x", None),
    ("compile_cold_s", "compile", "cold compile (fresh NUMBA_CACHE_DIR), wall", "<=", 30.0,
     " s", None),
    ("compile_rss_mb", "compile", "peak RSS of the cold-compile processes together "
     "(main + helper, sampled)",
     "<=", 600.0,
     " MB", None),
    ("warm_start_s", "compile", "import pvqmodel + first simulate, warm cache", "<=", 2.0,
     " s", None),
    ("memory_rss_mb", "memory", "peak RSS of 256-vCPU runs, imports included", "<=", 400.0,
     " MB", None),
)

#: Sizes of a full run (``SPEC``) and of ``--quick`` (fewer rounds, shorter rate runs;
#: the table and the compile keep their specified sizes: their targets are absolute).
SPEC = {"rounds": 5, "engine_ops": 20_000, "simpy_park_ops": 1000, "simpy_iter_ops": 150,
        "scaling_events": 2_000_000, "entropy_events": 200_000, "table_ops": 20_000,
        "table_reps": 4, "warm_rounds": 3, "memory_events": 300_000,
        "cold_cache": "fresh", "host_ns": 100_000_000}
QUICK = dict(SPEC, rounds=3, engine_ops=8000, simpy_park_ops=400, simpy_iter_ops=60,
             scaling_events=1_000_000, warm_rounds=1, host_ns=25_000_000)
#: the sizes a verdict is only meaningful at (the rates are independent of the run
#: length once it is long enough; the table, compile and memory runs are the targets)
_SPEC_KEYS = ("table_ops", "table_reps", "memory_events", "cold_cache")


def _hardware_256():
    """The preset hardware with room for 256 dedicated vCPUs."""
    from .sim import default_hardware
    return dataclasses.replace(default_hardware(), cores_per_socket=64, sockets=4)


def _ple_schedule():
    from .params import PLE_WINDOW_NS, Schedule
    return Schedule(overcommit=2, ple_window_ns=PLE_WINDOW_NS)  # KVM's default window


def _oc2_schedule():
    from .params import Schedule
    return Schedule(overcommit=2)


def _summary(samples: list[float]) -> dict:
    return {"value": statistics.median(samples), "lo": min(samples), "hi": max(samples),
            "rounds": len(samples), "samples": samples}


# ---- ratio and events -----------------------------------------------------------------
def _engine_run(lock, n, K, hw, wl, seed):
    from .sim import simulate
    t0 = time.perf_counter()
    s = simulate(lock, n, K, hardware=hw, workload=wl, reps=1, seed=seed).summary
    dt = time.perf_counter() - t0
    return int(s["ops"].sum()), int(s["events"].sum()), dt


def _simpy_run(spin, n, K, hw, wl, seed):
    from .reference import reference_simulate
    t0 = time.perf_counter()
    df = reference_simulate("ticket", n, K, hardware=hw, workload=wl, reps=1, seed=seed,
                            spin=spin)
    dt = time.perf_counter() - t0
    return int(df["ops"].sum()), int(df["events"].sum()), dt


def _ratio_events(groups, size, seed, meas, info):
    from .sim import default_hardware, default_workload
    hw, wl, n = default_hardware(), default_workload(), 8
    want_ratio, want_events = "ratio" in groups, "events" in groups
    s = {k: [] for k in ("ratio", "iter_ratio", "ev_ticket", "ev_pv", "e_ops", "p_ops",
                         "i_ops", "e_epo", "p_epo", "i_epo", "p_evs")}
    for r in range(size["rounds"]):
        e_ops, e_ev, e_dt = _engine_run("ticket", n, size["engine_ops"], hw, wl, seed + r)
        s["ev_ticket"].append(e_ev / e_dt)
        s["e_ops"].append(e_ops / e_dt)
        s["e_epo"].append(e_ev / e_ops)
        if want_ratio:
            p_ops, p_ev, p_dt = _simpy_run("park", n, size["simpy_park_ops"], hw, wl, seed + r)
            i_ops, i_ev, i_dt = _simpy_run("iterate", n, size["simpy_iter_ops"], hw, wl,
                                           seed + r)
            s["ratio"].append((e_ops / e_dt) / (p_ops / p_dt))
            s["iter_ratio"].append((e_ops / e_dt) / (i_ops / i_dt))
            s["p_ops"].append(p_ops / p_dt)
            s["i_ops"].append(i_ops / i_dt)
            s["p_epo"].append(p_ev / p_ops)
            s["i_epo"].append(i_ev / i_ops)
            s["p_evs"].append(p_ev / p_dt)
        if want_events:
            _, v_ev, v_dt = _engine_run("pv-qspinlock-v10", n, size["engine_ops"], hw, wl,
                                        seed + r)
            s["ev_pv"].append(v_ev / v_dt)
    med = statistics.median
    info["engine_ticket_n8"] = {
        "ops_per_task": size["engine_ops"], "ops_per_s": med(s["e_ops"]),
        "events_per_op": med(s["e_epo"]), "events_per_s": med(s["ev_ticket"])}
    if want_ratio:
        meas["ratio"] = _summary(s["ratio"])
        info["simpy_park_ticket_n8"] = {
            "ops_per_task": size["simpy_park_ops"], "ops_per_s": med(s["p_ops"]),
            "events_per_op": med(s["p_epo"]), "events_per_s": med(s["p_evs"])}
        info["simpy_iterate_ticket_n8"] = {
            "ops_per_task": size["simpy_iter_ops"], "ops_per_s": med(s["i_ops"]),
            "events_per_op": med(s["i_epo"])}
        info["ratio_iterate"] = _summary(s["iter_ratio"])
    if want_events:
        meas["events_per_s_ticket"] = _summary(s["ev_ticket"])
        meas["events_per_s_pv-qspinlock-v10"] = _summary(s["ev_pv"])


# ---- scaling --------------------------------------------------------------------------
def _per_event(lock, n, sched, hw, wl, events, seed):
    """Wall seconds per event of one run cut at ``events`` events."""
    from .sim import simulate
    t0 = time.perf_counter()
    s = simulate(lock, n, 10**7, hardware=hw, workload=wl, schedule=sched, reps=1,
                 seed=seed, max_events=events, check=False, trace=0).summary
    dt = time.perf_counter() - t0
    return dt / max(int(s["events"].sum()), 1)


def _scaling(size, seed, meas, info):
    from .sim import default_workload
    hw, wl = _hardware_256(), default_workload()
    # "oc2" (overcommit 2 without PLE) is a control, information only: the same run
    # queues, pCPU timers and background threads as "oc2-ple", without the exits
    scheds = {"dedicated": None, "oc2-ple": _ple_schedule(), "oc2": _oc2_schedule()}
    keys = [(lock, name) for name in scheds for lock in ("ticket", "qspinlock",
                                                         "pv-qspinlock-v10")]
    ratios = {k: [] for k in keys}
    per = {k: ([], []) for k in keys}
    for r in range(size["rounds"]):
        for lock, name in keys:
            a = _per_event(lock, 8, scheds[name], hw, wl, size["scaling_events"], seed + r)
            b = _per_event(lock, 256, scheds[name], hw, wl, size["scaling_events"], seed + r)
            ratios[(lock, name)].append(b / a)
            per[(lock, name)][0].append(a)
            per[(lock, name)][1].append(b)
    for lock, name in keys:
        (info if name == "oc2" else meas)[f"scaling_{lock}_{name}"] = _summary(
            ratios[(lock, name)])
        info[f"ns_per_event_{lock}_{name}"] = {
            "n8": 1e9 * statistics.median(per[(lock, name)][0]),
            "n256": 1e9 * statistics.median(per[(lock, name)][1]),
            "bits8": _event_entropy(lock, 8, scheds[name], hw, wl,
                                    size["entropy_events"], seed),
            "bits256": _event_entropy(lock, 256, scheds[name], hw, wl,
                                      size["entropy_events"], seed)}
    info["scaling_events_per_run"] = size["scaling_events"]
    info["entropy_events_per_run"] = size["entropy_events"]


#: Events of history on which ``_event_entropy`` conditions
ENTROPY_HISTORY = 8


def _event_entropy(lock, n, sched, hw, wl, events, seed):
    """How unpredictable a run's sequence of events is: the conditional entropy, bits per
    event, of what fires next (the timer slot's kind, and a vCPU step's mode) given the
    previous :data:`ENTROPY_HISTORY` events, from the trace of one run cut at ``events``
    events (``simulate`` replays a run cut by its budget with the trace ring)."""
    import numpy as np

    from .sim import simulate
    res = simulate(lock, n, 10**7, hardware=hw, workload=wl, schedule=sched, reps=1,
                   seed=seed, max_events=events, check=False, trace=events)
    tr = res.failures.get(0)
    if tr is None:  # it finished within the budget: no trace (never with K = 10**7)
        return float("nan")
    code = (tr["kind"].cat.codes.to_numpy(np.int64) * 64
            + np.where(tr["kind"] == "vcpu", tr["mode"].to_numpy(np.int64), 0))
    return conditional_entropy(code, ENTROPY_HISTORY)


def conditional_entropy(symbols, history: int) -> float:
    """Entropy, bits per symbol, of ``symbols[i]`` given ``symbols[i - history:i]``,
    estimated from the sequence's own frequencies: H(context, next) - H(context) over
    its windows of ``history + 1`` symbols (a plug-in estimate: biased low when the
    windows seen are few against the contexts possible)."""
    import numpy as np
    from scipy import stats
    history = check_int("history", history, 0, 16)
    _, x = np.unique(np.asarray(symbols), return_inverse=True)
    base = int(x.max()) + 1 if x.size else 1
    if x.size <= history or base == 1:
        return 0.0
    if base ** (history + 1) >= 2**63:
        raise ValueError(f"history: {history} symbols of an alphabet of {base} do not "
                         "fit a 64-bit window code; use a shorter history")
    win = np.zeros(x.size - history, dtype=np.int64)
    for j in range(history + 1):
        win = win * base + x[j:x.size - history + j]
    ctx = win // base
    joint = stats.entropy(np.unique(win, return_counts=True)[1], base=2)
    marg = stats.entropy(np.unique(ctx, return_counts=True)[1], base=2)
    return float(joint - marg)


# ---- host -----------------------------------------------------------------------------
def _host_case(scheduler: str):
    from .host import VM, Host
    from .params import Workload
    h = Host.preset("current-6.13").replace(pcpus=16, sockets=1, scheduler=scheduler)
    wl = Workload(cs_ns=250.0, loop_ns=10.0)
    return h, [VM("a", 16, lock="pv-qspinlock", workload=wl, think_ns=2000.0,
                  think_dist="exp"),
               VM("b", 16, lock="ticket", workload=wl, think_ns=2000.0, think_dist="exp")]


def _host_rate(scheduler, size, seed):
    from .hostsim import simulate_host
    h, vms = _host_case(scheduler)
    t0 = time.perf_counter()
    r = simulate_host(h, vms, duration_ns=size["host_ns"], reps=1, seed=seed, check=False)
    dt = time.perf_counter() - t0
    return int(r.summary["events"].sum()) / dt


def _host(size, seed, meas, info):
    eevdf, cfs = [], []
    _host_rate("eevdf", dict(size, host_ns=1e5), seed)  # warm (nothing to compile)
    for r in range(size["rounds"]):
        eevdf.append(_host_rate("eevdf", size, seed + r))
        cfs.append(_host_rate("cfs", size, seed + r))
    meas["events_per_s_host2vm"] = _summary(eevdf)
    info["events_per_s_host2vm_cfs"] = _summary(cfs)
    info["host_ns_per_run"] = size["host_ns"]


# ---- table ----------------------------------------------------------------------------
def _load() -> float:
    """The 1-minute load average (how idle the cores were), or -1 where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return -1.0


def _table(size, meas, info):
    from .calibrate import engine_table
    kw = dict(ops_per_task=size["table_ops"], reps=size["table_reps"], seed=1,
              progress=False)
    load1 = _load()
    c0, t0 = time.process_time(), time.perf_counter()
    engine_table(workers=1, **kw)
    cpu1, wall1 = time.process_time() - c0, time.perf_counter() - t0
    load2 = _load()
    c0, t0 = time.process_time(), time.perf_counter()
    engine_table(workers=2, **kw)
    cpu2, wall2 = time.process_time() - c0, time.perf_counter() - t0
    meas["table_cpu_s"] = _summary([cpu1])
    meas["table_speedup"] = _summary([wall1 / wall2])
    info["table"] = {"ops_per_task": size["table_ops"], "reps": size["table_reps"],
                     "workers1_wall_s": wall1, "workers1_cpu_s": cpu1,
                     "workers2_wall_s": wall2, "workers2_cpu_s": cpu2,
                     "cpus": os.cpu_count(), "load_before_workers1": load1,
                     "load_before_workers2": load2, "load_after": _load()}


# ---- subprocesses: compile, warm start, memory ----------------------------------------
_COLD = """
import json, time
t0 = time.perf_counter()
from pvqmodel.engine import ensure_compiled
cold = ensure_compiled(stream=False)
t1 = time.perf_counter()
from pvqmodel.calibrate import engine_table
from pvqmodel.params import PLE_WINDOW_NS, Schedule
from pvqmodel.sim import simulate
engine_table(ops_per_task=20, reps=1, progress=False)
simulate("pv-qspinlock-v10", 4, 20, reps=1,
         schedule=Schedule(overcommit=2, quantum_ns=1e5, ple_window_ns=PLE_WINDOW_NS))
from pvqmodel.engine.precompile import LAST_HELPER
print(json.dumps({"cold": cold, "compile_s": t1 - t0,
                  "total_s": time.perf_counter() - t0,
                  "helper_rss_mb": LAST_HELPER.get("rss_mb", 0.0)}))
"""

_WARM = """
import json, time
t0 = time.perf_counter()
import pvqmodel
pvqmodel.simulate("ticket", 8, 200, reps=1)
print(json.dumps({"warm_s": time.perf_counter() - t0}))
"""

_MEMORY = """
import dataclasses, json
import pvqmodel
from pvqmodel.params import PLE_WINDOW_NS, Schedule
from pvqmodel.sim import default_hardware
hw = dataclasses.replace(default_hardware(), cores_per_socket=64, sockets=4)
ev = {events}
pvqmodel.simulate("ticket", 256, 10**7, hardware=hw, reps=1, max_events=ev, check=False,
                  trace=0)
pvqmodel.simulate("pv-qspinlock-v10", 256, 10**7, hardware=hw, reps=1, max_events=ev,
                  check=False, trace=0,
                  schedule=Schedule(overcommit=2, ple_window_ns=PLE_WINDOW_NS))
print(json.dumps({{"ok": True}}))
"""


#: Appended to every child's code: its own peak RSS from ``/proc/self/status`` (VmHWM,
#: the high-water mark of its address space after exec). ``ru_maxrss`` from ``wait4``
#: is not used on Linux: exec saves the old address space's high-water mark into the
#: child's maxrss, and with vfork (which subprocess uses) that old address space is the
#: parent's, so a parent that has compiled the engine lent the child its own peak.
_HWM = """
def _pvq_hwm():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
print(json.dumps({"vmhwm_mb": _pvq_hwm()}))
"""


class _TreeRss:
    """Samples, every ``period`` s from a thread, the resident memory of a process and of
    all its descendants together (VmRSS from /proc, the children from each task's
    ``children`` list) and keeps the largest sum: the memory a run of processes needs at
    once, where the sum of each process's own peak counts memory that never coexists
    (the cold compile's helper has exited before the main process compiles the kernel).
    A peak shorter than the period can be missed; a compile's memory grows and shrinks
    over seconds. ``peak_mb`` is None where /proc is missing (not Linux)."""

    def __init__(self, pid: int, period: float = 0.01):
        self.pid, self.period = pid, period
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            q = todo.pop()
            out.append(q)
            try:
                for task in os.listdir(f"/proc/{q}/task"):
                    with open(f"/proc/{q}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:  # exited meanwhile, or no such file
                pass
        return out

    @staticmethod
    def _rss_kb(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self):
        if not os.path.isdir(f"/proc/{self.pid}"):
            return
        while not self._stop.is_set():
            mb = sum(self._rss_kb(q) for q in self._tree(self.pid)) / 1024
            self.peak_mb = mb if self.peak_mb is None else max(self.peak_mb, mb)
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _child(code: str, env: dict | None = None, sample: bool = False
           ) -> tuple[dict, float, float, float | None]:
    """Run ``code`` in a fresh interpreter: (its JSON line, wall s, its peak RSS in MB:
    VmHWM where /proc exists, else ``ru_maxrss`` of ``os.wait4``; with ``sample``, the
    sampled peak of the child and its descendants together, :class:`_TreeRss`, else
    None)."""
    e = dict(os.environ)
    e.update(env or {})
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-c", "import json\n" + code + _HWM],
                             stdout=out, stderr=err, env=e)
        if sample:
            with _TreeRss(p.pid) as sampler:
                _, status, ru = os.wait4(p.pid, 0)  # this child's own rusage
            together = sampler.peak_mb
        else:
            _, status, ru = os.wait4(p.pid, 0)
            together = None
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, etext = out.read(), err.read()
    if p.returncode != 0:
        raise RuntimeError(f"bench subprocess failed ({p.returncode}):\n{etext[-2000:]}")
    lines = text.strip().splitlines()
    hwm = json.loads(lines[-1])["vmhwm_mb"]
    rss = hwm if hwm is not None else (
        ru.ru_maxrss / 1024 if sys.platform != "darwin" else ru.ru_maxrss / 2**20)
    return json.loads(lines[-2]), wall, rss, together


def _compile(size, meas, info):
    import numba
    if size["cold_cache"] == "fresh":
        with tempfile.TemporaryDirectory(prefix="pvq-bench-numba-") as d:
            res, wall, rss, together = _child(_COLD, {"NUMBA_CACHE_DIR": d}, sample=True)
    else:  # tests only: the current (warm) cache, so the figure is not a cold compile
        res, wall, rss, together = _child(
            _COLD, {"NUMBA_CACHE_DIR": str(numba.config.CACHE_DIR)}, sample=True)
    meas["compile_cold_s"] = _summary([wall])
    # the helper process (engine/precompile.py) runs beside the main one: the target is
    # their memory together, sampled (where /proc exists; else the sum of the two peaks,
    # an upper bound: the helper has exited before the main process's own peak)
    both = rss + res["helper_rss_mb"]
    meas["compile_rss_mb"] = _summary([together if together is not None else both])
    info["compile"] = dict(res, subprocess_wall_s=wall, cache=size["cold_cache"],
                           main_rss_mb=rss, sum_of_peaks_mb=both, sampled_mb=together)
    warm, walls = [], []
    for _ in range(size["warm_rounds"]):
        res, wall, _, _ = _child(_WARM)
        warm.append(res["warm_s"])
        walls.append(wall)
    meas["warm_start_s"] = _summary(warm)
    info["warm_start_subprocess_wall_s"] = statistics.median(walls)


def _memory(size, meas, info):
    res, wall, rss, _ = _child(_MEMORY.format(events=size["memory_events"]))
    meas["memory_rss_mb"] = _summary([rss])
    info["memory"] = {"events_per_run": size["memory_events"], "subprocess_wall_s": wall}


# ---- driver ---------------------------------------------------------------------------
def bench(*, groups=GROUPS, quick: bool = False, sizes: dict | None = None,
          seed: int = 0) -> dict:
    """Measure the targets of ``groups``; ``sizes`` overrides entries of :data:`SPEC`
    (or :data:`QUICK`). Returns a dict: config, groups, sizes, spec (False if a size
    that a target depends on differs from the specification), measurements (per target
    key: value = median, lo, hi, rounds, samples), info, verdicts."""
    from .engine import ensure_compiled

    groups = check_groups(groups)
    size = dict(QUICK if quick else SPEC)
    for k, v in (sizes or {}).items():
        if k not in size:
            raise ValueError(f"sizes: unknown key {k!r}; allowed: {sorted(size)}")
        size[k] = v
    ensure_compiled()  # warm the cache: every group measures compiled code
    load0 = _load()
    meas, info = {}, {}
    if "ratio" in groups or "events" in groups:
        _ratio_events(groups, size, seed, meas, info)
    if "scaling" in groups:
        _scaling(size, seed, meas, info)
    if "host" in groups:
        _host(size, seed, meas, info)
    if "table" in groups:
        _table(size, meas, info)
    if "compile" in groups:
        _compile(size, meas, info)
    if "memory" in groups:
        _memory(size, meas, info)
    d = {"config": "preset hardware (westmere-ex) and seed workload unless stated",
         "load_start": load0, "load_end": _load(), "groups": list(groups),
         "quick": bool(quick), "sizes": size,
         "spec": all(size[k] == SPEC[k] for k in _SPEC_KEYS),
         "cpus": os.cpu_count(), "versions": _versions(), "measurements": meas,
         "info": info}
    d["verdicts"] = verdicts(meas)
    return d


def _versions() -> dict:
    """The versions the measurements depend on most: the compiler's (numba, llvmlite;
    numba 0.68.1 compiles the engine in 35 MB more per process than 0.68.0) and Python's."""
    import platform

    import llvmlite
    import numba
    import numpy as np
    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "llvmlite": llvmlite.__version__}


def check_groups(groups) -> tuple[str, ...]:
    """The groups as a tuple in :data:`GROUPS` order; ValueError naming the allowed set."""
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise ValueError(f"groups must be a non-empty subset of {{{', '.join(GROUPS)}}}, "
                         f"got {', '.join(map(repr, bad)) or 'none'}")
    return tuple(g for g in GROUPS if g in groups)


def verdicts(meas: dict) -> list[dict]:
    """One verdict per target measured in ``meas`` (targets not measured are skipped)."""
    out = []
    for key, group, what, op, limit, unit, aim in TARGETS:
        if key in meas:
            m = meas[key]
            met = m["value"] >= limit if op == ">=" else m["value"] <= limit
            out.append({"target": key, "group": group, "what": what, "op": op,
                        "limit": limit, "aim": aim, "unit": unit, "measured": m["value"],
                        "lo": m["lo"], "hi": m["hi"], "rounds": m["rounds"],
                        "met": bool(met)})
    return out


def _num(x: float, unit: str) -> str:
    if unit == "/s":
        return f"{x / 1e6:.3g} M{unit}"
    return f"{x:.3g}{unit}"


def format_human(d: dict) -> str:
    info = d["info"]
    lines = [f"pvqmodel bench ({d['config']}; {d['cpus']} CPUs; groups "
             f"{','.join(d['groups'])}{'; quick' if d['quick'] else ''}; 1-min load "
             f"average {d['load_start']} at the start, {d['load_end']} at the end; "
             + ", ".join(f"{k} {v}" for k, v in d["versions"].items()) + ")"]
    if not d["spec"]:
        spec = ", ".join(f"{k}={d['sizes'][k]}" for k in _SPEC_KEYS)
        lines.append(f"NOTE: sizes differ from the specification ({spec}): the verdicts "
                     "below do not judge the targets")
    if "engine_ticket_n8" in info:
        e = info["engine_ticket_n8"]
        lines.append(f"  engine ticket N=8: {e['ops_per_s']:,.0f} lock ops/s, "
                     f"{e['events_per_op']:.1f} events/op, {e['events_per_s'] / 1e6:.2f} M "
                     f"events/s (K={e['ops_per_task']})")
    if "simpy_park_ticket_n8" in info:
        p, i = info["simpy_park_ticket_n8"], info["simpy_iterate_ticket_n8"]
        lines.append(f"  SimPy parked-spinner model: {p['ops_per_s']:,.0f} lock ops/s, "
                     f"{p['events_per_op']:.1f} events/op (K={p['ops_per_task']})")
        ri = info["ratio_iterate"]
        lines.append(f"  SimPy per-iteration oracle: {i['ops_per_s']:,.0f} lock ops/s, "
                     f"{i['events_per_op']:.1f} events/op (K={i['ops_per_task']}); engine "
                     f"over it {ri['value']:.0f}x ({ri['lo']:.0f}-{ri['hi']:.0f}), "
                     "information only (not equal granularity)")
    for k, v in info.items():
        if k.startswith("ns_per_event_"):
            case = k[len('ns_per_event_'):]
            ctl = f" (control, information: ratio {info['scaling_' + case]['value']:.2f})" \
                if case.endswith("_oc2") else ""
            lines.append(f"  {case}: {v['n8']:.0f} ns/event at N=8, {v['n256']:.0f} at "
                         f"N=256; next event given the last {ENTROPY_HISTORY}: "
                         f"{v['bits8']:.2f} bits at N=8, {v['bits256']:.2f} at N=256{ctl}")
    if "events_per_s_host2vm_cfs" in info:
        c = info["events_per_s_host2vm_cfs"]
        lines.append(f"  host 2-VM case under CFS: {c['value'] / 1e6:.3g} M events/s "
                     f"({c['lo'] / 1e6:.3g}-{c['hi'] / 1e6:.3g}), information; "
                     f"{info['host_ns_per_run'] / 1e6:.0f} ms simulated per run")
    if "table" in info:
        t = info["table"]
        lines.append(f"  table (K={t['ops_per_task']}, {t['reps']} reps): workers=1 "
                     f"{t['workers1_wall_s']:.1f} s wall, {t['workers1_cpu_s']:.1f} CPU-s; "
                     f"workers=2 {t['workers2_wall_s']:.1f} s wall, "
                     f"{t['workers2_cpu_s']:.1f} CPU-s "
                     f"({t['workers2_cpu_s'] / t['workers2_wall_s']:.2f} cores busy on average; "
                     "1-min load average before each run "
                     f"{t['load_before_workers1']}, {t['load_before_workers2']}, after "
                     f"{t['load_after']}: the speed-up target assumes 2 idle cores)")
    if "compile" in info:
        c = info["compile"]
        lines.append(f"  compile subprocess ({c['cache']} cache, cold={c['cold']}): "
                     f"ensure_compiled {c['compile_s']:.1f} s, all runs {c['total_s']:.1f} s, "
                     f"process wall {c['subprocess_wall_s']:.1f} s, peak RSS main "
                     f"{c['main_rss_mb']:.0f} MB, helper {c['helper_rss_mb']:.0f} MB (sum "
                     f"of the two peaks {c['sum_of_peaks_mb']:.0f} MB; together, sampled "
                     f"every 10 ms, {c['sampled_mb'] or float('nan'):.0f} MB); warm "
                     f"start subprocess wall {info['warm_start_subprocess_wall_s']:.2f} s")
    for v in d["verdicts"]:
        rng = (f" (median of {v['rounds']}, range {_num(v['lo'], v['unit'])}-"
               f"{_num(v['hi'], v['unit'])})" if v["rounds"] > 1 else " (1 run)")
        aim = f", aim {_num(v['aim'], v['unit'])}" if v["aim"] is not None else ""
        lines.append(f"target {v['what']} {v['op']} {_num(v['limit'], v['unit'])}{aim}: "
                     f"measured {_num(v['measured'], v['unit'])}{rng} -> "
                     f"{'met' if v['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(json_out: bool = False, **kw) -> int:
    d = bench(**kw)
    print(json.dumps(d) if json_out else format_human(d))
    return 0
