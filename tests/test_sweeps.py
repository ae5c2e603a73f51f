"""Sweeps (pvqmodel.sweeps) and the overcommit study's table (pvqmodel.overcommit).

A sweep on a 2-worker dask ``LocalCluster`` of processes gives exactly the serial
results; a rerun submits nothing; a worker killed mid-sweep loses only its task and
the rerun computes exactly the missing ones; scenario keys do not depend on the
interpreter's hash seed and one key is pinned; bad specs raise named errors before any
task runs; the CLI reports bad input with exit status 2 and stops cleanly on Ctrl-C
with the finished tasks on disk. Scenarios are tiny (2-4 vCPUs, well under 1 ms of
simulated time) so the whole file takes seconds beyond the dask start-ups.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pvqmodel.sweeps import (
    CRASH_ENV,
    SpecError,
    SweepDirError,
    SweepIncomplete,
    load_spec,
    plan,
    scenario_key,
    sweep,
    sweep_results,
    task_files,
    task_seed,
)

ROOT = Path(__file__).resolve().parents[1]

#: 2 locks x 2 workloads x 2 PLE x (2 layouts + 2 baselines) = 32 scenarios x 2 reps
TINY = dict(name="tiny", root_seed=3, reps=2, duration_ms=0.3,
            host=dict(pcpus=4, ple=[True, False]),
            grid=dict(locks=["ticket", "pv-qspinlock"], workloads=["microbench", "think-sleep"],
                      layouts=[[2], [4, 4]]))


def _spec(**over):
    d = json.loads(json.dumps(TINY))
    for k, v in over.items():
        if isinstance(v, dict):
            d.setdefault(k, {}).update(v)
        else:
            d[k] = v
    return d


@pytest.fixture(scope="module")
def serial_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    rep = sweep(TINY, out=out, serial=True, progress=False)
    assert rep.submitted == rep.tasks == 64 and not rep.failed
    return out


@pytest.fixture(scope="module")
def serial(serial_dir):
    return sweep_results(serial_dir, complete=True)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    import dask

    # a killed worker's task fails at once instead of being retried elsewhere, so the
    # crash test below sees a missing task (the default retries it up to 3 times)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=40)
        c = distributed.Client(cluster)
        yield c
        c.close()
        cluster.close()


def _counting(monkeypatch, client):
    """Count the tasks submitted to ``client``."""
    calls = []
    submit = client.submit

    def counted(*a, **k):
        calls.append(k.get("key"))
        return submit(*a, **k)

    monkeypatch.setattr(client, "submit", counted)
    return calls


# ---- keys and seeds ----------------------------------------------------------------------

def test_scenario_key_format_is_pinned():
    """Format-stability check, not a behaviour test: this is the key the current
    format gives one fixed scenario. If it changes, results written before can no
    longer be found by a rerun: change the key format only deliberately (and bump
    ``KEY_FORMAT``, then update this value)."""
    sc = {"preset": "current-6.13", "scheduler": "eevdf", "lock": "ticket",
          "workload": "microbench", "ple": True, "halt_poll": True, "duration_ms": 40.0,
          "ops_per_vcpu": 0, "role": "shared", "pcpus": 32, "layout": "32+32", "n_vms": 2,
          "total_vcpus": 64, "overcommit": 2.0}
    assert scenario_key(sc) == "ddf28e4693873c4b"
    assert scenario_key(dict(reversed(list(sc.items())))) == "ddf28e4693873c4b"
    assert task_seed(15, "ddf28e4693873c4b", 0) == 12217221817604538


def test_scenario_keys_do_not_depend_on_the_hash_seed():
    code = ("import json; from pvqmodel.sweeps import load_spec, scenario_key; "
            f"s = load_spec({TINY!r}); "
            "print(json.dumps([scenario_key(x) for x in s.scenarios()]))")
    here = [scenario_key(x) for x in load_spec(TINY).scenarios()]
    assert len(set(here)) == len(here) == 32
    for hs in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True).stdout
        assert json.loads(out) == here


def test_task_seeds_are_distinct_and_follow_the_root_seed():
    _, _, tasks = plan(TINY, "/nonexistent")
    seeds = [t["seed"] for t in tasks]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds)
    _, _, other = plan(_spec(root_seed=4), "/nonexistent")
    assert not set(seeds) & {t["seed"] for t in other}


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("over, words", [
    (dict(grid=dict(locks=["no-such-lock"])), ["grid.locks[0]", "no-such-lock"]),
    (dict(grid=dict(workloads=["gaming"])), ["grid.workloads[0]", "gaming"]),
    (dict(grid=dict(layouts=[[0]])), ["grid.layouts[0]"]),
    (dict(grid=dict(colour="red")), ["unknown key", "colour", "[grid]"]),
    (dict(seeds=3), ["unknown key", "seeds"]),
    (dict(host=dict(pcpu=4)), ["unknown key", "pcpu", "[host]"]),
    (dict(host=dict(preset="no-such-host")), ["host.preset", "no-such-host"]),
    (dict(host=dict(scheduler="bfs")), ["host.scheduler", "bfs"]),
    (dict(host=dict(ple="yes")), ["host.ple"]),
    (dict(root_seed=-1), ["root_seed", "[0, 2^63 - 1]"]),
    (dict(reps=0), ["reps", "[1, 10000]"]),
    (dict(duration_ms=-5.0), ["duration_ms"]),
    (dict(ops=100), ["exactly one of duration_ms", "ops"]),
])
def test_bad_specs_raise_named_errors_before_any_task(tmp_path, over, words):
    out = tmp_path / "out"
    with pytest.raises(SpecError) as e:
        sweep(_spec(**over), out=out, serial=True, progress=False)
    for w in words:
        assert w in str(e.value)
    assert not out.exists()


def test_a_folder_of_another_sweep_is_refused(serial_dir, tmp_path):
    with pytest.raises(SweepDirError, match="root_seed"):
        sweep(_spec(root_seed=99), out=serial_dir, serial=True, progress=False)
    (tmp_path / "stuff.txt").write_text("x")
    with pytest.raises(SweepDirError, match="not empty"):
        sweep(TINY, out=tmp_path, serial=True, progress=False)


# ---- results -------------------------------------------------------------------------------

def test_result_rows(serial):
    """One row per VM and replication, scenario columns beside HostResult.vms's."""
    from pvqmodel.hostsim import VM_COLUMNS

    assert len(serial) == 2 * (8 * 1 + 8 * 2 + 16 * 1)  # reps x (layouts' VMs + baselines)
    assert set(VM_COLUMNS) <= set(serial.columns)
    assert {"key", "rep", "task_seed", "role", "layout", "overcommit", "run_lhp"} <= set(
        serial.columns)
    assert (serial["run_status"] == "ok").all()
    two = serial[serial["layout"] == "4+4"]
    assert set(two["vm"]) == {"vm0", "vm1"} and (two["overcommit"] == 2.0).all()
    assert serial["makespan_ns"].isna().all()  # fixed duration


def test_fixed_work_gives_a_makespan(tmp_path):
    spec = _spec(grid=dict(locks=["tas"], workloads=["microbench"], layouts=[[2]]),
                 host=dict(ple=[True]), reps=1)
    del spec["duration_ms"]
    spec["ops"] = 30
    sweep(spec, out=tmp_path, serial=True, progress=False)
    df = sweep_results(tmp_path, complete=True)
    assert (df["ops"] == 60).all()  # 2 vCPUs x 30 operations
    assert (df["makespan_ns"] == df["sim_ns"]).all() and (df["makespan_ns"] > 0).all()
    assert df["duration_ms"].isna().all()


def test_distributed_equals_serial_and_a_rerun_submits_nothing(serial, client, tmp_path,
                                                               monkeypatch):
    calls = _counting(monkeypatch, client)
    rep = sweep(TINY, client, out=tmp_path, progress=False)
    assert len(calls) == rep.submitted == 64
    pd.testing.assert_frame_equal(sweep_results(tmp_path, complete=True), serial)
    calls.clear()
    rep = sweep(TINY, client, out=tmp_path, progress=False)
    assert calls == [] and rep.submitted == 0 and rep.skipped == 64


def test_a_killed_worker_loses_only_its_task(serial, client, tmp_path, monkeypatch):
    """The first task to find the marker file ends its worker process (os._exit)
    before computing; the sweep finishes the other tasks and reports the lost ones; a
    rerun submits exactly the missing tasks and the dataset equals the serial one."""
    marker = tmp_path / "crash-marker"
    marker.write_text("")
    out = tmp_path / "out"
    # the workers read the variable from the task's environment at run time: set it in
    # every worker process, the way a spawned worker would have inherited it
    # (a lambda: cloudpickle sends it by value; a bound os.environ method would set a copy)
    client.run(lambda: os.environ.__setitem__(CRASH_ENV, str(marker)))
    try:
        with pytest.raises(SweepIncomplete) as e:
            sweep(TINY, client, out=out, progress=False)
    finally:
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed one
        client.run(lambda: os.environ.pop(CRASH_ENV, None))
    assert not marker.exists()
    lost = e.value.report.failed
    assert 1 <= len(lost) < 64
    assert len(task_files(out)) == 64 - len(lost)
    calls = _counting(monkeypatch, client)
    rep = sweep(TINY, client, out=out, progress=False)
    assert rep.submitted == len(calls) == len(lost) and rep.skipped == 64 - len(lost)
    assert sorted(c.rsplit("-", 1)[0] for c in calls) == sorted(f"pvq-{k}-r{r}"
                                                                for k, r in lost)
    pd.testing.assert_frame_equal(sweep_results(out, complete=True), serial)


def test_partial_files_are_not_results(serial_dir, tmp_path):
    """A task killed while writing leaves only a hidden temporary file: it is neither
    read nor counted as finished; the rerun recomputes that task alone."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(serial_dir, out)
    victim = task_files(out)[5]
    victim.unlink()
    (victim.parent / f".{victim.name}.abc123.tmp.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(SweepIncomplete):
        sweep_results(out, complete=True)
    assert sweep_results(out).attrs["missing"] == 1
    rep = sweep(TINY, out=out, serial=True, progress=False)
    assert rep.submitted == 1
    pd.testing.assert_frame_equal(sweep_results(out, complete=True),
                                  sweep_results(serial_dir))


# ---- the study's table ---------------------------------------------------------------------

def test_overcommit_table_follows_its_definition(serial):
    """The slowdown recomputed from the raw rows by its definition: baseline mean
    throughput x fair share / vCPUs over the mean (per replication, over the
    scenario's VMs) throughput on the shared host."""
    from pvqmodel.overcommit import overcommit_table

    t = overcommit_table(serial)
    assert len(t) == 16  # the shared scenarios (2 layouts x 2 locks x 2 workloads x 2 PLE)
    row = t[(t["layout"] == "4+4") & (t["lock"] == "ticket") & t["ple"]
            & (t["workload"] == "think-sleep")].iloc[0]
    sh = serial[serial["key"] == row["key"]]
    x = sh.groupby("rep")["ops_per_s"].mean().mean()
    b = serial[(serial["role"] == "baseline") & (serial["lock"] == "ticket") & serial["ple"]
               & (serial["workload"] == "think-sleep") & (serial["vcpus"] == 4)]
    assert len(b) == 2
    fair = sh["fair_pcpus"].iloc[0]
    assert fair == 2.0  # two VMs of 4 vCPUs share 4 pCPUs
    assert row["slowdown"] == pytest.approx(b["ops_per_s"].mean() * fair / 4 / x, rel=1e-12)
    assert row["slowdown_lo"] < row["slowdown"] < row["slowdown_hi"]
    halts = (sh["halts"] / sh["ops"]).groupby(sh["rep"]).mean().mean()
    assert row["halts_per_op"] == pytest.approx(halts, rel=1e-12)


# ---- workloads -------------------------------------------------------------------------------

def test_named_workloads(tmp_path):
    from pvqmodel import workloads as w

    assert {"microbench", "think-sleep"} <= set(w.WORKLOADS)
    assert w.workload_vm_kwargs("think-sleep")["think"] == "sleep"
    assert w.workload_vm_kwargs("microbench").get("think_ns", 0.0) == 0.0
    with pytest.raises(ValueError, match="unknown VM keyword"):
        w.register_workload("bad-one", "x", vcpus=4)
    try:  # adding a workload is one call, and a spec can use it at once
        w.register_workload("test-think", "a test workload", think_ns=1000.0)
        rep = sweep(_spec(grid=dict(workloads=["test-think"], layouts=[[2]], locks=["tas"])),
                    out=tmp_path, serial=True, progress=False)
        assert rep.tasks == 2 * 2 * 2  # 2 PLE x (layout + baseline) x 2 reps
    finally:
        w.WORKLOADS.pop("test-think", None)


# ---- CLI ---------------------------------------------------------------------------------------

def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "pvqmodel", *args], capture_output=True,
                          text=True, **kw)


def test_cli_bad_input_exits_2_with_a_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nreps = 2\nroot_seed = -1\nduration_ms = 1.0\n[grid]\n'
                   'locks = ["ticket"]\nworkloads = ["microbench"]\nlayouts = [[2]]\n')
    r = _cli("sweep", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "SPEC: root_seed must be" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()
    bad.write_text("name = = 1\n")
    r = _cli("sweep", str(bad))
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = _cli("sweep", "studies/overcommit-reduced.toml", "--workers", "0")
    assert r.returncode == 2 and "--workers" in r.stderr


def test_cli_ctrl_c_stops_cleanly_and_keeps_finished_tasks(tmp_path):
    """SIGINT while the sweep runs (a local cluster of one worker): exit status 130,
    a message, every file on disk a complete result, and a rerun completes the rest."""
    spec = tmp_path / "s.toml"
    spec.write_text('name = "ctrlc"\nroot_seed = 1\nreps = 40\nduration_ms = 0.3\n'
                    '[host]\npcpus = 2\nple = true\n[grid]\nlocks = ["tas", "ticket"]\n'
                    'workloads = ["microbench"]\nlayouts = [[2]]\n')
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "pvqmodel", "sweep", str(spec), "--out",
                          str(out), "--workers", "1", "--dashboard", ":0", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(task_files(out)) < 3 and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, "the sweep ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "on disk" in err
    done = task_files(out)
    assert 3 <= len(done) < 160  # 2 locks x (shared + baseline) x 40 reps
    for f in done:  # complete files only
        assert len(pd.read_parquet(f)) == 1
    r = _cli("sweep", str(spec), "--out", str(out), "--serial", "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already on disk, {160 - len(done)} computed" in r.stdout
    assert np.all(sweep_results(out, complete=True)["run_status"] == "ok")


def test_shipped_study_specs_load():
    full = load_spec("overcommit")
    assert len(full.locks) == 12 and full.workloads == ("microbench", "think-sleep")
    assert set(full.layouts) == {(16,), (32,), (48,), (64,), (32, 32), (32, 32, 32)}
    assert full.pcpus == (32,) and full.ple == (True, False)
    red = load_spec(ROOT / "studies" / "overcommit-reduced.toml")
    assert set(red.locks) < set(full.locks)


def test_notebook_filters_read_the_table_only(serial, monkeypatch):
    """Notebook 07's view filters the table and draws from it; it never simulates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import pvqmodel.hostsim as hs
    from pvqmodel.overcommit import overcommit_table
    from pvqmodel.widgets import overcommit_view

    def no_runs(*a, **k):
        raise AssertionError("the view must not simulate")

    monkeypatch.setattr(hs, "simulate_host", no_runs)
    t = overcommit_table(serial)
    sub, fig = overcommit_view(t, locks=["ticket"], ple=[True], figure="ranking")
    plt.close(fig)
    assert set(sub["lock"]) == {"ticket"} and sub["ple"].all() and len(sub) == 4
    with pytest.raises(ValueError, match="lock filter.*'tas'"):
        overcommit_view(t, locks=["tas"])
    with pytest.raises(ValueError, match="figure must be"):
        overcommit_view(t, figure="pie")


def test_files_from_before_a_new_engine_column_read_as_null(serial_dir, tmp_path):
    """A dataset completed across an engine update that added a column: the older
    files' rows read that column as null, every other value unchanged."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(serial_dir, out)
    old = task_files(out)[0]
    df = pd.read_parquet(old)
    assert "lhp" in df.columns  # the engine reports per-VM lock-holder preemptions
    df.drop(columns="lhp").to_parquet(old, index=False)
    both = sweep_results(out)
    ref = sweep_results(serial_dir)
    key, rep = df["key"].iloc[0], df["rep"].iloc[0]
    hit = (both["key"] == key) & (both["rep"] == rep)
    assert both.loc[hit, "lhp"].isna().all() and both.loc[~hit, "lhp"].notna().all()
    pd.testing.assert_frame_equal(both.drop(columns="lhp"), ref.drop(columns="lhp"))
