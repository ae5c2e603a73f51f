"""The ``pvqmodel`` command line (also ``python -m pvqmodel``).

Owns argument parsing and printing only; every subcommand calls one package function.
``pvqmodel reproduce`` regenerates everything ``make reproduce`` promises.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paths import FIGURES, PROCESSED


def _cmd_table(args) -> int:
    import pandas as pd

    from .data import seed_table

    if args.engine:
        return _cmd_engine_table(args)
    df = seed_table()
    with pd.option_context("display.width", 120, "display.max_rows", 100):
        print(df.round(3).to_string(index=False))
    return 0


def _cmd_fit(args) -> int:
    from .fit import fit_analytic

    report = fit_analytic(ci=args.ci, n_boot=args.n_boot, seed=args.seed)
    print(report)
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        report.params.to_csv(out / "analytic_fit_params.csv", index=False)
        report.points.to_csv(out / "analytic_fit_points.csv", index=False)
        report.summary.to_csv(out / "analytic_fit_summary.csv", index=False)
        print(f"\nwrote {out}/analytic_fit_{{params,points,summary}}.csv")
    return 0


def _cmd_figures(args) -> int:
    from .figures import REGISTRY, build_all

    if args.list:
        print("\n".join(REGISTRY))
        return 0
    paths = build_all(args.out, names=args.only or None, progress=not args.quiet)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _cmd_engine_table(args) -> int:
    import pandas as pd

    from .calibrate import engine_table

    df = engine_table(ops_per_task=args.ops, reps=args.reps, seed=args.seed,
                      progress=not args.quiet, workers=args.workers, pv=args.pv)
    with pd.option_context("display.width", 140, "display.max_rows", 100):
        print(df.round(4).to_string(index=False))
    for pv, g in df.groupby("pv"):
        err = g["rel_err"].abs()
        print(f"PV {pv}: median |rel err| {err.median():.1%}, max {err.max():.1%}, "
              f"halts {int(g['halts'].sum())}")
    return 0


def _cmd_hunt(args) -> int:
    import pandas as pd

    from .hunt import hunt

    r = hunt(args.lock, memory_model=args.memory_model, budget=args.budget, seed=args.seed,
             latch=not args.no_latch, drain_ns=args.drain_ns, quantum_ns=args.quantum_ns,
             stop_at_first=args.first, progress=not args.quiet)
    print(r)
    if r.found:
        with pd.option_context("display.width", 160, "display.max_rows", 200,
                               "display.max_colwidth", 90):
            print(r.trace.to_string(index=False))
    return 0


def _cmd_bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(json_out=args.json, table=not args.no_table)


def _cmd_calibrate(args) -> int:
    import json

    from .calibrate import calibrate, calibrate_pv

    if args.pv:
        rep = calibrate_pv(maxfev=args.maxfev, ops_per_task=args.ops, seed=args.seed,
                           save=None if args.no_save else args.preset,
                           progress=not args.quiet)
        print(json.dumps({k: rep[k] for k in ("fitted", "optimizer")}, indent=1))
        for k in ("fit", "pure_prediction"):
            print(f"{k}: median |rel err| {rep[k]['median_abs_rel_err']:.1%}, max "
                  f"{rep[k]['max_abs_rel_err']:.1%}, halts {rep[k]['halts']:.0f}")
        if "preset_path" in rep:
            print("wrote", rep["preset_path"])
        return 0
    rep = calibrate(maxfev=args.maxfev, ops_per_task=args.ops, seed=args.seed,
                    save=None if args.no_save else args.preset, progress=not args.quiet)
    keys = ("median_abs_rel_err", "max_abs_rel_err", "by_lock", "min_task_share", "fit")
    print(json.dumps({k: rep[k] for k in keys}, indent=1))
    if "preset_path" in rep:
        print("wrote", rep["preset_path"])
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


def _cmd_reproduce(args) -> int:
    """Every generated result: fit tables and the engine table into data/processed,
    then every figure."""
    from .calibrate import engine_table

    fit_args = argparse.Namespace(ci="jacobian", n_boot=0, seed=0, out=PROCESSED)
    _cmd_fit(fit_args)
    table = engine_table(ops_per_task=20_000, reps=4, seed=1, progress=True)
    table.to_csv(PROCESSED / "engine_table.csv", index=False)
    err = table["rel_err"].abs()
    print(f"engine table: median |rel err| {err.median():.1%}, max {err.max():.1%}; "
          f"wrote {PROCESSED / 'engine_table.csv'}")
    return _cmd_figures(argparse.Namespace(list=False, out=FIGURES, only=None, quiet=False))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pvqmodel",
        description="Performance models of para-virtualized spinlocks (see README.md).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("table", help="print the seed table with per-op columns")
    t.add_argument("--engine", action="store_true",
                   help="run the Monte Carlo engine on every supported cell instead")
    t.add_argument("--ops", type=int, default=20_000, help="engine: ops per task (K)")
    t.add_argument("--reps", type=int, default=4, help="engine: replications per cell")
    t.add_argument("--seed", type=int, default=1, help="engine: root seed")
    t.add_argument("--workers", type=int, default=1, help="engine: replication threads")
    t.add_argument("--quiet", action="store_true", help="engine: no progress bar")
    t.add_argument("--pv", choices=["off", "on", "both"], default="both",
                   help="engine: which columns (default all 32 cells)")
    t.set_defaults(func=_cmd_table)

    b = sub.add_parser("bench", help="engine vs SimPy reference speed, PV-off table time")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--no-table", action="store_true", help="skip timing the PV-off table")
    b.set_defaults(func=_cmd_bench)

    c = sub.add_parser("calibrate", help="fit the engine's hardware preset to the table")
    c.add_argument("--maxfev", type=int, default=120, help="objective evaluations")
    c.add_argument("--ops", type=int, default=1500, help="ops per task per evaluation")
    c.add_argument("--seed", type=int, default=2014, help="common-random-numbers seed")
    c.add_argument("--preset", default="westmere-ex", help="preset name to write")
    c.add_argument("--no-save", action="store_true", help="do not write the preset")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--pv", action="store_true",
                   help="fit only the two PV code-path costs to the PV-on columns "
                        "(hardware preset fixed; use --maxfev 30 --seed 2015)")
    c.set_defaults(func=_cmd_calibrate)

    u = sub.add_parser("hunt", help="search randomized schedules for lost wake-ups")
    u.add_argument("--lock", default="pv-qspinlock-v10",
                   choices=["pv-qspinlock-v10", "pv-qspinlock-v10-unfair", "pv-ticket"])
    u.add_argument("--memory-model", choices=["sc", "tso"], default="sc")
    u.add_argument("--no-latch", action="store_true", help="without KVM's PV-unhalted latch")
    u.add_argument("--budget", type=int, default=200, help="schedules to explore")
    u.add_argument("--seed", type=int, default=0, help="root seed")
    u.add_argument("--drain-ns", type=float, default=50.0,
                   help="TSO: mean store-buffer drain delay (ns)")
    u.add_argument("--quantum-ns", type=float, default=2000.0,
                   help="mean quantum (ns): the preemption rate")
    u.add_argument("--first", action="store_true", help="stop at the first failure")
    u.add_argument("--quiet", action="store_true", help="no progress bar")
    u.set_defaults(func=_cmd_hunt)

    f = sub.add_parser("fit", help="fit the analytical models to the seed table")
    f.add_argument("--ci", choices=["jacobian", "bootstrap"], default="jacobian",
                   help="how the 95%% parameter intervals are computed")
    f.add_argument("--n-boot", type=int, default=400, help="bootstrap refits")
    f.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    f.add_argument("--out", type=Path, default=None,
                   help="also write the report's tables as CSV into this folder")
    f.set_defaults(func=_cmd_fit)

    g = sub.add_parser("figures", help="rebuild every figure (PNG + PDF)")
    g.add_argument("--out", type=Path, default=FIGURES, help=f"folder (default {FIGURES})")
    g.add_argument("--only", nargs="*", help="build only these figure names")
    g.add_argument("--list", action="store_true", help="list figure names and exit")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_figures)

    h = sub.add_parser("handshake", help="exhaustively check the v10 PV wake-up handshake")
    h.add_argument("--memory-model", choices=["sc", "tso"], default="sc")
    h.add_argument("--no-latch", action="store_true", help="without KVM's PV-unhalted latch")
    h.add_argument("--spurious", action="store_true", help="allow spurious wake-ups")
    h.add_argument("--threshold", type=int, default=4, help="scaled QSPIN_THRESHOLD")
    h.add_argument("--gap", type=int, default=1,
                   help="scaled QSPIN_THRESHOLD - MAYHALT_THRESHOLD (0x10 in the seed)")
    h.set_defaults(func=_cmd_handshake)

    r = sub.add_parser("reproduce", help="regenerate data/processed and figures/")
    r.set_defaults(func=_cmd_reproduce)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
