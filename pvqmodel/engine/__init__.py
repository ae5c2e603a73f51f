"""The numba Monte Carlo engine: event core (core.py), state layout (state.py),
cache-coherence cost model (coherence.py), spin-parking (spin.py) and the
replication kernel (kernel.py). The Python front-end is :mod:`pvqmodel.sim`."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numba


def _source_keyed_cache_dir() -> None:
    """Point numba's on-disk cache at a directory keyed by a hash of the engine and lock
    sources. numba keys a cached function by its own file's timestamp only, so an edit
    to a constant or an inlined helper in another file (state.py, say) would otherwise
    leave stale machine code in use. Respects a user-set ``NUMBA_CACHE_DIR``."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for sub in ("engine", "locks"):
        for p in sorted((root / sub).glob("*.py")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    cache = root / "__pycache__" / f"numba-{h.hexdigest()[:16]}"
    if not cache.exists() and cache.parent.exists():
        for old in cache.parent.glob("numba-*"):  # earlier sources: never used again
            shutil.rmtree(old, ignore_errors=True)
    numba.config.CACHE_DIR = str(cache)


_source_keyed_cache_dir()


def clear_numba_cache() -> int:
    """Delete this package's cached numba objects (after editing shared constants:
    numba does not notice changes to symbols imported from another file)."""
    root = Path(__file__).resolve().parent.parent
    n = 0
    for p in list(root.rglob("__pycache__/**/*.nbi")) + list(root.rglob("__pycache__/**/*.nbc")):
        p.unlink()
        n += 1
    return n
