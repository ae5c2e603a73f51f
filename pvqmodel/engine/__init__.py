"""The numba Monte Carlo engine: event core (core.py), state layout (state.py),
cache-coherence cost model (coherence.py), spin-parking (spin.py) and the
replication kernel (kernel.py). The Python front-end is :mod:`pvqmodel.sim`."""

from __future__ import annotations

from pathlib import Path


def clear_numba_cache() -> int:
    """Delete this package's cached numba objects (after editing shared constants:
    numba does not notice changes to symbols imported from another file)."""
    root = Path(__file__).resolve().parent.parent
    n = 0
    for p in list(root.rglob("__pycache__/*.nbi")) + list(root.rglob("__pycache__/*.nbc")):
        p.unlink()
        n += 1
    return n
