"""The ``pvqmodel`` command line (also ``python -m pvqmodel``).

Owns argument parsing, checking and printing only; every subcommand calls package
functions. Bad input never shows a traceback: flag values are range-checked by argparse
``type=`` functions (usage plus one error line naming the flag, exit status 2), and a
``ValueError`` the library raises before running anything is reported the same way,
with the library's parameter name translated to its flag. Ctrl-C prints
``pvqmodel: interrupted`` and exits 130. The package is imported lazily, so
``pvqmodel --help`` does not load numba, pandas, scipy or matplotlib. Every subcommand
that runs the engine first calls :func:`_warm_engine` (the one-time compile announces
itself before progress bars start). ``pvqmodel reproduce`` regenerates everything
``make reproduce`` promises, writing every file atomically and a manifest last;
``pvqmodel status`` checks the files on disk against it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

from .paths import FIGURES, PROCESSED, ROOT

STUDIES = ROOT / "studies"

#: simulate's lock names (pvqmodel.sim.LOCKS plus the table's "queue" and the aliases);
#: kept here so that ``--help`` does not import the engine (a test checks they agree).
#: the merged PV qspinlock's generations (locks.pv_generations) and their alias
PVQ_LOCK_NAMES = ("pv-qspinlock-4.2", "pv-qspinlock-4.3", "pv-qspinlock-4.4",
                  "pv-qspinlock-4.5", "pv-qspinlock-4.11", "pv-qspinlock-4.15",
                  "pv-qspinlock-5.4", "pv-qspinlock")
LOCK_NAMES = ("pv-qspinlock-v10", "pv-qspinlock-v10-unfair", "pv-ticket", "qspinlock",
              "qspinlock-4.18", "qspinlock-v10", "queue", "tas", "ticket", "unfair-qspinlock",
              *PVQ_LOCK_NAMES)
PV_LOCK_NAMES = ("pv-qspinlock-v10", "pv-qspinlock-v10-unfair", "pv-ticket", *PVQ_LOCK_NAMES)
SEED_MAX = 2**63 - 1
_PRESET_NAME = re.compile(r"[a-z0-9-]+")
_HOST_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")


class UsageError(Exception):
    """A bad flag value found by a subcommand before it starts work: ``flag`` and text."""

    def __init__(self, flag: str, message: str):
        super().__init__(message)
        self.flag = flag


# ----------------------------------------------------------------- argument types

def _bound(v) -> str:
    """A range bound as people write it: 2^63 - 1, 10^8."""
    if isinstance(v, int) and v > 10**6:
        for k in range(6, 19):
            if v == 10**k:
                return f"10^{k}"
        for d in (0, 1, 2):
            if v == 2**63 - d:
                return f"2^63 - {d}" if d else "2^63"
    return f"{v:g}" if isinstance(v, float) else str(v)


def int_range(lo: int, hi: int):
    """argparse ``type=``: an integer in [lo, hi] (both inclusive)."""
    def parse(text: str) -> int:
        try:
            value = int(text, 0) if text.strip().lower().startswith("0x") else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer in [{_bound(lo)}, {_bound(hi)}], got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"must be an integer in [{_bound(lo)}, {_bound(hi)}], got {text!r}")
        return value
    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float):
    """argparse ``type=``: a finite number in [lo, hi] (both inclusive)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a number in [{lo:g}, {hi:g}], got {text!r}") from None
        if not lo <= value <= hi:  # also rejects nan; inf only if hi is inf
            raise argparse.ArgumentTypeError(
                f"must be a number in [{lo:g}, {hi:g}], got {text!r}")
        return value
    parse.__name__ = "number"
    return parse


def number(text: str) -> float:
    """argparse ``type=``: any finite number (the library checks the range)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def integer(text: str) -> int:
    """argparse ``type=``: any integer (the library checks the range)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def preset_name(text: str) -> str:
    """argparse ``type=``: a hardware preset name, [a-z0-9-]+."""
    if not _PRESET_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be a preset name of lower-case letters, digits and '-', got {text!r}")
    return text


def host_preset_name(text: str) -> str:
    """argparse ``type=``: a host preset name, [a-z0-9.-]+ (``current-6.13``)."""
    if not _HOST_PRESET_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be a host preset name of lower-case letters, digits, '.' and '-', "
            f"got {text!r}")
    return text


def ple_window(text: str) -> float | None:
    """``--ple-window-ns``: ``off``, ``kvm`` (KVM's default 4096 cycles at 2.4 GHz) or ns."""
    if text == "off":
        return None
    if text == "kvm":
        from .params import PLE_WINDOW_NS
        return PLE_WINDOW_NS
    try:
        return number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'off', 'kvm' or a number of ns, got {text!r}") from None


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, except where the help text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text:
            return text
        return super()._get_help_string(action)


# ------------------------------------------------------------------- helpers

def _warm_engine() -> None:
    """Compile (or load from numba's cache) the engine before a subcommand runs it, so
    the one-time compile is announced and progress bars start after it."""
    from .engine import ensure_compiled

    ensure_compiled()


def _write_csv(df, path: Path) -> Path:
    from .outputs import write_csv

    return write_csv(df, path)


def _print_frame(df, width: int = 140, digits: int = 4) -> None:
    import pandas as pd

    with pd.option_context("display.width", width, "display.max_rows", 200,
                           "display.max_colwidth", 90):
        print(df.round(digits).to_string(index=False))


# --------------------------------------------------------------------- commands

def _cmd_table(args) -> int:
    if args.engine:
        return _cmd_engine_table(args)
    from .data import seed_table

    _print_frame(seed_table(), width=120, digits=3)
    return 0


def _cmd_locks(args) -> int:
    from .locks import registry_rows

    rows = registry_rows()
    if args.json:
        import json

        print(json.dumps(rows, indent=1))
        return 0
    table = [["lock", "kernel", "kind", "FIFO", "commits", "summary"]]
    for r in rows:
        name = r["lock"] + "".join(f" ({a})" for a in r["aliases"])
        table.append([name, r["kernel"], r["kind"], "yes" if r["fifo"] else "no",
                      ", ".join(r["commits"]) or "-", r["summary"]])
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]) - 1)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _cmd_fit(args) -> int:
    from .fit import fit_analytic

    report = fit_analytic(ci=args.ci, n_boot=args.n_boot, seed=args.seed)
    print(report)
    if args.out is not None:
        paths = _write_fit_tables(report, Path(args.out))
        print(f"\nwrote {len(paths)} files: {args.out}/analytic_fit_{{params,points,summary}}.csv")
    return 0


def _write_fit_tables(report, out: Path) -> list[Path]:
    return [_write_csv(getattr(report, k), out / f"analytic_fit_{k}.csv")
            for k in ("params", "points", "summary")]


#: Figures drawn from the table and the analytical fits only (no engine run).
_NO_ENGINE_FIGURES = frozenset({"seed-table", "seed-per-op", "seed-pv-ratio", "analytic-fits"})


def _figure_names(only, flag: str = "--only") -> list[str] | None:
    """Check figure names against the registry before building anything."""
    if only is None:
        return None
    from .figures import REGISTRY

    unknown = [n for n in only if n not in REGISTRY]
    if unknown:
        raise UsageError(flag, f"unknown figure name(s) {unknown}; known: "
                                   f"{', '.join(REGISTRY)} (see --list)")
    return list(only)


def _cmd_figures(args) -> int:
    from .figures import REGISTRY, build_all

    if args.list:
        print("\n".join(REGISTRY))
        return 0
    names = _figure_names(args.only)
    if names is None or set(names) - _NO_ENGINE_FIGURES:
        _warm_engine()
    try:
        paths = build_all(args.out, names=names, progress=not args.quiet)
    except FileNotFoundError as e:  # a figure drawn from results that are not on disk
        print(f"pvqmodel figures: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _cmd_engine_table(args) -> int:
    from .calibrate import engine_table

    _warm_engine()
    df = engine_table(ops_per_task=args.ops, reps=args.reps, seed=args.seed,
                      progress=not args.quiet, workers=args.workers, pv=args.pv)
    _print_frame(df)
    for pv, g in df.groupby("pv"):
        err = g["rel_err"].abs()
        print(f"PV {pv}: median |rel err| {err.median():.1%}, max {err.max():.1%}, "
              f"halts {int(g['halts'].sum())}")
    if args.pv in ("off", "both"):
        from .calibrate import qspinlock_418_table

        q = qspinlock_418_table(ops_per_task=args.ops, reps=args.reps, seed=args.seed,
                                progress=not args.quiet, workers=args.workers, v10=df)
        print("\nnative qspinlock-4.18 beside the v10-era qspinlock (queue column, PV off; "
              "same preset and seed, no new fit):")
        _print_frame(q)
    if args.pv in ("on", "both"):
        from .calibrate import pv_generations_table

        g = pv_generations_table(ops_per_task=args.ops, reps=args.reps, seed=args.seed,
                                 progress=not args.quiet, workers=args.workers, v10=df)
        print("\nmerged PV qspinlock generations beside pv-qspinlock-v10 (queue column, PV "
              "on, dedicated pCPUs; same preset and seed, no new fit):")
        _print_frame(g)
    return 0


def _hunt_flags(args) -> list[str]:
    """The flags that fix a hunt's setting (all a replay needs besides the seed)."""
    flags = ["--lock", args.lock, "--memory-model", args.memory_model,
             "--drain-ns", repr(args.drain_ns), "--quantum-ns", repr(args.quantum_ns)]
    if args.pv_prev_check_mask is not None:
        flags += ["--pv-prev-check-mask", str(args.pv_prev_check_mask)]
    return flags + (["--no-latch"] if args.no_latch else [])


def _cmd_hunt(args) -> int:
    import dataclasses

    from .hunt import hunt

    kw = dict(memory_model=args.memory_model, latch=not args.no_latch,
              drain_ns=args.drain_ns, quantum_ns=args.quantum_ns)
    if args.pv_prev_check_mask is not None:
        from .hunt import hunt_defaults

        # the hunt's own tunables with the merged lock's wait-early check interval
        kw["tunables"] = dataclasses.replace(hunt_defaults()[3],
                                             pv_prev_check_mask=args.pv_prev_check_mask)
    if args.replay is not None:
        # hunt() with budget 1 builds (and checks) the very configuration the search
        # used; its replay() then re-runs the schedule of the given seed
        _warm_engine()
        probe = hunt(args.lock, budget=1, seed=0, **kw)
        kind, trace = dataclasses.replace(probe, failing_seed=args.replay).replay()
        print(f"{args.lock}, {args.memory_model.upper()}, latch "
              f"{'off' if args.no_latch else 'on'}: replay of schedule seed {args.replay}: "
              f"{kind}")
        if kind != "ok":
            _print_frame(trace, width=160)
        return 0
    _warm_engine()
    r = hunt(args.lock, budget=args.budget, seed=args.seed, stop_at_first=args.first,
             progress=not args.quiet, **kw)
    print(r)
    if r.found:
        _print_frame(r.trace, width=160)
        cmd = ["pvqmodel", "hunt", *_hunt_flags(args), "--replay", str(r.failing_seed)]
        print("replay the first failing schedule with:\n  " + shlex.join(cmd))
    return 0


def generations_summary(df):
    """The generations study's frame -> one row per (schedule, lock): ns per op as the
    geometric mean over the replications with its 95 % t-interval (log scale), and the
    mean halts, kicks, wait-early halts and steals per 1000 acquisitions and the mean
    median / 99th-percentile acquisition wait (``pvqmodel generations``)."""
    from .figures.intervals import interval_table

    t = interval_table(df, "ns_per_op", ["schedule", "lock"], log=True).rename(
        columns={"centre": "ns_per_op", "lo": "ns_lo95", "hi": "ns_hi95", "n": "runs"})
    cols = ["halts_per_1k", "kicks_per_1k", "pv_wait_early_per_1k", "path_steal_per_1k",
            "wait_p50_ns", "wait_p99_ns"]
    m = df.groupby(["schedule", "lock"], sort=False)[cols].mean().reset_index()
    return t.merge(m, on=["schedule", "lock"])


def _cmd_generations(args) -> int:
    _warm_engine()
    if args.hunt:
        from .hunt import hunt_table

        ht = hunt_table(budget=args.budget, seed=args.seed, drain_ns=args.drain_ns,
                        progress=not args.quiet)
        _print_frame(ht.drop(columns=["replay", "failing_seed"]), width=160)
        for cmd in ht.loc[ht["losses"] > 0, "replay"]:
            print(cmd)
        return 0
    from .generations import generations

    df = generations(tasks=tuple(args.tasks), ops_per_task=args.ops, reps=args.reps,
                     seed=args.seed, workers=args.workers, progress=not args.quiet)
    if args.csv:
        from .outputs import atomic_path

        with atomic_path(Path(args.csv)) as tmp:
            df.to_csv(tmp, index=False)
    _print_frame(generations_summary(df), width=200, digits=2)
    return 0


#: ``pvqmodel host --vm`` fields: name -> (VM field, parser). ``cs_ns``, ``cs_dist``
#: and ``cs_cv`` are the lock workload's critical section; ``cpuset`` is ``LO-HI``
#: (half-open, like ``range``); ``pv_tlb_flush`` is 0/1 (or false/true).
_VM_FIELDS = ("name", "vcpus", "lock", "think_ns", "think_dist", "think", "cs_ns",
              "cs_dist", "cs_cv", "placement", "cpuset", "shares", "ops", "locks",
              "lock_choice", "zipf_s", "ipi_per_op", "ipi_handler_ns", "pv_tlb_flush")


def vm_spec(text: str) -> dict:
    """``--vm``: comma-separated ``key=value`` fields of one VM (``name=a,vcpus=16,
    lock=pv-qspinlock``); the values are checked when the VM is built."""
    out = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise argparse.ArgumentTypeError(
                f"must be comma-separated key=value fields ({', '.join(_VM_FIELDS)}), "
                f"got {part!r} in {text!r}")
        if key not in _VM_FIELDS:
            raise argparse.ArgumentTypeError(
                f"unknown VM field {key!r}; fields: {', '.join(_VM_FIELDS)}")
        if key in out:
            raise argparse.ArgumentTypeError(f"VM field {key!r} given twice in {text!r}")
        out[key] = value.strip()
    return out


def _host_vm(fields: dict, index: int):
    """One ``--vm`` as a :class:`pvqmodel.host.VM` (numbers parsed, then validated by
    VM itself); a bad value raises UsageError naming ``--vm`` and the field."""
    from .host import VM
    from .params import Workload

    where = f"VM {index + 1} ({fields.get('name', '?')})"
    kw = dict(fields)
    for key in ("name", "vcpus"):
        if key not in kw:
            raise UsageError("--vm", f"{where}: field {key!r} is required "
                                     "(e.g. --vm name=a,vcpus=16,lock=pv-qspinlock)")
    conv = {"vcpus": int, "ops": int, "shares": int, "think_ns": float, "cs_ns": float,
            "cs_cv": float, "locks": int, "zipf_s": float, "ipi_per_op": float,
            "ipi_handler_ns": float}
    try:
        for key, f in conv.items():
            if key in kw:
                try:
                    kw[key] = f(kw[key])
                except ValueError:
                    kind = "an integer" if f is int else "a number"
                    raise ValueError(f"{key} must be {kind}, got {kw[key]!r}") from None
        if "cpuset" in kw:
            lo, dash, hi = kw["cpuset"].partition("-")
            if not dash:
                raise ValueError(f"cpuset must be LO-HI (pCPUs LO..HI-1), got {kw['cpuset']!r}")
            try:
                kw["cpuset"] = (int(lo), int(hi))
            except ValueError:
                raise ValueError(f"cpuset must be LO-HI with integers (pCPUs LO..HI-1), "
                                 f"got {kw['cpuset']!r}") from None
        if "pv_tlb_flush" in kw:
            flag = {"0": False, "1": True, "false": False, "true": True}.get(
                kw["pv_tlb_flush"].lower())
            if flag is None:
                raise ValueError(f"pv_tlb_flush must be 0, 1, false or true, got "
                                 f"{kw['pv_tlb_flush']!r}")
            kw["pv_tlb_flush"] = flag
        if kw.get("lock") == "none":
            kw["lock"] = None
        cs = {k: kw.pop(k) for k in ("cs_ns", "cs_dist", "cs_cv") if k in kw}
        if cs:
            if kw.get("lock") is None:
                raise ValueError(f"{', '.join(cs)} needs a lock (a CPU-bound VM takes no "
                                 "lock)")
            kw["workload"] = Workload(**cs)
        return VM(**kw)
    except ValueError as e:
        raise UsageError("--vm", f"{where}: {str(e).splitlines()[0]}") from None


def _host_objects(args):
    """The Host (the preset with the flags applied) and the VMs, all validated before
    anything runs: an unknown preset, a bad field of a VM or a cpuset outside the host's
    pCPUs is a usage error naming its flag."""
    from .host import Host

    if args.preset not in Host.presets():
        raise UsageError("--preset", f"unknown host preset {args.preset!r}; available: "
                                     f"{Host.presets()}")
    from .hoststudy import host_for

    base = Host.preset(args.preset)
    pcpus = base.pcpus if args.pcpus is None else args.pcpus
    sched = args.scheduler or base.scheduler
    if args.quantum_ms is not None:
        base = base.replace(quantum_ns=args.quantum_ms * 1e6)
    try:
        host = host_for(base, pcpus=pcpus, scheduler=sched, ple=args.ple == "on",
                        halt_poll=args.halt_poll == "on")
    except ValueError as e:
        raise UsageError("--pcpus", str(e).splitlines()[0]) from None
    if not args.vm:
        raise UsageError("--vm", "give at least one VM (e.g. --vm "
                                 "name=a,vcpus=16,lock=pv-qspinlock)")
    vms = [_host_vm(f, i) for i, f in enumerate(args.vm)]
    try:
        host.check_vms(vms)
    except ValueError as e:
        raise UsageError("--vm", str(e).splitlines()[0]) from None
    if not any(v.lock for v in vms):
        raise UsageError("--vm", "at least one VM needs a lock (lock=NAME); lock-less VMs "
                                 "are CPU-bound co-tenants")
    if sched == "rr" and any(v.cpuset is not None for v in vms):
        raise UsageError("--vm", "scheduler 'rr' (the FIFO round robin) takes no cpuset; "
                                 "drop cpuset= or use --scheduler cfs / eevdf")
    return host, vms


def host_table(res):
    """:func:`pvqmodel.hostsim.simulate_host`'s result as one row per VM: its headline
    (ops/s for a lock VM, pCPUs used for a CPU-bound one) with the 95 % interval and
    the homogeneity flag of ``res.spread``, its fair share, and per-op counters (means
    over replications)."""
    v = res.vms
    g = v.groupby("vm", sort=False)
    m = g[["pcpus_used", "fair_pcpus", "ops_per_s", "lock_wait_ns", "max_wait_ns"]].mean()
    ops = g["ops"].sum().clip(lower=1)
    sp = res.spread.set_index("vm")
    t = sp[["metric", "mean", "ci_lo", "ci_hi", "flagged"]].copy()
    t.insert(0, "lock", [lk if isinstance(lk, str) else "cpu-bound" for lk in sp["lock"]])
    t["pcpus_used"] = m["pcpus_used"]
    t["fair_pcpus"] = m["fair_pcpus"]
    for c in ("ple_exits", "halts", "kicks", "yields", "steal_ns"):
        per = g[c].sum() / ops
        t[f"{c}_per_op"] = per.where(sp["lock"].map(lambda x: isinstance(x, str)))
    t["max_wait_ms"] = g["max_wait_ns"].max() / 1e6
    return t.reset_index()


def _cmd_host(args) -> int:
    from .params import Hardware

    host, vms = _host_objects(args)
    hardware = Hardware.from_dict(_hardware_preset(args.hardware)["hardware"], complete=True)
    from .hostsim import simulate_host

    _warm_engine()
    res = simulate_host(host, vms, duration_ns=args.duration_ms * 1e6, reps=args.reps,
                        seed=args.seed, hardware=hardware, check=False)
    if args.csv:
        from .outputs import write_csv

        write_csv(res.vms, Path(args.csv))
    print(f"{host.scheduler} host, {host.pcpus} pCPUs ({args.preset}), PLE "
          f"{'on' if host.kvm.ple_enabled else 'off'}, halt polling "
          f"{'on' if host.kvm.halt_poll_ns > 0 else 'off'}; {args.reps} replication(s) of "
          f"{args.duration_ms:g} ms, seed {args.seed}")
    _print_frame(host_table(res), width=200, digits=3)
    print("mean: over replications with its 95 % t-interval [ci_lo, ci_hi]; flagged: the "
          "replications disagree beyond their own spread (p < 0.001)")
    if args.csv:
        print(f"wrote {args.csv}")
    for rep in res.failures:
        st = res.summary.loc[res.summary["rep"] == rep, "status"].iloc[0]
        print(f"replication {rep} failed: {st}", file=sys.stderr)
    return 1 if res.failures else 0


def bench_groups(text: str) -> tuple[str, ...]:
    """``bench --only``: a comma-separated subset of the bench's groups."""
    from .bench import check_groups
    try:
        return check_groups(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).replace("groups ", "", 1)) from None


def _cmd_bench(args) -> int:
    from .bench import GROUPS
    from .bench import main as bench_main

    groups = args.only or GROUPS
    if args.no_table:
        groups = tuple(g for g in groups if g != "table")
    if not groups:
        raise UsageError("--no-table", "leaves no group to measure")
    _warm_engine()
    return bench_main(json_out=args.json, groups=groups, quick=args.quick)


def _check_save(args) -> None:
    """``calibrate --save NAME [--overwrite]``, checked before the run starts."""
    if args.save is None:
        return
    from .params import HARDWARE, preset_path

    path = preset_path(args.save)
    if args.pv and not path.exists():
        avail = sorted(p.stem for p in HARDWARE.glob("*.json"))
        raise UsageError("--save", f"calibrate --pv updates an existing preset; no preset "
                                   f"{args.save!r} (available: {avail})")
    if path.exists() and not args.overwrite:
        raise UsageError("--save", f"preset {args.save!r} exists ({path}); add --overwrite "
                                   "to replace it")


def _save_kwargs(args) -> dict:
    return {"save": args.save, "overwrite": args.overwrite}


def _cmd_calibrate(args) -> int:
    import json

    import pandas as pd

    _check_save(args)
    from .calibrate import calibrate, calibrate_pv

    _warm_engine()
    if args.pv:
        rep = calibrate_pv(maxfev=args.maxfev, ops_per_task=args.ops, seed=args.seed,
                           progress=not args.quiet, **_save_kwargs(args))
        print(json.dumps({k: rep[k] for k in ("fitted", "optimizer")}, indent=1))
        for k in ("fit", "pure_prediction"):
            print(f"{k}: median |rel err| {rep[k]['median_abs_rel_err']:.1%}, max "
                  f"{rep[k]['max_abs_rel_err']:.1%}, halts {rep[k]['halts']:.0f}")
    else:
        rep = calibrate(maxfev=args.maxfev, starts=args.starts, ops_per_task=args.ops,
                        seed=args.seed, ablate=not args.no_ablation,
                        progress=not args.quiet, **_save_kwargs(args))
        f = rep["fit"]
        print(f"fitted the coherence-mechanism model to the 16 PV-off cells "
              f"({f['evaluations']} evaluations, {f['wall_s']:.0f} s)")
        cells = pd.DataFrame(rep["cells"])
        cells["tasks"] = cells["tasks"].astype(int)
        _print_fit(rep["fitted"], rep["on_bound"], {"all": rep}, cells)
        print(f"smallest task share {rep['min_task_share']:.3f}")
        if "ablation" in rep:
            _print_ablation(pd.DataFrame(rep["ablation"]))
    print("wrote", rep["preset_path"] if "preset_path" in rep else
          "nothing (no --save given)")
    return 0


def _print_fit(params: dict, on_bound: list, parts: dict, cells) -> None:
    """A mechanism fit: its values, those on a bound, median and max |rel err| of each
    part (name -> dict with those keys) and the cells' rel_err by lock and N."""
    print("parameters:")
    for k, v in params.items():
        print(f"  {k:15s} {v:8.3f}")
    print("  on a bound:", ", ".join(on_bound) or "none")
    for part, summ in parts.items():
        print(f"{part} cells: median |rel err| {summ['median_abs_rel_err']:.1%}, max "
              f"{summ['max_abs_rel_err']:.1%}")
    c = cells.copy()
    c["rel_err %"] = (100 * c["rel_err"]).round(1)
    print(c.pivot_table(index="lock", columns="tasks", values="rel_err %").to_string())


def _print_ablation(a) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 200):
        cols = ["mechanism off", "median_abs_rel_err", "max_abs_rel_err", "halts"]
        t = a[cols].copy()
        for k in cols[1:3]:
            t[k] = (100 * t[k]).round(1)
        print("ablation (|rel err| in %, all 16 PV-off cells):")
        print(t.to_string(index=False))
        for row in a.itertuples():
            print(f"  {row[1]}: {row[-1]}")


def _cmd_mechanisms(args) -> int:
    from .mechanisms import ablation, fit_mechanisms

    _warm_engine()
    r = fit_mechanisms(on=args.on, rmw_holds_home=args.rmw_in_home, maxfev=args.maxfev,
                       starts=args.starts, ops_per_task=args.ops, seed=args.seed,
                       progress=not args.quiet)
    print(f"fitted to the PV-off {args.on} cells ({r['evaluations']} evaluations, "
          f"{r['wall_s']:.0f} s)")
    _print_fit(r["params"], r["on_bound"], {p: r[p] for p in ("fitted", "all")}, r["cells"])
    if args.no_ablation:
        return 0
    _print_ablation(ablation(r["hardware"], ops_per_task=2 * args.ops, seed=args.seed + 2,
                             progress=not args.quiet))
    return 0


def _cmd_handshake(args) -> int:
    from .handshake import explore_v10_handshake

    r = explore_v10_handshake(args.memory_model, latch=not args.no_latch,
                              spurious=args.spurious, qspin_threshold=args.threshold,
                              mayhalt_gap=args.gap)
    print(r)
    if r.found:
        print(r.trace.to_string(index=False))
        print("final state:", r.final)
    return 0


def _hardware_preset(name: str) -> dict:
    """The hardware preset document ``--hardware NAME`` names, or a usage error listing
    the presets there are."""
    from .params import HARDWARE, load_preset, preset_path

    if not preset_path(name).exists():
        avail = sorted(p.stem for p in HARDWARE.glob("*.json"))
        raise UsageError("--hardware", f"unknown preset {name!r}; available: {avail}")
    return load_preset(name)


def _sim_objects(args):
    """Hardware, Workload, Schedule from the flags, built (and so validated) by the
    parameter classes; the hardware preset and its seed workload are the base."""
    from .params import Hardware, Schedule, Workload

    doc = _hardware_preset(args.hardware)

    def given(names):
        return {k: getattr(args, k) for k in names if getattr(args, k) is not None}

    hw = Hardware.from_dict({**doc["hardware"], **given(("sockets", "cores_per_socket"))})
    if args.memory_model is not None or args.drain_ns is not None:
        # a drain delay or SC: the store buffer has one entry (Hardware.with_memory_model)
        hw = hw.with_memory_model(
            hw.memory_model if args.memory_model is None else args.memory_model,
            hw.drain_ns if args.drain_ns is None else args.drain_ns)
    wl_kw = given(("cs_ns", "loop_ns", "cs_dist", "loop_dist"))
    if args.task_placement is not None:
        wl_kw["placement"] = args.task_placement
    wl = Workload.from_dict({**doc["workload"], **wl_kw})
    sched = Schedule(pcpus=args.pcpus, overcommit=args.overcommit, quantum_ns=args.quantum_ns,
                     quantum_dist=args.quantum_dist, placement=args.placement,
                     halt_ns=args.halt_ns, kick_ns=args.kick_ns, wake_ns=args.wake_ns,
                     wake_dist=args.wake_dist, spurious_ns=args.spurious_ns,
                     latch=not args.no_latch, ple_window_ns=args.ple_window_ns,
                     ple_exit_ns=args.ple_exit_ns, wakeup_preempt=args.wakeup_preempt,
                     resched_ns=args.resched_ns)
    return hw, wl, sched


_SUMMARY_COLUMNS = ["rep", "ops", "ns_per_op", "ms_5m", "status", "halts", "kicks",
                    "preemptions", "lhp", "ple_exits", "min_share"]


def _cmd_simulate(args) -> int:
    hw, wl, sched = _sim_objects(args)
    from .hunt import step_trace
    from .sim import simulate

    _warm_engine()
    res = simulate(args.lock, args.tasks, args.ops, hardware=hw, workload=wl,
                   schedule=sched, reps=args.reps, seed=args.seed, workers=args.workers,
                   trace=args.trace, watchdog_ns=args.watchdog_ns, check=False)
    s = res.summary
    if args.json:  # exact floats (to_json rounds to 10 digits); NaN -> null
        import json

        rows = [{k: None if isinstance(v, float) and v != v else v for k, v in row.items()}
                for row in s.to_dict(orient="records")]
        print(json.dumps(rows))
    elif args.csv:
        print(s.to_csv(index=False), end="")
    else:
        _print_frame(s[_SUMMARY_COLUMNS])
        ok = s[s["status_code"] == 0]
        if len(ok):
            print(f"{s['lock'].iloc[0]}, {args.tasks} tasks, K={args.ops}: mean "
                  f"{ok['ns_per_op'].mean():.2f} ns/op over {len(ok)} replication(s)")
    for rep, raw in res.failures.items():
        status = s.loc[s["rep"] == rep, "status"].iloc[0]
        print(f"replication {rep} failed: {status}; last engine events:", file=sys.stderr)
        tr = step_trace(s["lock"].iloc[0], raw)
        print(tr.tail(40).to_string(index=False), file=sys.stderr)
    return 1 if res.failures else 0


def _cmd_sweep(args) -> int:
    """Run a sweep spec (TOML) on dask.distributed; Ctrl-C keeps the finished tasks."""
    from .sweeps import SpecError, SweepDirError, SweepIncomplete, plan, sweep, task_files

    if args.scheduler and args.workers is not None:
        raise UsageError("--workers", "--workers starts a local cluster; with --scheduler the "
                                      "cluster's own workers run the tasks: give one of them")
    if args.serial and args.scheduler:
        raise UsageError("--serial", "--serial runs in this process: drop --scheduler")
    try:
        spec, out, tasks = plan(args.spec, args.out)
    except SpecError as e:
        raise UsageError("SPEC", str(e)) from None
    client = None
    if args.scheduler:
        from distributed import Client

        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, ValueError, TypeError) as e:
            raise UsageError("--scheduler", f"cannot reach a dask scheduler at "
                                            f"{args.scheduler!r}: {e}") from None
    print(f"sweep {spec.name}: {len(tasks) // spec.reps} scenarios x {spec.reps} replications "
          f"= {len(tasks)} tasks into {out}")
    try:
        report = sweep(spec, client, out=out, workers=args.workers, serial=args.serial,
                       progress=not args.quiet, dashboard_address=args.dashboard)
    except SweepDirError as e:
        raise UsageError("--out", str(e).removeprefix("out: ")) from None
    except SweepIncomplete as e:
        print(f"pvqmodel sweep: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        done = len(task_files(out))
        print(f"pvqmodel sweep: interrupted; {done} of {len(tasks)} tasks are on disk in "
              f"{out} (run the same command again to compute only the rest)", file=sys.stderr)
        raise
    finally:
        if client is not None:
            client.close()
    print(report)
    print(f"read them with pvqmodel.sweep_results({str(out)!r})")
    return 0


def _reproduce_sweep(args, processed: Path):
    """The reduced overcommit study: a fresh sweep (an earlier run's folder is replaced,
    reproduce regenerates), its table as CSV, and the files it wrote."""
    import shutil

    from .overcommit import overcommit_table
    from .sweeps import MANIFEST, SpecError, plan, sweep, sweep_results, task_files

    try:
        spec, _, tasks = plan(args.sweep_spec)
    except SpecError as e:
        raise UsageError("--sweep-spec", str(e)) from None
    out = processed / spec.name
    if (out / MANIFEST).exists():
        shutil.rmtree(out)
    report = sweep(spec, out=out, serial=args.sweep_serial, progress=True)
    table = overcommit_table(sweep_results(out, complete=True))
    csv = _write_csv(table, processed / "overcommit_study.csv")
    print(f"overcommit study ({spec.name}): {report}; wrote {csv}")
    return table, [csv, out / MANIFEST, *task_files(out)]


def _cmd_reproduce(args) -> int:
    """Every generated result: fit tables, the engine table and the 4.18+ qspinlock
    beside it into data/processed, then every figure; the manifest last, after every
    output was built."""
    from .outputs import MANIFEST_NAME, remove_manifest, write_manifest

    names = _figure_names(args.figure, "--figure")
    processed, figures = Path(args.processed), Path(args.figures)
    manifest = processed / MANIFEST_NAME
    remove_manifest(manifest)  # from here until the end, the outputs are a partial run
    from .calibrate import engine_table, pv_generations_table, qspinlock_418_table
    from .figures import build_all
    from .fit import fit_analytic

    report = fit_analytic(ci="jacobian", n_boot=0, seed=0)
    outputs = _write_fit_tables(report, processed)
    print(f"wrote {processed}/analytic_fit_{{params,points,summary}}.csv")
    _warm_engine()
    table = engine_table(ops_per_task=args.ops, reps=args.reps, seed=1, progress=True)
    outputs.append(_write_csv(table, processed / "engine_table.csv"))
    err = table["rel_err"].abs()
    print(f"engine table: median |rel err| {err.median():.1%}, max {err.max():.1%}; "
          f"wrote {processed / 'engine_table.csv'}")
    q418 = qspinlock_418_table(ops_per_task=args.ops, reps=args.reps, seed=1, progress=True,
                               v10=table)
    outputs.append(_write_csv(q418, processed / "engine_qspinlock_418.csv"))
    print(f"native qspinlock-4.18 beside the v10 qspinlock; wrote "
          f"{processed / 'engine_qspinlock_418.csv'}")
    gens = pv_generations_table(ops_per_task=args.ops, reps=args.reps, seed=1,
                                progress=True, v10=table)
    outputs.append(_write_csv(gens, processed / "engine_pv_generations.csv"))
    print(f"merged PV qspinlock generations beside pv-qspinlock-v10; wrote "
          f"{processed / 'engine_pv_generations.csv'}")
    from .figures.host import fig_host_schedulers, host_figure_title
    from .hoststudy import COTENANTS, FULL_SIZE, host_study

    size = {**FULL_SIZE, "reps": args.host_reps, "duration_ms": args.host_duration_ms}
    hs = host_study(**size, cotenants=COTENANTS, seed=0, progress=True)
    outputs.append(_write_csv(hs, processed / "host_study.csv"))
    print(f"host study: {len(hs)} cells; wrote {processed / 'host_study.csv'}")
    oc, sweep_files = _reproduce_sweep(args, processed)
    outputs += sweep_files
    # the host and overcommit figures are drawn from the very frames written above
    from .figures import overcommit as fo

    drawn = {"host-schedulers": lambda: fig_host_schedulers(hs, title=host_figure_title(size)),
             "overcommit-slowdown": lambda: fo.fig_overcommit_slowdown(
                 oc, title=fo.study_title(oc)),
             "overcommit-ranking": lambda: fo.fig_overcommit_ranking(
                 oc, title=fo.study_title(oc)),
             "overcommit-counters": lambda: fo.fig_overcommit_counters(
                 oc, title=fo.study_title(oc))}
    rest = [n for n in (names or list(_registry())) if n not in drawn]
    figure_paths = build_all(figures, names=rest, progress=True)
    from .figures import save_figure

    for name, draw in drawn.items():
        if names is None or name in names:
            figure_paths += save_figure(draw(), figures, name, ("png", "pdf"))
    outputs += figure_paths
    print(f"wrote {len(figure_paths)} figure files to {figures}")
    write_manifest(manifest, outputs, output_dirs=[processed, figures],
                   settings={"ops_per_task": args.ops, "reps": args.reps,
                             "host_reps": args.host_reps,
                             "host_duration_ms": args.host_duration_ms,
                             "sweep_spec": str(args.sweep_spec),
                             "figures": "all" if names is None else names})
    print(f"wrote {manifest} (check it later with `pvqmodel status`)")
    return 0


def _registry():
    from .figures import REGISTRY

    return REGISTRY


def _cmd_status(args) -> int:
    from .outputs import check_manifest, format_status

    rep = check_manifest(args.manifest)
    print(format_status(rep))
    return 0 if rep["ok"] else 1


# ----------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    from .params import Schedule

    sd = Schedule()  # the defaults the simulate flags show
    p = argparse.ArgumentParser(
        prog="pvqmodel", formatter_class=_Formatter,
        description="Performance models of para-virtualized spinlocks (see README.md).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help, func, usage=None):
        sp = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter,
                            usage=usage)
        sp.set_defaults(func=func)
        return sp

    seed_t = int_range(0, SEED_MAX)

    t = command("table", "print the seed table with per-op columns", _cmd_table)
    t.add_argument("--engine", action="store_true",
                   help="run the Monte Carlo engine on every supported cell instead")
    t.add_argument("--ops", type=int_range(1, 10**8), default=20_000,
                   help="engine: ops per task (K)")
    t.add_argument("--reps", type=int_range(1, 10_000), default=4,
                   help="engine: replications per cell")
    t.add_argument("--seed", type=seed_t, default=1, help="engine: root seed")
    t.add_argument("--workers", type=int_range(1, 256), default=1,
                   help="engine: replication threads")
    t.add_argument("--quiet", action="store_true", help="engine: no progress bar")
    t.add_argument("--pv", choices=["off", "on", "both"], default="both",
                   help="engine: which columns (both: all 32 cells; with off or both, the "
                        "native qspinlock-4.18 is also run on the queue cells)")

    k = command("locks", "list the engine's locks: kernel version, commits followed, "
                         "native or PV, FIFO, one-line summary", _cmd_locks)
    k.add_argument("--json", action="store_true", help="print the registry as JSON records")

    m = command("simulate", "run the engine on one lock and print the per-replication "
                            "summary (failures with a trace; exit status 1)", _cmd_simulate,
                usage="%(prog)s LOCK [--tasks N] [--ops K] [--reps R] [--seed S] "
                      "[options] (see --help)")
    m.add_argument("lock", choices=LOCK_NAMES, metavar="LOCK",
                   help=f"lock algorithm, one of: {', '.join(LOCK_NAMES)}")
    m.add_argument("--tasks", type=int_range(1, 256), default=4,
                   help="contending tasks (vCPUs of the VM)")
    m.add_argument("--ops", type=int_range(1, 10**8), default=2000,
                   help="lock/unlock operations per task (K)")
    m.add_argument("--reps", type=int_range(1, 10_000), default=4, help="replications")
    m.add_argument("--seed", type=seed_t, default=0, help="root seed")
    m.add_argument("--workers", type=int_range(1, 256), default=1,
                   help="threads running replications (results do not depend on it)")
    m.add_argument("--trace", type=int_range(0, 10**6), default=256,
                   help="engine events kept for a failure's trace")
    m.add_argument("--watchdog-ns", type=number, default=None,
                   help="no acquisition for this long while tasks wait is a failure "
                        "(default: 100 ms, or 50 quanta x overcommit if longer)")
    out = m.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the summary as JSON records")
    out.add_argument("--csv", action="store_true", help="print the summary as CSV")
    g = m.add_argument_group("hardware (the preset's values unless given)")
    g.add_argument("--hardware", type=preset_name, default="westmere-ex",
                   help="hardware preset in data/hardware/ (also gives the seed workload)")
    g.add_argument("--memory-model", choices=["tso", "sc"], default=None,
                   help="x86-TSO store buffer or sequential consistency (default: preset's)")
    g.add_argument("--drain-ns", type=number, default=None,
                   help="TSO: mean store-buffer drain delay, ns (default: preset's)")
    g.add_argument("--sockets", type=integer, default=None, help="sockets (default: preset's)")
    g.add_argument("--cores-per-socket", type=integer, default=None,
                   help="cores per socket (default: preset's)")
    g = m.add_argument_group("workload (the preset's seed benchmark unless given)")
    g.add_argument("--cs-ns", type=number, default=None,
                   help="critical section, ns (default: preset's)")
    g.add_argument("--loop-ns", type=number, default=None,
                   help="loop overhead between operations, ns (default: preset's)")
    g.add_argument("--cs-dist", choices=["det", "exp"], default=None,
                   help="critical-section distribution (default: preset's)")
    g.add_argument("--loop-dist", choices=["det", "exp"], default=None,
                   help="loop-overhead distribution (default: preset's)")
    g.add_argument("--task-placement", choices=["scatter", "compact"], default=None,
                   help="tasks on sockets round-robin or one socket first (default: preset's)")
    g = m.add_argument_group("schedule (the hypervisor; default: dedicated pCPUs)")
    g.add_argument("--overcommit", type=number, default=sd.overcommit,
                   help="vCPUs per pCPU (background vCPUs of other VMs fill the rest)")
    g.add_argument("--pcpus", type=integer, default=sd.pcpus,
                   help="pCPUs (default: one per task)")
    g.add_argument("--quantum-ns", type=number, default=sd.quantum_ns,
                   help="scheduler quantum, ns")
    g.add_argument("--quantum-dist", choices=["det", "exp"], default=sd.quantum_dist,
                   help="quantum distribution")
    g.add_argument("--placement", choices=["pinned", "free"], default=sd.placement,
                   help="vCPU i pinned to pCPU i mod pcpus, or one shared run queue")
    g.add_argument("--halt-ns", type=number, default=sd.halt_ns,
                   help="HLT VM exit/entry cost, ns")
    g.add_argument("--kick-ns", type=number, default=sd.kick_ns,
                   help="kicker's time in the kick hypercall, ns")
    g.add_argument("--wake-ns", type=number, default=sd.wake_ns,
                   help="kick to the target being runnable, ns")
    g.add_argument("--wake-dist", choices=["det", "exp"], default=sd.wake_dist,
                   help="wake latency distribution")
    g.add_argument("--spurious-ns", type=number, default=sd.spurious_ns,
                   help="mean time between interrupts that wake a halted vCPU, ns (0: none)")
    g.add_argument("--no-latch", action="store_true", help="without KVM's PV-unhalted latch")
    g.add_argument("--ple-window-ns", type=ple_window, default=sd.ple_window_ns,
                   metavar="{off,kvm,NS}",
                   help="pause-loop exiting window: off, kvm (4096 cycles at 2.4 GHz) or "
                        "ns (default: off)")
    g.add_argument("--ple-exit-ns", type=number, default=sd.ple_exit_ns,
                   help="cost of a pause-loop exit and directed yield, ns")
    g.add_argument("--wakeup-preempt", action="store_true",
                   help="a woken vCPU preempts the one on its pCPU at once (CFS)")
    g.add_argument("--resched-ns", type=number, default=sd.resched_ns,
                   help="a directed yield's remote target runs this long after the boost "
                        "(reschedule IPI and the exit of the vCPU there), ns")

    o = command("host", "run VMs on a Linux/KVM host (pvqmodel.simulate_host: CFS, EEVDF or "
                        "the FIFO round robin, PLE, halt polling) and print each VM's "
                        "throughput with its 95-percent interval and replication flag",
                _cmd_host,
                usage="%(prog)s --vm name=a,vcpus=16,lock=pv-qspinlock [--vm ...] "
                      "[--preset P] [--scheduler S] [options] (see --help)")
    o.add_argument("--preset", type=host_preset_name, default="current-6.13",
                   help="host preset in data/hosts/ (westmere-3.19, current-6.13)")
    o.add_argument("--scheduler", choices=["cfs", "eevdf", "rr"], default=None,
                   help="host scheduler (default: the preset's)")
    o.add_argument("--hardware", type=preset_name, default="westmere-ex",
                   help="the machine's coherence costs: a hardware preset in "
                        "data/hardware/ (westmere-ex, calibrated; skylake-sp, "
                        "uncalibrated)")
    o.add_argument("--pcpus", type=int_range(1, 256), default=None,
                   help="host pCPUs (default: the preset's)")
    o.add_argument("--ple", choices=["on", "off"], default="on",
                   help="pause-loop exiting (off: KVM's ple_gap = 0)")
    o.add_argument("--halt-poll", choices=["on", "off"], default="on",
                   help="KVM halt polling (off: halt_poll_ns = 0; a 3.x preset has none)")
    o.add_argument("--quantum-ms", type=float_range(1e-6, 1e4), default=None,
                   help="rr's quantum, ms (default: the preset's)")
    o.add_argument("--vm", type=vm_spec, action="append", default=None,
                   metavar="name=N,vcpus=V[,lock=L,think_ns=T,think=compute|sleep,...]",
                   help="a VM, repeatable; fields: " + ", ".join(_VM_FIELDS) + " (lock "
                        "omitted or none: a CPU-bound co-tenant; cpuset=LO-HI; default: "
                        "none, at least one is required)")
    o.add_argument("--duration-ms", type=float_range(1e-3, 1e7), default=20.0,
                   help="simulated time per replication, ms")
    o.add_argument("--reps", type=int_range(1, 10_000), default=4, help="replications")
    o.add_argument("--seed", type=seed_t, default=0, help="root seed")
    o.add_argument("--csv", metavar="PATH", default=None,
                   help="also write the per-VM, per-replication frame as CSV "
                        "(default: do not write)")

    b = command("bench", "the engine's speed targets (issue 12), each with a met / NOT met "
                         "verdict: a few minutes on 2 cores", _cmd_bench)
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--only", type=bench_groups, default=None,
                   metavar="ratio,events,scaling,host,table,compile,memory",
                   help="measure only these groups (default: all)")
    b.add_argument("--quick", action="store_true",
                   help="fewer rounds and shorter rate runs (the table and the compile "
                        "keep their sizes)")
    b.add_argument("--no-table", action="store_true", help="skip the engine-table group")

    def fit_options(p, maxfev, maxfev_help, ops, seed_max):
        """--maxfev, --ops and --seed of a fitting command."""
        p.add_argument("--maxfev", type=int_range(1, 10**6), default=maxfev, help=maxfev_help)
        p.add_argument("--ops", type=int_range(1, 10**7), default=ops,
                       help="ops per task per evaluation")
        p.add_argument("--seed", type=int_range(0, seed_max), default=2014,
                       help="common-random-numbers seed")

    c = command("calibrate", "fit the engine's hardware preset (the coherence-mechanism "
                             "model) to the table's PV-off cells, with its ablation table",
                _cmd_calibrate)
    fit_options(c, 150, "Nelder-Mead evaluations from each of the two best starts (--pv: "
                        "objective evaluations)", 1000, SEED_MAX - 3)
    c.add_argument("--starts", type=int_range(0, 10**4), default=24,
                   help="Latin-hypercube starting points besides the note's values")
    c.add_argument("--no-ablation", action="store_true",
                   help="fit only (no table of each mechanism switched off)")
    c.add_argument("--save", type=preset_name, default=None, metavar="NAME",
                   help="write the fitted preset to data/hardware/NAME.json "
                        "(default: do not save)")
    c.add_argument("--overwrite", action="store_true",
                   help="allow --save to replace an existing preset")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--pv", action="store_true",
                   help="fit only the two PV code-path costs to the PV-on columns "
                        "(hardware preset fixed; use --maxfev 30 --seed 2015)")

    m = command("mechanisms", "fit the coherence mechanisms of issue 16 to the PV-off cells "
                              "(of both locks, or of one: the other's are a prediction) and "
                              "print their ablation table", _cmd_mechanisms)
    m.add_argument("--on", choices=("ticket", "queue", "both"), default="both",
                   help="the lock whose PV-off cells are fitted (both: one set for both)")
    fit_options(m, 150, "Nelder-Mead evaluations from each of the two best starts", 1000,
                SEED_MAX - 3)
    m.add_argument("--starts", type=int_range(0, 10**4), default=24,
                   help="Latin-hypercube starting points besides the note's values")
    m.add_argument("--rmw-in-home", action="store_true",
                   help="a locked RMW's time also occupies the line's home (the older "
                        "model; by default the home serves the next request meanwhile)")
    m.add_argument("--no-ablation", action="store_true", help="fit only")
    m.add_argument("--quiet", action="store_true", help="no progress bars")

    u = command("hunt", "search randomized schedules for lost wake-ups", _cmd_hunt)
    u.add_argument("--lock", default="pv-qspinlock-v10", choices=PV_LOCK_NAMES)
    u.add_argument("--memory-model", choices=["sc", "tso"], default="sc")
    u.add_argument("--no-latch", action="store_true", help="without KVM's PV-unhalted latch")
    u.add_argument("--budget", type=int_range(1, 10**7), default=200,
                   help="schedules to explore")
    u.add_argument("--seed", type=seed_t, default=0, help="root seed")
    u.add_argument("--drain-ns", type=float_range(0.0, 1e7), default=50.0,
                   help="TSO: mean store-buffer drain delay (ns)")
    u.add_argument("--quantum-ns", type=float_range(1.0, 1e10), default=2000.0,
                   help="mean quantum (ns): the preemption rate")
    u.add_argument("--pv-prev-check-mask", type=int_range(0, 2**20 - 1), default=None,
                   metavar="MASK",
                   help="merged PV qspinlock: PV_PREV_CHECK_MASK, 2^k - 1 (default: the "
                        "kernel's 0xff; the hunt's SPIN_THRESHOLD 128 never reaches a "
                        "multiple of 256, so wait-early runs only with a mask below 128)")
    u.add_argument("--first", action="store_true", help="stop at the first failure")
    u.add_argument("--replay", type=seed_t, default=None, metavar="SEED",
                   help="re-run one schedule (a failing seed a hunt printed) with its trace "
                        "instead of searching (default: search)")
    u.add_argument("--quiet", action="store_true", help="no progress bar")

    g = command("generations", "every PV lock and tas under the same randomized schedules "
                               "(dedicated; overcommit 1.5, 2, 3 with PLE off and on), or "
                               "with --hunt the lost-wake-up hunt on every merged "
                               "generation", _cmd_generations)
    g.add_argument("--tasks", type=int_range(1, 64), nargs="+", default=[4],
                   help="contending vCPUs (one or more)")
    g.add_argument("--ops", type=int_range(1, 10**8), default=5000, help="ops per task")
    g.add_argument("--reps", type=int_range(1, 10_000), default=16,
                   help="replications (random schedules) per lock and schedule")
    g.add_argument("--seed", type=seed_t, default=0, help="root seed")
    g.add_argument("--workers", type=int_range(1, 256), default=2,
                   help="replication threads")
    g.add_argument("--csv", metavar="PATH", default=None,
                   help="also write the per-replication frame as CSV")
    g.add_argument("--hunt", action="store_true",
                   help="run hunt_table instead: every generation x {sc, tso} x latch "
                        "on/off (PV_PREV_CHECK_MASK 15), replay commands printed")
    g.add_argument("--budget", type=int_range(1, 10**7), default=2000,
                   help="--hunt: schedules per configuration")
    g.add_argument("--drain-ns", type=float_range(0.0, 1e7), default=200.0,
                   help="--hunt: TSO mean store-buffer drain delay (ns)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    f = command("fit", "fit the analytical models to the seed table", _cmd_fit)
    f.add_argument("--ci", choices=["jacobian", "bootstrap"], default="jacobian",
                   help="how the 95%% parameter intervals are computed")
    f.add_argument("--n-boot", type=int_range(40, 10**6), default=400,
                   help="bootstrap refits (at least 40, so the 2.5 %% and 97.5 %% "
                        "percentiles are different refits)")
    f.add_argument("--seed", type=seed_t, default=0, help="bootstrap seed")
    f.add_argument("--out", type=Path, default=None,
                   help="also write the report's tables as CSV into this folder "
                        "(default: do not write)")

    g = command("figures", "rebuild every figure (PNG + PDF)", _cmd_figures)
    g.add_argument("--out", type=Path, default=FIGURES, help="folder")
    g.add_argument("--only", nargs="+", metavar="NAME",
                   help="build only these figure names (default: all; see --list)")
    g.add_argument("--list", action="store_true", help="list figure names and exit")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    h = command("handshake", "exhaustively check the v10 PV wake-up handshake",
                _cmd_handshake)
    h.add_argument("--memory-model", choices=["sc", "tso"], default="sc")
    h.add_argument("--no-latch", action="store_true", help="without KVM's PV-unhalted latch")
    h.add_argument("--spurious", action="store_true", help="allow spurious wake-ups")
    h.add_argument("--threshold", type=int_range(2, 64), default=4,
                   help="scaled QSPIN_THRESHOLD")
    h.add_argument("--gap", type=int_range(1, 63), default=1,
                   help="scaled QSPIN_THRESHOLD - MAYHALT_THRESHOLD (0x10 in the seed); "
                        "less than --threshold")

    r = command("reproduce", "regenerate data/processed and figures/, then write "
                             "data/processed/MANIFEST.json", _cmd_reproduce)
    r.add_argument("--processed", type=Path, default=PROCESSED,
                   help="folder for the tables and the manifest")
    r.add_argument("--figures", type=Path, default=FIGURES, help="folder for the figures")
    r.add_argument("--ops", type=int_range(1, 10**8), default=20_000,
                   help="engine table: ops per task (K)")
    r.add_argument("--reps", type=int_range(1, 10_000), default=4,
                   help="engine table: replications per cell")
    r.add_argument("--figure", nargs="+", metavar="NAME", default=None,
                   help="build only these figures (default: all)")
    r.add_argument("--host-reps", type=int_range(1, 10_000), default=8,
                   help="host study: replications per cell")
    r.add_argument("--host-duration-ms", type=float_range(1e-3, 1e6), default=50.0,
                   help="host study: simulated time per replication, ms")

    r.add_argument("--sweep-spec", type=Path, default=STUDIES / "overcommit-reduced.toml",
                   help="overcommit study: the sweep spec reproduce runs (into "
                        "<processed>/<spec name>/, replacing an earlier run's)")
    r.add_argument("--sweep-serial", action="store_true",
                   help="overcommit study: run the sweep's tasks in this process instead of "
                        "a local dask cluster")

    w = command("sweep", "run a sweep spec (TOML: locks x hosts x VM layouts x workloads x "
                         "seeds) on dask.distributed into a Parquet dataset; a rerun computes "
                         "only the missing tasks", _cmd_sweep,
                usage="%(prog)s SPEC.toml [--out DIR] [--workers N | --scheduler ADDRESS] "
                      "[options]")
    w.add_argument("spec", metavar="SPEC",
                   help="spec file (e.g. studies/overcommit.toml) or a shipped study's name "
                        "(overcommit, overcommit-reduced)")
    w.add_argument("--out", type=Path, default=None,
                   help="dataset folder (default: data/processed/<spec name>)")
    w.add_argument("--workers", type=int_range(1, 256), default=None,
                   help="local cluster: worker processes (default: one per core)")
    w.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="use a running dask scheduler (tcp://host:8786) instead of a local "
                        "cluster; --out must be a folder every worker can write "
                        "(default: a local cluster)")
    w.add_argument("--serial", action="store_true",
                   help="run the tasks one after another in this process (no dask)")
    w.add_argument("--dashboard", metavar="HOST:PORT", default=":8787",
                   help="local cluster: dask dashboard address (:0 for any free port)")
    w.add_argument("--quiet", action="store_true", help="no progress bar")

    s = command("status", "compare data/processed and figures/ with the manifest of the "
                          "last reproduce (exit status 1 if they differ)", _cmd_status)
    s.add_argument("--manifest", type=Path, default=PROCESSED / "MANIFEST.json",
                   help="manifest to check")
    return p


# ------------------------------------------------------------------- error paths

#: Library parameter names whose flag is not the name itself with - for _ (per command).
_FLAG_NAMES = {
    "*": {"ops_per_task": "--ops", "qspin_threshold": "--threshold",
          "mayhalt_gap": "--gap", "latch": "--no-latch", "lock": "LOCK"},
    "calibrate": {"save": "--save"},
    "simulate": {"placement": "--placement", "pcpus": "--pcpus"},
}


def _flag_for(command: str, parser: argparse.ArgumentParser, message: str) -> str | None:
    """The flag a library ``ValueError`` is about: the first identifier in the message
    that is a parameter of this subcommand (``schedule.pcpus must be ...`` -> --pcpus)."""
    sub = _subparser(parser, command)
    actions = [a for a in (sub._actions if sub else []) if a.dest != "help"]
    by_dest = {a.dest: a.option_strings[0] if a.option_strings else a.metavar or a.dest
               for a in actions}
    names = set(by_dest.values()) | {o for a in actions for o in a.option_strings}
    extra = {**_FLAG_NAMES["*"], **_FLAG_NAMES.get(command, {})}
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", message):
        if extra.get(word) in names:
            return extra[word]
        if word in by_dest:
            return by_dest[word]
    return None


def _subparser(parser, command):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices.get(command)
    return None


def _usage_error(parser, command: str, flag: str | None, message: str) -> int:
    sub = _subparser(parser, command) or parser
    sub.print_usage(sys.stderr)
    where = f"{flag}: " if flag else ""
    print(f"pvqmodel {command}: error: {where}{message}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # bad flags: usage + one line, exit 2 (argparse)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("pvqmodel: interrupted", file=sys.stderr)
        return 130
    except UsageError as e:
        return _usage_error(parser, args.command, e.flag, str(e))
    except ValueError as e:
        if os.environ.get("PVQMODEL_TRACEBACK"):
            raise
        # the library's checks run before any kernel: bad input, reported by flag
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return _usage_error(parser, args.command, _flag_for(args.command, parser, msg), msg)
    except RuntimeError as e:
        sim = sys.modules.get("pvqmodel.sim")
        if sim is None or not isinstance(e, sim.SimulationError):
            raise
        # a model failure found by the engine's checks: its report, not a traceback
        print(f"pvqmodel {args.command}: simulation failed: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
