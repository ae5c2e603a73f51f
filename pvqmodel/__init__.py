"""pvqmodel: performance models of para-virtualized spinlocks in Linux.

The curated public API (QuantEcon style): the measured data, the analytical queueing
models and their fits, the Monte Carlo engine's front-end (``simulate``, its parameter
objects, calibration and the engine-vs-table comparison), the PV layer's schedule and
studies, the exhaustive check of the v10 wake-up handshake and the timed hunt.
Submodules hold the implementation; the SimPy reference model
(``pvqmodel.reference``) and the benchmark (``pvqmodel.bench``) need the ``dev`` extra
and are not imported here.
"""

__version__ = "0.1.0"

from . import queueing
from .calibrate import calibrate, calibrate_pv, engine_table
from .data import SEED_OPS_PER_TASK, seed_table, verify_raw_checksums
from .engine import ensure_compiled
from .fit import AnalyticFit, fit_analytic
from .handshake import explore_v10_handshake, replay_v10_handshake
from .hunt import HuntResult, hunt, hunt_sweep
from .params import Hardware, Schedule, Workload
from .sim import LockTunables, SimResult, SimulationError, simulate
from .study import ple_study, pv_lock_study

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
    "queueing",
    "replay_v10_handshake",
    "seed_table",
    "simulate",
    "verify_raw_checksums",
]
