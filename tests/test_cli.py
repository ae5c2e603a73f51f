"""The command line: bad values give one line naming the flag (exit 2, no traceback);
Ctrl-C exits 130 with one line; --help is light and shows defaults; simulate builds the
same objects as the library; hunt's printed replay command reproduces the loss;
reproduce's manifest and status (bench: tests/test_bench.py)."""

import importlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pvqmodel import cli
from pvqmodel.cli import build_parser, main

PY = [sys.executable, "-m", "pvqmodel"]


def _run_main(argv, capsys):
    """main(argv) in-process: (exit status, stdout, stderr). An unexpected exception
    propagates (the test then fails with it: that is the traceback a user would see)."""
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


# (argv, the flag the error must name). Each is a value the command cannot run with;
# the first group is caught by argparse's range-checking types, the second by the
# library's validation (mapped from its parameter name to the flag) or by the CLI's
# up-front checks.
BAD = [
    (["fit", "--n-boot", "0"], "--n-boot"),
    (["fit", "--seed", "-1"], "--seed"),
    (["fit", "--ci", "magic"], "--ci"),
    (["calibrate", "--maxfev", "0"], "--maxfev"),
    (["calibrate", "--ops", "0"], "--ops"),
    (["calibrate", "--seed", "x"], "--seed"),
    (["calibrate", "--save", "Bad_Name"], "--save"),
    (["hunt", "--seed", "-1"], "--seed"),
    (["hunt", "--budget", "0"], "--budget"),
    (["hunt", "--drain-ns", "-1"], "--drain-ns"),
    (["hunt", "--quantum-ns", "0"], "--quantum-ns"),
    (["hunt", "--lock", "ticket"], "--lock"),
    (["hunt", "--replay", "-5"], "--replay"),
    (["table", "--ops", "0"], "--ops"),
    (["table", "--reps", "0"], "--reps"),
    (["table", "--workers", "0"], "--workers"),
    (["table", "--seed", "-1"], "--seed"),
    (["table", "--pv", "maybe"], "--pv"),
    (["figures", "--only"], "--only"),
    (["handshake", "--threshold", "1"], "--threshold"),
    (["handshake", "--gap", "0"], "--gap"),
    (["handshake", "--memory-model", "arm"], "--memory-model"),
    (["reproduce", "--ops", "0"], "--ops"),
    (["reproduce", "--reps", "-1"], "--reps"),
    (["simulate", "no-such-lock"], "LOCK"),
    (["simulate", "ticket", "--tasks", "0"], "--tasks"),
    (["simulate", "ticket", "--ops", "0"], "--ops"),
    (["simulate", "ticket", "--reps", "0"], "--reps"),
    (["simulate", "ticket", "--trace", "-1"], "--trace"),
    (["simulate", "ticket", "--overcommit", "abc"], "--overcommit"),
    (["simulate", "ticket", "--ple-window-ns", "soon"], "--ple-window-ns"),
    # library checks (params classes), translated to flags
    (["handshake", "--threshold", "4", "--gap", "4"], "--gap"),
    (["figures", "--only", "no-such-figure"], "--only"),
    (["reproduce", "--figure", "no-such-figure"], "--figure"),
    (["calibrate", "--save", "westmere-ex"], "--save"),  # exists, no --overwrite
    (["calibrate", "--pv", "--save", "no-such-preset"], "--save"),
    (["simulate", "ticket", "--overcommit", "0.5"], "--overcommit"),
    (["simulate", "ticket", "--quantum-ns", "0"], "--quantum-ns"),
    (["simulate", "ticket", "--pcpus", "0"], "--pcpus"),
    (["simulate", "ticket", "--halt-ns", "-1"], "--halt-ns"),
    (["simulate", "ticket", "--kick-ns", "-1"], "--kick-ns"),
    (["simulate", "ticket", "--wake-ns", "-1"], "--wake-ns"),
    (["simulate", "ticket", "--spurious-ns", "-1"], "--spurious-ns"),
    (["simulate", "ticket", "--ple-window-ns", "0.5"], "--ple-window-ns"),
    (["simulate", "ticket", "--ple-exit-ns", "-1"], "--ple-exit-ns"),
    (["simulate", "ticket", "--memory-model", "sc", "--drain-ns", "50"], "--drain-ns"),
    (["simulate", "ticket", "--drain-ns", "-3"], "--drain-ns"),
    (["simulate", "ticket", "--sockets", "0"], "--sockets"),
    (["simulate", "ticket", "--cores-per-socket", "0"], "--cores-per-socket"),
    (["simulate", "ticket", "--cs-ns", "-1"], "--cs-ns"),
    (["simulate", "ticket", "--loop-ns", "-1"], "--loop-ns"),
    (["simulate", "ticket", "--hardware", "no-such-machine"], "--hardware"),
    (["simulate", "ticket", "--watchdog-ns", "0"], "--watchdog-ns"),
    (["simulate", "ticket", "--tasks", "200"], "--tasks"),  # > the preset's 40 cores
]


@pytest.mark.parametrize("argv, flag", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_value_names_the_flag_and_exits_2(argv, flag, capsys):
    rc, out, err = _run_main(argv, capsys)
    assert rc == 2, (rc, out, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"pvqmodel {argv[0]}: error:"), err
    assert flag in last, err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("argv, flag", [
    (["fit", "--n-boot", "0"], "--n-boot"),
    (["simulate", "ticket", "--overcommit", "0.5"], "--overcommit"),
    (["calibrate", "--save", "westmere-ex"], "--save"),
])
def test_bad_value_in_a_real_process(argv, flag):
    p = subprocess.run(PY + argv, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    *usage, last = p.stderr.strip().splitlines()  # usage (maybe wrapped), one error line
    assert usage[0].startswith("usage: pvqmodel ")
    assert all(line.startswith(" ") for line in usage[1:])
    assert last.startswith(f"pvqmodel {argv[0]}: error: ") and flag in last


def test_library_range_message_reaches_the_user(capsys):
    rc, _, err = _run_main(["simulate", "ticket", "--quantum-ns", "0"], capsys)
    assert rc == 2 and "quantum_ns must be a finite number in [1.0, 10000000000.0]" in err


def test_keyboard_interrupt_in_a_command_exits_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_table", interrupted)
    rc, out, err = _run_main(["table"], capsys)
    assert rc == 130
    assert err.strip() == "pvqmodel: interrupted" and "Traceback" not in out + err


def test_ctrl_c_stops_a_long_hunt():
    """SIGINT to a running hunt with a budget that would take hours: exit status 130,
    one line, no traceback. The hunt runs many short kernels, so the interrupt is
    handled as soon as the current schedule's kernel returns; the timeout is generous
    (the first run may load the engine from numba's cache or compile it)."""
    p = subprocess.Popen(PY + ["hunt", "--budget", "10000000", "--seed", "3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        # the progress bar is written once the search has started
        seen = ""
        t0 = time.monotonic()
        while "hunt pv-qspinlock-v10" not in seen and time.monotonic() - t0 < 600:
            ch = p.stderr.read(1)
            if not ch:
                break
            seen += ch
        assert "hunt pv-qspinlock-v10" in seen, seen
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (p.returncode, err[-2000:])
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1].endswith("pvqmodel: interrupted")


def test_help_imports_no_heavy_package():
    code = ("import sys, pvqmodel.cli as c; c.build_parser().format_help(); "
            "print(sorted(m for m in ('numba', 'pandas', 'scipy', 'matplotlib', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    p = subprocess.run([sys.executable, "-X", "importtime"] + PY[1:] + ["--help"],
                       capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines()}
    assert "pvqmodel.cli" in imported
    assert not imported & {"numba", "pandas", "scipy", "matplotlib", "numpy"}
    script = Path(sys.executable).parent / "pvqmodel"  # the console script, if installed
    if script.exists():
        p = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        imported = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines()}
        assert "pvqmodel.cli" in imported and "simulate" in p.stdout
        assert not imported & {"numba", "pandas", "scipy", "matplotlib", "numpy"}


def test_package_names_are_lazy_but_the_same():
    code = ("import sys, pvqmodel; assert 'numba' not in sys.modules; "
            "import pvqmodel.hunt, pvqmodel.calibrate; "
            "assert callable(pvqmodel.hunt) and pvqmodel.hunt.__name__ == 'hunt'; "
            "assert pvqmodel.calibrate.__module__ == 'pvqmodel.calibrate'; "
            "assert all(getattr(pvqmodel, n) is not None for n in pvqmodel.__all__); "
            "assert pvqmodel.queueing.__name__ == 'pvqmodel.queueing'; print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip() == "ok", p.stderr


def test_every_option_help_shows_its_default():
    parser = build_parser()
    subs = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    missing = []
    for name, sp in subs.choices.items():
        fmt = sp._get_formatter()
        for a in sp._actions:
            if not a.option_strings or a.dest == "help":
                continue
            if "default" not in fmt._get_help_string(a):
                missing.append(f"{name} {a.option_strings[0]}")
    assert missing == []


def test_lock_names_match_the_engine():
    from pvqmodel.sim import LOCK_ALIASES, LOCKS, PV_LOCKS, TABLE_LOCK_NAMES

    assert set(cli.LOCK_NAMES) == set(LOCKS) | set(TABLE_LOCK_NAMES) | set(LOCK_ALIASES)
    pv_aliases = {a for a, name in LOCK_ALIASES.items() if name in PV_LOCKS}
    assert set(cli.PV_LOCK_NAMES) == set(PV_LOCKS) | pv_aliases


def test_simulate_matches_the_library(capsys):
    from pvqmodel import Schedule, simulate

    rc, out, _ = _run_main(["simulate", "pv-qspinlock-v10", "--tasks", "3", "--ops", "300",
                            "--reps", "2", "--seed", "7", "--overcommit", "2",
                            "--quantum-ns", "1e5", "--json"], capsys)
    assert rc == 0
    got = pd.DataFrame(json.loads(out))
    ref = simulate("pv-qspinlock-v10", 3, 300, reps=2, seed=7,
                   schedule=Schedule(overcommit=2.0, quantum_ns=1e5)).summary
    assert got["ns_per_op"].tolist() == ref["ns_per_op"].tolist()
    assert got["events"].tolist() == ref["events"].tolist()

    rc, out, _ = _run_main(["simulate", "ticket", "--tasks", "2", "--ops", "100", "--reps",
                            "1", "--csv", "--cs-ns", "20", "--memory-model", "sc"], capsys)
    assert rc == 0
    from io import StringIO

    from pvqmodel.sim import default_hardware, default_workload
    got = pd.read_csv(StringIO(out))
    ref = simulate("ticket", 2, 100, reps=1, hardware=default_hardware().with_memory_model(
        "sc"), workload=default_workload().replace(cs_ns=20.0)).summary
    assert got["sim_ns"].tolist() == pytest.approx(ref["sim_ns"].tolist(), rel=1e-12)

    rc, out, _ = _run_main(["simulate", "queue", "--tasks", "2", "--ops", "50"], capsys)
    assert rc == 0 and "ns/op over 4 replication(s)" in out


def test_simulate_failure_prints_the_trace_and_exits_1(capsys):
    # a 1 ns watchdog: the first waiter that waits longer is reported as a failure
    rc, out, err = _run_main(["simulate", "ticket", "--tasks", "4", "--ops", "100",
                              "--reps", "1", "--watchdog-ns", "1"], capsys)
    assert rc == 1
    assert "replication 0 failed: watchdog" in err
    assert "t_ns" in err and "Traceback" not in err


def test_hunt_prints_a_replay_command_that_reproduces_the_loss(capsys):
    rc, out, _ = _run_main(["hunt", "--lock", "pv-ticket", "--no-latch", "--first",
                            "--budget", "60", "--seed", "1", "--quiet"], capsys)
    assert rc == 0 and "lost-wakeup found" in out
    lines = out.splitlines()
    cmd = lines[lines.index("replay the first failing schedule with:") + 1].strip()
    argv = shlex.split(cmd)
    assert argv[:2] == ["pvqmodel", "hunt"] and "--replay" in argv
    hunt_trace = "\n".join(lines[1:lines.index("replay the first failing schedule with:")])
    rc, out2, _ = _run_main(argv[1:], capsys)
    assert rc == 0
    head, *rest = out2.splitlines()
    assert head.endswith(f"replay of schedule seed {argv[-1]}: lost-wakeup")
    assert "\n".join(rest) == hunt_trace  # the same schedule, step for step


def test_reproduce_writes_a_manifest_and_status_checks_it(tmp_path, capsys, monkeypatch):
    proc, figs = tmp_path / "processed", tmp_path / "figures"
    spec = tmp_path / "tiny.toml"  # the overcommit sweep, tiny and in-process
    spec.write_text('name = "tiny-oc"\nroot_seed = 1\nreps = 2\nduration_ms = 0.05\n'
                    '[host]\npcpus = 2\nple = true\n[grid]\nlocks = ["tas"]\n'
                    'workloads = ["microbench"]\nlayouts = [[2], [2, 2]]\n')
    argv = ["reproduce", "--processed", str(proc), "--figures", str(figs), "--ops", "30",
            "--reps", "1", "--figure", "seed-table", "--host-reps", "1",
            "--host-duration-ms", "0.05", "--sweep-spec", str(spec), "--sweep-serial"]
    rc, out, _ = _run_main(argv, capsys)
    assert rc == 0
    man = proc / "MANIFEST.json"
    doc = json.loads(man.read_text())
    names = sorted(k.rsplit("/", 1)[-1] for k in doc["outputs"])
    # 3 scenarios (2 layouts, 1 baseline) x 2 replications: one Parquet file each
    assert names.count("rep=0.parquet") == names.count("rep=1.parquet") == 3
    assert [n for n in names if not n.startswith("rep=")] == [
        "analytic_fit_params.csv", "analytic_fit_points.csv", "analytic_fit_summary.csv",
        "engine_pv_generations.csv", "engine_qspinlock_418.csv", "engine_table.csv",
        "host_study.csv", "overcommit_study.csv", "seed-table.pdf", "seed-table.png",
        "sweep.json"]
    assert (proc / "tiny-oc" / "sweep.json").exists()
    assert doc["settings"]["ops_per_task"] == 30
    status = ["status", "--manifest", str(man)]
    rc, out, _ = _run_main(status, capsys)
    assert rc == 0 and "all outputs match the manifest" in out

    # an output from another run, and a figure left over from an earlier one
    (proc / "engine_table.csv").write_text("lock,pv\nqueue,off\n")
    (figs / "old-figure.png").write_bytes(b"png")
    rc, out, _ = _run_main(status, capsys)
    assert rc == 1
    assert "modified output (not from this run): " in out and "engine_table.csv" in out
    assert "old-figure.png" in out

    # an interrupted reproduce removes the manifest first: status says so
    cal = importlib.import_module("pvqmodel.calibrate")  # the module, not the function

    def interrupted(**kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cal, "engine_table", interrupted)
    rc, _, err = _run_main(argv, capsys)
    assert rc == 130 and "interrupted" in err
    assert not man.exists()
    rc, out, _ = _run_main(status, capsys)
    assert rc == 1 and "did not finish" in out


def test_calibrate_refuses_before_running(capsys, monkeypatch):
    """The --save checks happen before any evaluation: calibrate is never called."""
    cal = importlib.import_module("pvqmodel.calibrate")
    called = []
    monkeypatch.setattr(cal, "calibrate", lambda **kw: called.append(kw))
    rc, _, err = _run_main(["calibrate", "--save", "westmere-ex"], capsys)
    assert rc == 2 and "--overwrite" in err and called == []


def test_no_engine_figures_are_registered_and_need_no_engine():
    """figures skips the engine warm-up only for these; they must exist and their
    builders must not import the engine."""
    code = ("import sys; from pvqmodel.cli import _NO_ENGINE_FIGURES as N; "
            "from pvqmodel.figures import REGISTRY; assert N <= set(REGISTRY); "
            "before = 'pvqmodel.engine.kernel' in sys.modules; "
            "[REGISTRY[n]() for n in sorted(N)]; "
            "print(before, 'pvqmodel.engine.kernel' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.split() == ["False", "False"], p.stderr[-2000:]
