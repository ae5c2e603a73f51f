"""pvqmodel: performance models of para-virtualized spinlocks in Linux.

The curated public API (QuantEcon style): the measured data, the analytical queueing
models and their fits, the Monte Carlo engine's front-end (``simulate``, its parameter
objects, calibration and the engine-vs-table comparison), and the exhaustive check of
the v10 wake-up handshake. Submodules hold the implementation; the SimPy reference
model (``pvqmodel.reference``) and the benchmark (``pvqmodel.bench``) need the ``dev``
extra and are not imported here.
"""

__version__ = "0.1.0"

from . import queueing
from .calibrate import calibrate, engine_table
from .data import SEED_OPS_PER_TASK, seed_table, verify_raw_checksums
from .fit import AnalyticFit, fit_analytic
from .handshake import explore_v10_handshake, replay_v10_handshake
from .params import Hardware, Workload
from .sim import SimResult, SimulationError, simulate

__all__ = [
    "AnalyticFit",
    "Hardware",
    "SimResult",
    "SimulationError",
    "Workload",
    "calibrate",
    "engine_table",
    "SEED_OPS_PER_TASK",
    "explore_v10_handshake",
    "fit_analytic",
    "queueing",
    "replay_v10_handshake",
    "seed_table",
    "simulate",
    "verify_raw_checksums",
]
