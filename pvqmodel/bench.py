"""Speed of the engine against the SimPy reference, and wall time of the PV-off table.

Owns ``pvqmodel bench``: both models run the same configuration (ticket lock, 8 tasks,
the calibrated hardware and seed workload) and are counted the same way: simulated
lock/unlock operations per wall-clock second, and events per second (the engine's
kernel events: vCPU steps and line-service completions; SimPy's processed events).
Compilation is excluded (a warm-up run first). The SimPy model simulates every spin
iteration; the engine parks spinners, which is part of why it is faster. It also
times the whole PV-off table (16 cells, 4 replications, K = 20 000 per task).
Each figure with a target (:data:`TARGETS`) gets a verdict: met or NOT met.
"""

from __future__ import annotations

import json
import os
import time

from .calibrate import engine_table
from .sim import default_hardware, default_workload, simulate

#: The speed targets: (key in the bench dict, what, comparison, threshold, unit).
TARGETS = (
    ("ratio", "engine/SimPy lock ops per second", ">=", 50.0, "x"),
    ("table_wall_s", "PV-off table wall time", "<=", 20.0, " s"),
)


def verdicts(d: dict) -> list[dict]:
    """One verdict per target measured in ``d`` (targets not measured are skipped)."""
    out = []
    for key, what, op, limit, unit in TARGETS:
        if key in d:
            met = d[key] >= limit if op == ">=" else d[key] <= limit
            out.append({"target": key, "what": what, "op": op, "limit": limit, "unit": unit,
                        "measured": d[key], "met": bool(met)})
    return out


def _simpy_run(n, K, hw, wl, seed):
    import simpy

    from . import reference

    counter = {"events": 0}
    orig = simpy.Environment.step

    def step(self):
        counter["events"] += 1
        return orig(self)

    simpy.Environment.step = step
    try:
        t0 = time.perf_counter()
        df = reference.reference_simulate("ticket", n, K, hardware=hw, workload=wl, reps=1,
                                          seed=seed)
        dt = time.perf_counter() - t0
    finally:
        simpy.Environment.step = orig
    return int(df["ops"].sum()), counter["events"], dt


def bench(*, tasks: int = 8, engine_ops: int = 20_000, simpy_ops: int = 400,
          table: bool = True, workers: int | None = None, seed: int = 0) -> dict:
    """Measure and return the figures (see module docstring)."""
    hw, wl = default_hardware(), default_workload()
    simulate("ticket", tasks, 50, hardware=hw, workload=wl, reps=1)  # compile / load
    t0 = time.perf_counter()
    s = simulate("ticket", tasks, engine_ops, hardware=hw, workload=wl, reps=1,
                 seed=seed).summary
    dt = time.perf_counter() - t0
    e_ops, e_events = int(s["ops"].sum()), int(s["events"].sum())
    r_ops, r_events, r_dt = _simpy_run(tasks, simpy_ops, hw, wl, seed)
    out = {
        "config": f"ticket lock, {tasks} tasks, preset hardware and seed workload",
        "engine_ops": e_ops, "engine_wall_s": dt, "engine_ops_per_s": e_ops / dt,
        "engine_events_per_s": e_events / dt,
        "simpy_ops": r_ops, "simpy_wall_s": r_dt, "simpy_ops_per_s": r_ops / r_dt,
        "simpy_events_per_s": r_events / r_dt,
    }
    out["ratio"] = out["engine_ops_per_s"] / out["simpy_ops_per_s"]
    if table:
        w = workers or min(2, os.cpu_count() or 1)
        engine_table(hardware=hw, workload=wl, ops_per_task=200, reps=1, progress=False,
                     pv="off")
        t0 = time.perf_counter()
        engine_table(hardware=hw, workload=wl, ops_per_task=20_000, reps=4, progress=False,
                     workers=w, pv="off")
        out["table_wall_s"] = time.perf_counter() - t0
        out["table_config"] = f"16 PV-off cells x 4 reps x K=20000, {w} worker threads"
    return out


def format_human(d: dict) -> str:
    lines = [f"engine vs SimPy reference ({d['config']})",
             f"  engine: {d['engine_ops_per_s']:,.0f} lock ops/s, "
             f"{d['engine_events_per_s']:,.0f} events/s ({d['engine_ops']} ops in "
             f"{d['engine_wall_s']:.2f} s)",
             f"  SimPy:  {d['simpy_ops_per_s']:,.0f} lock ops/s, "
             f"{d['simpy_events_per_s']:,.0f} events/s ({d['simpy_ops']} ops in "
             f"{d['simpy_wall_s']:.2f} s)",
             f"  ratio (lock ops/s): {d['ratio']:.0f}x"]
    if "table_wall_s" in d:
        lines.append(f"PV-off table ({d['table_config']}): {d['table_wall_s']:.1f} s")
    for v in verdicts(d):
        lines.append(f"target {v['what']} {v['op']} {v['limit']:g}{v['unit']}: measured "
                     f"{v['measured']:.3g}{v['unit']} -> {'met' if v['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(json_out: bool = False, **kw) -> int:
    d = bench(**kw)
    d["verdicts"] = verdicts(d)
    print(json.dumps(d) if json_out else format_human(d))
    return 0
