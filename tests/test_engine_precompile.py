"""The cold compile's helper process (engine/precompile.py) compiles the kernel's large
callees with the argument types the kernel passes them: if a call in the kernel changed
its types, the kernel would compile a second specialization of that function and the
helper's work would be wasted (slower cold compiles, never wrong results). numba's
cache writes one ``.nbc`` file per specialization, so after the kernel and the groups
have both been compiled (or loaded), each function must have exactly one."""

from pathlib import Path

import numba

from pvqmodel import simulate
from pvqmodel.engine import precompile


def _cached_specializations(disp) -> list[Path]:
    mod = disp.py_func.__module__.rsplit(".", 1)[-1]
    root = Path(numba.config.CACHE_DIR)
    return sorted(root.rglob(f"{mod}.{disp.__name__}-*.nbc"))


def test_groups_cover_distinct_functions():
    g = precompile.groups()
    assert set(g) == {"main", "helper", "kernel"}
    funcs = [d for name in g for d, _ in g[name]]
    assert len(funcs) == len(set(funcs)) > 10
    assert all(len(sig) == d.py_func.__code__.co_argcount for name in g for d, sig in g[name])


def test_precompiled_signatures_are_the_ones_the_kernel_uses():
    # the kernel, with every lock and the host (compiled or loaded from the cache)
    simulate("pv-qspinlock-v10", 2, 5, reps=1)
    for name in precompile.groups():
        # loads from the cache if the kernel compiled these signatures; else compiles a
        # second specialization, which the check below sees
        precompile.compile_group(name)
    for name, funcs in precompile.groups().items():
        for disp, _ in funcs:
            files = _cached_specializations(disp)
            assert len(files) == 1, (name, disp.__name__, [f.name for f in files])


def test_cache_directory_changes_with_the_compiler_version(monkeypatch):
    """numba's cache is keyed by the sources and by numba's and llvmlite's versions: a
    cache written by numba 0.68.1 and loaded by 0.68.0 gave a kernel 46 % slower
    (ticket, N = 8, dedicated: 61 against 42 ns per event), until recompiled."""
    import llvmlite
    import numba

    from pvqmodel.engine import source_hash
    base = source_hash()
    assert source_hash() == base  # (deterministic)
    monkeypatch.setattr(numba, "__version__", numba.__version__ + "+other")
    assert source_hash() != base
    monkeypatch.undo()
    monkeypatch.setattr(llvmlite, "__version__", llvmlite.__version__ + "+other")
    assert source_hash() != base
