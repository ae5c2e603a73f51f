"""Symbols of the compiled engine for Linux ``perf``: without them a profile of a run shows
one anonymous block of JIT code. :func:`write_perf_map` writes ``/tmp/perf-<pid>.map``
(perf's format for JIT code: start, size, name, one function a line), naming every
compiled function of the engine and the locks, so that ``perf report`` splits the time
between the kernel (``kernel.run_replication``, where the ``forceinline`` helpers and
the event core live) and the functions it calls (the lock steps, the hypervisor's
PLE exit, ...). Set ``PVQMODEL_PERF_MAP=1`` and :func:`pvqmodel.engine.ensure_compiled`
writes it once the kernel is loaded::

    PVQMODEL_PERF_MAP=1 perf record -e cpu-clock -g python -m pvqmodel simulate ...
    perf report --sort sym

numba does not say how long a loaded function is, so each entry runs to the next
function's start (at most 1 MiB): a sample in code numba did not name (its runtime
helpers) is counted to the function before it. Used in issue 12 to find where the
cost per event grows from 8 to 256 vCPUs (samples by offset inside the kernel)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: the longest extent given to one function (the last one, or one far from the next)
MAX_SIZE = 1 << 20


def engine_functions() -> list[tuple[int, str]]:
    """(entry address, ``module.function``) of every compiled function of the engine and
    the locks in this process, sorted by address; empty before the engine is loaded."""
    from numba.core.registry import CPUDispatcher
    rows = set()
    for name, mod in list(sys.modules.items()):
        if not name.startswith(("pvqmodel.engine.", "pvqmodel.locks.")):
            continue
        for attr, obj in list(vars(mod).items()):
            if not isinstance(obj, CPUDispatcher) or obj.py_func.__module__ != name:
                continue  # (each function once: under the module that defines it)
            for cres in list(obj.overloads.values()):
                addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
                if addr:
                    rows.add((int(addr), f"{name.rsplit('.', 1)[1]}.{attr}"))
    return sorted(rows)


def write_perf_map(directory: str | os.PathLike = "/tmp") -> Path:
    """Write ``perf-<pid>.map`` in ``directory`` (perf reads ``/tmp``) for the engine's
    compiled functions (:func:`engine_functions`) and return its path."""
    rows = engine_functions()
    path = Path(directory) / f"perf-{os.getpid()}.map"
    with open(path, "w") as f:
        for k, (addr, name) in enumerate(rows):
            nxt = rows[k + 1][0] if k + 1 < len(rows) else addr + MAX_SIZE
            f.write(f"{addr:x} {min(nxt - addr, MAX_SIZE):x} {name}\n")
    return path
