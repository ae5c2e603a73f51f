"""The numba Monte Carlo engine: event core (core.py), state layout (state.py),
cache-coherence cost model (coherence.py), spin-parking (spin.py), hypervisor
(hypervisor.py), allocation-free random draws (rand.py), the numba types of the small
helpers' explicit signatures (sigs.py) and the replication kernel (kernel.py), all
compiled without numba's NRT (see kernel.py); perfmap.py names the compiled functions
for Linux ``perf``. The Python front-end is :mod:`pvqmodel.sim`. This file owns the
engine's compiled code: numba's on-disk cache, keyed by a hash of the engine and lock
sources and numba's version, and :func:`ensure_compiled`, which says so before the
first (cold) compile and then compiles, so that progress bars start after it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from pathlib import Path

import numba

#: Cold compile of the kernel, printed as the estimate by :func:`ensure_compiled`. Measured
#: on the project's 2-core machine (2026-11, whole cold-cache process): 25-27 s of wall
#: time on two cores (precompile.py), 45 s on one (:data:`COMPILE_SECONDS_ONE_CORE`),
#: since the hot helpers are inlined by LLVM (``forceinline``) instead of numba and the
#: internal functions have no wrappers (sigs.py ``INNER``); 40 s (39.7-43.4 s) and
#: 55 s before, with numba's ``inline='always'``, since the coherence mechanisms of
#: issue 16; 35 s before those, 78 s before the small helpers got explicit signatures
#: (sigs.py), 53 s for the first NRT-free build and 57-62 s for the NRT build
#: (``pvqmodel bench --only compile``). Slower when other jobs share the cores.
COMPILE_SECONDS_ESTIMATE = 30
COMPILE_SECONDS_ONE_CORE = 50


def source_hash() -> str:
    """Hash of the engine and lock sources and of the compiler's versions (numba,
    llvmlite): keys the numba cache directory. With the sources only, a cache written
    by another numba was reused after an upgrade or a downgrade, and the kernel built
    from it ran 46 % slower until the cache was cleared (ticket, N = 8, dedicated: 61
    against 42 ns per event; numba 0.68.1's cache under 0.68.0), with the same results."""
    import llvmlite
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    h.update(f"numba {numba.__version__} llvmlite {llvmlite.__version__}".encode())
    for sub in ("engine", "locks"):
        for p in sorted((root / sub).glob("*.py")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _source_keyed_cache_dir() -> None:
    """Point numba's on-disk cache at a directory keyed by a hash of the engine and lock
    sources and numba's and llvmlite's versions (:func:`source_hash`). numba keys a
    cached function by its own file's timestamp only, so an edit to a constant or an
    inlined helper in another file (state.py, say) would otherwise leave stale machine
    code in use. Respects a user-set ``NUMBA_CACHE_DIR``."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    root = Path(__file__).resolve().parent.parent
    cache = root / "__pycache__" / f"numba-{source_hash()}"
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


_compile_lock = threading.Lock()
_ready = False


def kernel_cache_is_warm() -> bool:
    """True if numba's on-disk cache holds the kernel's entry points (their index files,
    ``kernel.init_replication-*.nbi`` and ``kernel.run_replication-*.nbi``, under
    ``numba.config.CACHE_DIR``): loading them takes seconds, not a compile."""
    root = Path(numba.config.CACHE_DIR or "")
    if not numba.config.CACHE_DIR or not root.is_dir():
        return False
    return all(any(root.rglob(f"kernel.{name}-*.nbi"))
               for name in ("init_replication", "run_replication"))


def ensure_compiled(stream=None) -> bool:
    """Compile (or load from numba's cache) the engine kernel now, once per process.

    If the kernel is not loaded yet and its on-disk cache is cold, first print one line
    to ``stream`` (default ``sys.stderr``; ``False``: silent): "pvqmodel: compiling the
    engine once, about N s (cached afterwards)", N = :data:`COMPILE_SECONDS_ESTIMATE`
    (:data:`COMPILE_SECONDS_ONE_CORE` with one core).
    On a cold cache, compile the kernel's large callees on two cores
    (precompile.py). Then run the smallest simulation. Warm cache or already loaded:
    silent. Called by :func:`pvqmodel.simulate` and before every progress bar that runs
    the engine.
    Thread-safe (other threads wait for the one compile). Returns True if it compiled
    from a cold cache."""
    global _ready
    if _ready:
        return False
    with _compile_lock:
        if _ready:
            return False
        loaded = sys.modules.get(f"{__name__}.kernel")
        if (loaded is not None and loaded.run_replication.signatures
                and loaded.init_replication.signatures):
            _ready = True
            return False
        cold = not kernel_cache_is_warm()
        if cold and stream is not False:
            # before importing the kernel: that compiles the small helpers (sigs.py)
            out = sys.stderr if stream is None else stream
            from .precompile import helper_cores
            est = COMPILE_SECONDS_ESTIMATE if helper_cores() > 1 else COMPILE_SECONDS_ONE_CORE
            print(f"pvqmodel: compiling the engine once, about {est} s "
                  "(cached afterwards)", file=out, flush=True)
        _ready = True  # simulate() calls ensure_compiled(): let it through
        try:
            if cold:
                from .precompile import compile_in_parallel
                compile_in_parallel()  # the kernel's callees, on two cores
            # the front-end (pandas) only now: not resident while the helper runs
            from ..params import Hardware, Workload
            from ..sim import simulate
            simulate("ticket", 1, 1, hardware=Hardware(), workload=Workload(), reps=1,
                     trace=1)
        except BaseException:
            _ready = False
            raise
        if os.environ.get("PVQMODEL_PERF_MAP", "") not in ("", "0"):
            from .perfmap import write_perf_map
            write_perf_map()  # symbols for Linux perf (perfmap.py)
        return cold
