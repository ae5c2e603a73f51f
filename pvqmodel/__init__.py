"""pvqmodel: performance models of para-virtualized spinlocks in Linux.

The curated public API (QuantEcon style): the measured data, the analytical queueing
models and their fits, the Monte Carlo engine's front-end (``simulate``, its parameter
objects, calibration and the engine-vs-table comparison), the PV layer's schedule and
studies, the exhaustive check of the v10 wake-up handshake and the timed hunt, and the
host's parameters (``Host``, ``KVM``, ``VM`` and the host presets), ``simulate_host``
(several VMs on a host scheduled like Linux and KVM) and the host study; sweeps of
host scenarios on dask.distributed (``sweep``, ``sweep_results``, ``load_spec``), the
named workloads and the overcommit study's table.
Submodules hold the implementation; the SimPy reference model
(``pvqmodel.reference``) and the benchmark (``pvqmodel.bench``) need the ``dev`` extra
and are not imported here.
"""

__version__ = "0.1.0"

import sys
import types

# The public names, imported on first use (PEP 562) so that ``pvqmodel --help`` and
# light submodules (paths, outputs, params) do not pay for numba, scipy and pandas.
_LAZY = {
    "queueing": None,
    "calibrate": "calibrate", "calibrate_pv": "calibrate", "engine_table": "calibrate",
    "qspinlock_418_table": "calibrate", "pv_generations_table": "calibrate",
    "SEED_OPS_PER_TASK": "data", "seed_table": "data", "verify_raw_checksums": "data",
    "AnalyticFit": "fit", "fit_analytic": "fit", "ensure_compiled": "engine",
    "explore_v10_handshake": "handshake", "replay_v10_handshake": "handshake",
    "HuntResult": "hunt", "hunt": "hunt", "hunt_sweep": "hunt",
    "Hardware": "params", "Schedule": "params", "Workload": "params",
    "LockTunables": "sim", "SimResult": "sim", "SimulationError": "sim", "simulate": "sim",
    "ple_study": "study", "pv_lock_study": "study",
    "Host": "host", "KVM": "host", "VM": "host",
    "host_study": "hoststudy", "host_cost_sweep": "hoststudy",
    "simulate_host": "hostsim", "HostResult": "hostsim", "fair_pcpus": "hostsim",
    "VMSpec": "sim", "simulate_vms": "sim",
    "sweep": "sweeps", "sweep_results": "sweeps", "load_spec": "sweeps", "SweepSpec": "sweeps",
    "overcommit_table": "overcommit", "WORKLOADS": "workloads",
}


class _Package(types.ModuleType):
    """Keeps ``pvqmodel.calibrate`` and ``pvqmodel.hunt`` the functions, as the eager
    imports used to: importing a submodule of the same name (``import pvqmodel.hunt``)
    makes the import system bind the module over the package attribute."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    if _LAZY[name] is None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # cache: later look-ups do not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AnalyticFit",
    "Hardware",
    "HuntResult",
    "LockTunables",
    "Schedule",
    "SimResult",
    "SimulationError",
    "Workload",
    "calibrate",
    "calibrate_pv",
    "engine_table",
    "ensure_compiled",
    "SEED_OPS_PER_TASK",
    "explore_v10_handshake",
    "fit_analytic",
    "hunt",
    "hunt_sweep",
    "ple_study",
    "pv_lock_study",
    "qspinlock_418_table",
    "pv_generations_table",
    "queueing",
    "replay_v10_handshake",
    "seed_table",
    "simulate",
    "verify_raw_checksums",
    "Host",
    "KVM",
    "VM",
    "host_study",
    "host_cost_sweep",
    "simulate_host",
    "HostResult",
    "fair_pcpus",
    "VMSpec",
    "simulate_vms",
    "sweep",
    "sweep_results",
    "load_spec",
    "SweepSpec",
    "overcommit_table",
    "WORKLOADS",
]
