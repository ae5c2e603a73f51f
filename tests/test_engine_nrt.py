"""The engine is compiled without numba's reference-counting runtime (NRT): every
jitted function in pvqmodel.engine and pvqmodel.locks asks for ``_nrt=False``, and the
machine code of the two entry points (with everything they call linked in) references
no NRT symbol. This fails loudly if numba stops honouring the private ``_nrt`` option
(the supported numba range is pinned in pyproject.toml) or if someone adds an
allocation or a jitted function compiled with NRT."""

import importlib
import pkgutil
import sys
from pathlib import Path

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

import pvqmodel.engine
import pvqmodel.locks
from pvqmodel import Schedule, simulate
from pvqmodel.engine import kernel

NRT_SYMBOLS = (b"NRT_incref", b"NRT_decref", b"NRT_MemInfo", b"NRT_")


def _dispatchers():
    for pkg in (pvqmodel.engine, pvqmodel.locks):
        for m in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{m.name}")
            for name, obj in vars(mod).items():
                if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                    yield f"{mod.__name__}.{name}", obj


def test_every_engine_function_is_compiled_without_nrt():
    found = dict(_dispatchers())
    assert len(found) > 80  # the engine and the seven locks
    with_nrt = [name for name, d in found.items() if d.targetoptions.get("_nrt") is not False]
    assert with_nrt == []


def _ir(disp, sig) -> bytes | None:
    """The LLVM IR of ``disp`` for ``sig`` with the functions it calls linked in, if this
    process compiled it (numba disables IR inspection for code loaded from its cache)."""
    lib = disp.overloads[sig].library
    if getattr(lib, "_disable_inspection", False):
        return None
    return disp.inspect_llvm(sig).encode()


def _cached(disp) -> list[bytes]:
    """numba's on-disk cache entries of ``disp`` (what a later process loads: the object
    code of the function, its callees and its Python wrapper, and the bitcode)."""
    root = Path(numba.config.CACHE_DIR)
    return [p.read_bytes() for p in sorted(root.rglob(f"kernel.{disp.__name__}-*.nbc"))]


def test_entry_points_reference_no_nrt_symbol():
    simulate("pv-qspinlock-v10", 2, 5, reps=1, trace=4)  # compile or load both
    for disp, callee in ((kernel.init_replication, b"hv_init"),
                         (kernel.run_replication, b"hv_halt")):
        assert disp.targetoptions.get("_nrt") is False
        assert disp.signatures, disp
        codes = [("cache", c) for c in _cached(disp)]
        assert codes, f"no numba cache entry for {disp.__name__} under {numba.config.CACHE_DIR}"
        codes += [("ir", c) for c in map(lambda s: _ir(disp, s), disp.signatures) if c]
        for kind, code in codes:
            # a real body, not a placeholder: the callees are linked in
            assert len(code) > 50_000 and disp.__name__.encode() in code
            assert callee in code
            hits = [s.decode() for s in NRT_SYMBOLS if s in code]
            assert hits == [], f"{disp.__name__} ({kind}): NRT symbols {hits}"


def test_the_check_sees_nrt_when_it_is_there():
    """The same check on a function compiled with NRT finds its symbols (so an empty or
    unreadable code blob cannot pass the test above by accident)."""
    @numba.njit
    def with_nrt(a):
        return a[1:].sum()

    with_nrt(np.arange(4.0))
    code = _ir(with_nrt, with_nrt.signatures[0])
    assert b"NRT_decref" in code or b"NRT_incref" in code


def test_kernel_calls_leak_no_reference(monkeypatch):
    """Without NRT nothing releases what a wrapper's argument unboxing retains: the
    kernels take the bit generator (a ``Generator`` argument would keep one reference per
    call). Many chunks, then the generator and its bit generator hold only the
    references they held before."""
    from pvqmodel import sim as simmod

    seen = []
    run_one = simmod.run_one

    def counted(lock_id, module, n, K, P, LP, sock, rng, *args):
        before = sys.getrefcount(rng), sys.getrefcount(rng.bit_generator)
        S = run_one(lock_id, module, n, K, P, LP, sock, rng, *args)
        seen.append((before, (sys.getrefcount(rng), sys.getrefcount(rng.bit_generator))))
        return S

    monkeypatch.setattr(simmod, "run_one", counted)
    simulate("pv-qspinlock-v10", 4, 300, reps=2, chunk_events=200,
             schedule=Schedule(overcommit=2, quantum_ns=1e4))
    assert len(seen) == 2
    for before, after in seen:
        assert after == before
