"""The host's parameters (pvqmodel/host.py): each derivation against the kernel rule it
follows (host-scheduling.md §1-§4, read in the 3.19 and 6.13 sources), the host presets
(strict loading, a source for every value, each number inside its stated range, each
era's switches), and named errors for bad values. No engine runs: these are fast."""

import json
import math
import shutil
import subprocess
import sys

import pytest

import pvqmodel
import pvqmodel.host as host_mod
from pvqmodel import KVM, VM, Host, Workload
from pvqmodel.host import load_host_preset
from pvqmodel.params import PLE_GAP_NS, PLE_WINDOW_NS
from pvqmodel.paths import HOSTS

MS = 1e6

# ------------------------------------------------------------------ derivations


# get_update_sysctl_factor (3.19 and 6.13 fair.c): cpus = min(num_online_cpus, 8), then
# 1 + ilog2(cpus) (log), cpus (linear) or 1 (none). Expected values written out, not
# recomputed with the same formula.
@pytest.mark.parametrize("pcpus,scaling,factor", [
    (1, "log", 1), (2, "log", 2), (3, "log", 2), (4, "log", 3), (5, "log", 3), (7, "log", 3),
    (8, "log", 4), (9, "log", 4), (40, "log", 4), (256, "log", 4),
    (1, "linear", 1), (3, "linear", 3), (8, "linear", 8), (40, "linear", 8),
    (1, "none", 1), (40, "none", 1),
])
def test_tunable_scaling_factor(pcpus, scaling, factor):
    h = Host(pcpus=pcpus, tunable_scaling=scaling)
    assert h.factor == factor
    assert h.derived()["factor"] == factor


# host-scheduling.md §1.2 / §2.2: latency / min_gran / wakeup_gran / base_slice in ms by
# CPU count under the default log scaling.
@pytest.mark.parametrize("pcpus,latency,min_gran,wakeup,slice_", [
    (64, 24, 3, 4, 3), (8, 24, 3, 4, 3), (4, 18, 2.25, 3, 2.25), (2, 12, 1.5, 2, 1.5),
    (1, 6, 0.75, 1, 0.75),
])
def test_scaled_scheduler_tunables(pcpus, latency, min_gran, wakeup, slice_):
    d = Host(pcpus=pcpus).derived()
    assert d["sched_latency_ns"] == pytest.approx(latency * MS)
    assert d["sched_min_granularity_ns"] == pytest.approx(min_gran * MS)
    assert d["sched_wakeup_granularity_ns"] == pytest.approx(wakeup * MS)
    assert d["base_slice_ns"] == pytest.approx(slice_ * MS)


def test_sleeper_credit_is_half_the_latency_when_gentle():
    # place_entity: thresh = sysctl_sched_latency, halved under GENTLE_FAIR_SLEEPERS
    # (12 ms with 8+ CPUs, host-scheduling.md §1.5)
    assert Host(pcpus=16).derived()["sleeper_credit_ns"] == pytest.approx(12 * MS)
    assert Host(pcpus=16, gentle_fair_sleepers=False).derived()["sleeper_credit_ns"] == \
        pytest.approx(24 * MS)
    assert Host(pcpus=2).derived()["sleeper_credit_ns"] == pytest.approx(6 * MS)


def test_nr_latency_is_latency_over_min_granularity_rounded_up():
    # sched_nr_latency = DIV_ROUND_UP(latency, min_gran): 8 by default; tuned's 10 ms
    # min_gran (2.5 ms normalized at factor 4) against 24 ms latency gives 3
    assert Host(pcpus=40).derived()["sched_nr_latency"] == 8
    assert Host(pcpus=40, sched_min_granularity_ns=2.5e6).derived()["sched_nr_latency"] == 3


@pytest.mark.parametrize("hz,tick_ms", [(100, 10.0), (250, 4.0), (300, 10 / 3), (1000, 1.0)])
def test_tick(hz, tick_ms):
    assert Host(hz=hz).derived()["tick_ns"] == pytest.approx(tick_ms * MS)


def test_eevdf_lag_limit_is_two_slices_or_one_tick():
    # update_entity_lag (6.13): limit = max(2 * se->slice, TICK_NSEC) for a nice-0 entity
    assert Host(pcpus=8, hz=1000).derived()["eevdf_lag_limit_ns"] == pytest.approx(6 * MS)
    h = Host(pcpus=1, hz=100, base_slice_ns=1e5)  # 2 x 0.1 ms < one 10 ms tick
    assert h.derived()["eevdf_lag_limit_ns"] == pytest.approx(10 * MS)


def test_balance_intervals_follow_get_sd_balance_interval():
    # sd_init: min_interval = sd_weight ms; busy x busy_factor; msecs_to_jiffies rounds up
    # to ticks; clamped to HZ * num_online_cpus / 10 ticks. Westmere-3.19: HZ 250 (4 ms
    # ticks), 10 pCPUs per socket, 40 in all, busy_factor 32.
    d = Host.preset("westmere-3.19").derived()
    assert d["balance_interval_socket_ns"] == pytest.approx(12 * MS)  # 10 ms -> 3 ticks
    assert d["balance_interval_socket_busy_ns"] == pytest.approx(320 * MS)
    assert d["balance_interval_machine_ns"] == pytest.approx(40 * MS)
    assert d["balance_interval_machine_busy_ns"] == pytest.approx(1280 * MS)
    # the clamp: 8 CPUs at HZ 250 cap an interval at 250 * 8 / 10 = 200 ticks = 0.8 s,
    # below 8 ms x 1024
    d = Host(pcpus=8, hz=250, balance_busy_factor=1024).derived()
    assert d["balance_interval_machine_busy_ns"] == pytest.approx(800 * MS)


def test_ple_window_gap_and_cap_in_ns():
    k = KVM(tsc_ghz=2.4, ple_window=4096, ple_gap=128, ple_window_max=2**32 - 1)
    d = Host(kvm=k).derived()
    # the same conversion as params.PLE_WINDOW_NS / PLE_GAP_NS (4096 and 128 cycles at 2.4 GHz)
    assert d["ple_window_ns"] == pytest.approx(PLE_WINDOW_NS)
    assert d["ple_gap_ns"] == pytest.approx(PLE_GAP_NS)
    assert d["ple_window_max_ns"] == pytest.approx((2**32 - 1) / 2.4)
    assert d["ple_enabled"] == 1
    assert Host(kvm=k.replace(ple_gap=0)).derived()["ple_enabled"] == 0


def test_ple_exit_cost_is_composed_from_its_parts():
    k = KVM(vmexit_ns=900.0, on_spin_scan_ns=40.0, yield_to_ns=1100.0)
    assert k.ple_exit_ns(7) == pytest.approx(900 + 7 * 40 + 1100)
    assert k.ple_exit_ns(7, yielded=False) == pytest.approx(900 + 7 * 40)
    assert k.ple_exit_ns(0, yielded=False) == pytest.approx(900)
    d = Host(kvm=k).derived()
    assert d["ple_exit_fixed_ns"] == pytest.approx(900)
    assert d["on_spin_scan_ns"] == 40.0 and d["yield_to_ns"] == 1100.0
    with pytest.raises(ValueError, match=r"candidates must be an integer in \[0, "):
        k.ple_exit_ns(-1)


def test_halt_polling_and_switches_map_to_codes():
    d = Host.preset("westmere-3.19").derived()
    assert (d["halt_poll_enabled"], d["on_spin_candidate"], d["kick_yield"],
            d["preempted_flag"], d["scheduler"]) == (0, 0, 0, 0, 0)
    d = Host.preset("current-6.13").derived()
    assert (d["halt_poll_enabled"], d["on_spin_candidate"], d["kick_yield"],
            d["preempted_flag"], d["scheduler"]) == (1, 1, 1, 2, 1)
    assert Host(scheduler="rr").derived()["scheduler"] == 2


#: The derived keys the engine maps to kernel arguments (a contract with engine/).
DERIVED_KEYS = {
    "pcpus", "sockets", "pcpus_per_socket", "scheduler", "hz", "tick_ns", "factor",
    "sched_latency_ns", "sched_min_granularity_ns", "sched_wakeup_granularity_ns",
    "sched_nr_latency", "sleeper_credit_ns", "gentle_fair_sleepers", "start_debit",
    "next_buddy", "last_buddy", "wakeup_preemption", "base_slice_ns", "eevdf_lag_limit_ns",
    "run_to_parity", "place_lag", "pick_buddy", "delay_dequeue", "group_per_vm",
    "balance_busy_factor", "migration_cost_ns", "balance_interval_socket_ns",
    "balance_interval_socket_busy_ns", "balance_interval_machine_ns",
    "balance_interval_machine_busy_ns", "quantum_ns", "tsc_ghz", "ple_enabled",
    "ple_window_ns", "ple_gap_ns", "ple_window_max_ns", "ple_window_grow",
    "ple_window_shrink", "on_spin_candidate", "on_spin_halted_if_runnable",
    "on_spin_in_kernel_check", "on_spin_dy_eligible", "on_spin_esrch_tries", "kick_yield",
    "halt_poll_enabled", "halt_poll_ns", "halt_poll_ns_grow", "halt_poll_ns_grow_start",
    "halt_poll_ns_shrink", "preempted_flag", "pv_unhalted_latch", "ple_exit_fixed_ns",
    "vmexit_ns", "on_spin_scan_ns", "yield_to_ns", "context_switch_ns", "kick_ns",
    "wake_poll_ns", "wake_idle_ns", "wake_enqueue_ns", "halt_exit_ns",
}


@pytest.mark.parametrize("name", ["westmere-3.19", "current-6.13", None])
def test_derived_keys_and_types(name):
    h = Host() if name is None else Host.preset(name)
    d = h.derived()
    assert set(d) == DERIVED_KEYS
    for k, v in d.items():
        # ints go to LP, floats to P: no bools, no numpy scalars, nothing else
        assert type(v) in (int, float), (k, v)
        if k.endswith("_ns") or k == "tsc_ghz":
            assert type(v) is float and math.isfinite(v) and v >= 0, (k, v)


# ------------------------------------------------------------------ presets

def test_both_presets_exist_and_load():
    assert {"westmere-3.19", "current-6.13"} <= set(Host.presets())
    for name in Host.presets():
        assert isinstance(Host.preset(name), Host)


def _all_dotted_fields():
    from dataclasses import fields

    return ({f.name for f in fields(Host)} - {"kvm"}) | {f"kvm.{f.name}" for f in fields(KVM)}


@pytest.mark.parametrize("name", ["westmere-3.19", "current-6.13"])
def test_every_preset_value_has_a_source_and_lies_in_its_range(name):
    # read the file directly (not through the loader) so the check is independent of it
    doc = json.loads((HOSTS / f"{name}.json").read_text())
    entries = {k: e for k, e in doc["host"].items() if k != "kvm"}
    entries.update({f"kvm.{k}": e for k, e in doc["host"]["kvm"].items()})
    assert set(entries) == _all_dotted_fields()
    for key, e in entries.items():
        assert isinstance(e["source"], str) and len(e["source"].strip()) > 10, key
        v = e["value"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            lo, hi = e["range"]
            assert lo <= v <= hi, (key, v, e["range"])
        else:
            assert "range" not in e, key
    assert set(Host.preset_sources(name)) == _all_dotted_fields()
    ranges = Host.preset_ranges(name)
    h = Host.preset(name)
    for key, (lo, hi) in ranges.items():
        obj, attr = (h.kvm, key[4:]) if key.startswith("kvm.") else (h, key)
        assert lo <= getattr(obj, attr) <= hi


def test_the_presets_state_their_eras():
    # what issue 14 asks of each era (host-scheduling.md §0, §3.3, §4.2, §5.2)
    w = Host.preset("westmere-3.19")
    assert (w.scheduler, w.pcpus, w.sockets, w.balance_busy_factor) == ("cfs", 40, 4, 32)
    assert (w.kvm.candidate, w.kvm.halted_if_runnable, w.kvm.in_kernel_check,
            w.kvm.dy_eligible, w.kvm.kick_yield) == ("preempted", True, False, True, False)
    assert (w.kvm.halt_poll_ns, w.kvm.preempted_flag, w.kvm.ple_window_grow) == \
        (0.0, "none", 2)
    assert w.kvm.tsc_ghz == 2.4
    c = Host.preset("current-6.13")
    assert (c.scheduler, c.pick_buddy, c.balance_busy_factor) == ("eevdf", True, 16)
    assert (c.kvm.candidate, c.kvm.in_kernel_check, c.kvm.kick_yield) == ("ready", True, True)
    assert (c.kvm.halt_poll_ns, c.kvm.halt_poll_ns_shrink, c.kvm.preempted_flag) == \
        (200000.0, 2, "involuntary")
    # the measured kick and wake anchors (host-scheduling.md §4.5)
    assert w.kvm.kick_ns == 9300.0 and 63600.0 <= w.kvm.wake_idle_ns <= 67600.0


def test_defaults_are_the_current_host_on_a_small_machine():
    c = Host.preset("current-6.13")
    assert KVM() == c.kvm
    assert Host() == c.replace(pcpus=8, sockets=1)


def test_round_trips_through_dicts():
    for name in Host.presets():
        h = Host.preset(name)
        assert Host.from_dict(json.loads(json.dumps(h.to_dict())), complete=True) == h
    vm = VM("db", 8, lock="pv-qspinlock", workload=Workload(cs_ns=50.0), think_ns=1e4,
            think="sleep", ops=100, placement="pinned", cpuset=(8, 16), shares=2048)
    assert VM.from_dict(json.loads(json.dumps(vm.to_dict()))) == vm


@pytest.fixture
def hosts_dir(tmp_path, monkeypatch):
    """A scratch data/hosts holding a copy of the westmere preset; edits go to the copy."""
    shutil.copy(HOSTS / "westmere-3.19.json", tmp_path)
    monkeypatch.setattr(host_mod, "HOSTS", tmp_path)
    return tmp_path


def _edit(d, fn):
    path = d / "westmere-3.19.json"
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["host"].update(bogus={"value": 1, "source": "x", "range": [0, 2]}),
     r"host has unknown key\(s\) \['bogus'\]"),
    (lambda d: d["host"]["kvm"].update(bogus={"value": True, "source": "x"}),
     r"kvm has unknown key\(s\) \['bogus'\]"),
    (lambda d: d.update(extra=1), r"unknown key\(s\) \['extra'\]"),
    (lambda d: d["host"].pop("hz"), r"missing key\(s\) \['hz'\]"),
    (lambda d: d["host"]["kvm"].pop("vmexit_ns"), r"missing key\(s\) \['vmexit_ns'\]"),
    (lambda d: d["host"]["hz"].pop("source"), r"hz: keys must be 'value', 'source'"),
    (lambda d: d["host"]["hz"].update(source=" "), r"hz: source must be a non-empty string"),
    (lambda d: d["host"]["kvm"]["kick_ns"].update(value=20000.0),
     r"kvm.kick_ns: value 20000.0 outside its stated range"),
    (lambda d: d["host"]["kvm"]["kick_ns"].pop("range"), r"kvm.kick_ns: a numeric value needs"),
    (lambda d: d["host"]["kvm"]["kick_ns"].update(range=[7400.0, 2e9]),
     r"kvm.kick_ns: stated range .* must lie within the valid range"),
    (lambda d: d["host"]["kvm"]["kick_yield"].update(range=[0, 1]),
     r"kvm.kick_yield: only numeric values take a range"),
    (lambda d: d["host"]["scheduler"].update(value="bfs"), r"scheduler must be one of"),
    (lambda d: d["host"]["kvm"]["vmexit_ns"].update(value=-1.0, range=[-1.0, 2.0]),
     r"kvm.vmexit_ns: stated range"),
    (lambda d: d.update(name="other"), r"name must be 'westmere-3.19'"),
])
def test_a_bad_preset_is_refused_naming_the_field(hosts_dir, edit, match):
    _edit(hosts_dir, edit)
    with pytest.raises(ValueError, match=match):
        Host.preset("westmere-3.19")


def test_invalid_json_and_unknown_names_are_refused(hosts_dir):
    (hosts_dir / "westmere-3.19.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_host_preset("westmere-3.19")
    with pytest.raises(ValueError, match=r"unknown host preset 'nope'"):
        Host.preset("nope")
    with pytest.raises(ValueError, match="plain file stem"):
        Host.preset("../hardware/westmere-ex")


# ------------------------------------------------------------------ bad values

@pytest.mark.parametrize("kw,match", [
    (dict(pcpus=0), r"pcpus must be an integer in \[1, 256\]"),
    (dict(pcpus=8.0), r"pcpus must be an integer in \[1, 256\]"),
    (dict(pcpus=True), r"pcpus must be an integer"),
    (dict(pcpus=10, sockets=4), r"pcpus \(10\) must split evenly over sockets \(4\)"),
    (dict(scheduler="bfs"), r"scheduler must be one of \('cfs', 'eevdf', 'rr'\)"),
    (dict(hz=200), r"hz must be one of \(100, 250, 300, 1000\)"),
    (dict(hz="250"), r"hz must be an integer in \[100, 1000\]"),
    (dict(sched_latency_ns=-1.0), r"sched_latency_ns must be a finite number in \[100000.0, "),
    (dict(sched_wakeup_granularity_ns="1ms"), r"sched_wakeup_granularity_ns must be a finite"),
    (dict(base_slice_ns=float("nan")), r"base_slice_ns must be a finite number"),
    (dict(tunable_scaling="sqrt"), r"tunable_scaling must be one of \('none', 'log', 'linear'\)"),
    (dict(gentle_fair_sleepers=1), r"gentle_fair_sleepers must be True or False"),
    (dict(balance_busy_factor=0), r"balance_busy_factor must be an integer in \[1, 1024\]"),
    (dict(kvm={"ple_window": 4096}), r"kvm must be a KVM"),
])
def test_bad_host_values_raise_named_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        Host(**kw)


@pytest.mark.parametrize("kw,match", [
    (dict(vmexit_ns=-1.0), r"vmexit_ns must be a finite number in \[0.0, "),
    (dict(kick_ns="fast"), r"kick_ns must be a finite number"),
    (dict(wake_idle_ns=float("inf")), r"wake_idle_ns must be a finite number"),
    (dict(tsc_ghz=0.0), r"tsc_ghz must be a finite number in \[0.1, 10.0\]"),
    (dict(ple_window=4096.0), r"ple_window must be an integer in \[128, "),
    (dict(ple_window=64), r"ple_window must be an integer in \[128, "),
    (dict(ple_gap=-1), r"ple_gap must be an integer in \[0, 65535\]"),
    (dict(ple_window_grow=0), r"ple_window_grow must be an integer in \[1, 64\]"),
    (dict(ple_window_max=1000), r"ple_window_max must be an integer in \[ple_window \(4096\)"),
    (dict(candidate="running"), r"candidate must be one of \('preempted', 'ready'\)"),
    (dict(preempted_flag="always"), r"preempted_flag must be one of"),
    (dict(kick_yield="yes"), r"kick_yield must be True or False"),
    (dict(esrch_tries=0), r"esrch_tries must be an integer in \[1, 64\]"),
    (dict(halt_poll_ns=-5.0), r"halt_poll_ns must be a finite number in \[0.0, "),
])
def test_bad_kvm_values_raise_named_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        KVM(**kw)


def test_from_dict_refuses_unknown_and_missing_keys():
    with pytest.raises(ValueError, match=r"unknown Host parameter\(s\): \['cpus'\]"):
        Host.from_dict({"cpus": 4})
    with pytest.raises(ValueError, match=r"unknown KVM parameter\(s\): \['ple'\]"):
        Host.from_dict({"kvm": {"ple": 1}})
    with pytest.raises(ValueError, match=r"missing Host parameter\(s\)"):
        Host.from_dict({"pcpus": 4}, complete=True)


# ------------------------------------------------------------------ VMs

def test_vm_lock_names_and_aliases():
    vm = VM("a", 4, lock="pv-qspinlock")
    assert vm.lock == pvqmodel.locks.ALIASES["pv-qspinlock"] and vm.pv
    assert VM("b", 4, lock="qspinlock-v10").lock == "qspinlock"
    assert not VM("c", 4, lock="ticket").pv
    assert VM("d", 4, lock="ticket").workload == Workload()  # a lock without workload
    cpu = VM("bg", 32)
    assert cpu.lock is None and cpu.workload is None and not cpu.pv


@pytest.mark.parametrize("kw,match", [
    (dict(lock="mcs"), r"lock must be one of \[.*'ticket'.*\] \(or an alias"),
    (dict(lock=3), r"lock must be one of"),
    (dict(vcpus=0), r"vcpus must be an integer in \[1, 256\]"),
    (dict(vcpus=300), r"vcpus must be an integer in \[1, 256\]"),
    (dict(name=""), r"name must be 1-64 characters"),
    (dict(name="a b"), r"name must be 1-64 characters"),
    (dict(workload=Workload()), r"workload must be None when lock is None"),
    (dict(lock="ticket", workload={"cs_ns": 2}), r"workload must be a Workload or None"),
    (dict(think="sleep"), r"think must be 'compute' when lock is None"),
    (dict(lock="ticket", think="nap"), r"think must be one of \('compute', 'sleep'\)"),
    (dict(lock="ticket", think_ns=-1.0), r"think_ns must be a finite number in \[0.0, "),
    (dict(lock="ticket", think_dist="gamma"), r"think_dist must be one of"),
    (dict(lock="ticket", ops=0), r"ops must be an integer in \[1, "),
    (dict(placement="spread"), r"placement must be one of \('free', 'pinned'\)"),
    (dict(cpuset=(4, 4)), r"cpuset hi must be an integer in \[5, 256\]"),
    (dict(cpuset=(-1, 4)), r"cpuset lo must be an integer in \[0, 255\]"),
    (dict(cpuset=4), r"cpuset must be None or a pair \(lo, hi\)"),
    (dict(shares=1), r"shares must be an integer in \[2, 262144\]"),
    (dict(tunables=object()), r"tunables must be None when lock is None"),
    (dict(lock="ticket", tunables={"spin_threshold": 4}), r"tunables must be a LockTunables"),
])
def test_bad_vm_values_raise_named_errors(kw, match):
    args = {"name": "vm0", "vcpus": 4, **kw}
    with pytest.raises(ValueError, match=match):
        VM(**args)


def test_vm_tunables_accept_lock_tunables():
    from pvqmodel.sim import LockTunables

    t = LockTunables(spin_threshold=64)
    assert VM("a", 2, lock="pv-ticket", tunables=t).tunables == t


def test_cpuset_must_fit_the_host():
    h = Host(pcpus=16, sockets=2)
    assert VM("a", 4, cpuset=(8, 16)).cpus(h) == (8, 16)
    assert VM("a", 4).cpus(h) == (0, 16)
    with pytest.raises(ValueError, match=r"cpuset of VM 'b' must lie in \[0, pcpus=16\)"):
        h.check_vms([VM("a", 4), VM("b", 4, cpuset=(8, 17))])
    with pytest.raises(ValueError, match=r"VM names must be unique, 'a' appears twice"):
        h.check_vms([VM("a", 4), VM("a", 2)])
    with pytest.raises(ValueError, match=r"vms must be a non-empty list of VM"):
        h.check_vms([])
    with pytest.raises(ValueError, match=r"vms\[1\] must be a VM"):
        h.check_vms([VM("a", 4), "b"])
    assert h.check_vms(VM("a", 4)) == (VM("a", 4),)


def test_vm_derived_think_distribution():
    h = Host(pcpus=8)
    vm = VM("a", 4, lock="ticket", think_ns=16000.0, think_dist="lognormal", think_cv=0.5,
            think="sleep", placement="pinned", cpuset=(2, 6))
    d = vm.derived(h)
    # a lognormal with these parameters has mean exp(mu + sigma^2 / 2) and
    # cv sqrt(exp(sigma^2) - 1): the stated think_ns and think_cv
    assert math.exp(d["think_mu"] + d["think_sigma"] ** 2 / 2) == pytest.approx(16000.0)
    assert math.sqrt(math.exp(d["think_sigma"] ** 2) - 1) == pytest.approx(0.5)
    assert (d["think_dist"], d["think_sleep"], d["pinned"], d["cpuset_lo"], d["cpuset_hi"],
            d["ops"], d["shares"]) == (2, 1, 1, 2, 6, -1, 1024)
    assert all(type(v) in (int, float) for v in d.values())


def test_building_hosts_and_vms_does_not_import_numba():
    code = ("import sys, pvqmodel; h = pvqmodel.Host.preset('westmere-3.19'); "
            "h.check_vms([pvqmodel.VM('a', 8, lock='pv-ticket'), pvqmodel.VM('bg', 8)]); "
            "h.derived(); print('numba' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip() == "False", p.stderr
