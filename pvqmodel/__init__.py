"""pvqmodel: performance models of para-virtualized spinlocks in Linux.

The curated public API (QuantEcon style): the measured data, the analytical queueing
models and their fits, and the figure builders. Submodules hold the implementation.
"""

__version__ = "0.1.0"

from . import queueing
from .data import SEED_OPS_PER_TASK, seed_table, verify_raw_checksums
from .fit import AnalyticFit, fit_analytic
from .handshake import explore_v10_handshake, replay_v10_handshake

__all__ = [
    "AnalyticFit",
    "SEED_OPS_PER_TASK",
    "explore_v10_handshake",
    "fit_analytic",
    "queueing",
    "replay_v10_handshake",
    "seed_table",
    "verify_raw_checksums",
]
