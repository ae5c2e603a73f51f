"""The engine's compile options (engine/sigs.py ``INNER``, kernel.py), and that numba
honours them.

- No NRT: every jitted function in pvqmodel.engine and pvqmodel.locks asks for
  ``_nrt=False``, and the machine code of the two entry points (with everything they
  call linked in) references no NRT symbol. This fails loudly if numba stops honouring
  the private ``_nrt`` option (the supported numba range is pinned in pyproject.toml)
  or if someone adds an allocation or a jitted function compiled with NRT.
- No wrappers: a function compiled with ``no_cpython_wrapper`` has no CPython entry, so
  calling it from Python crashes the interpreter (numba does not check). Every function
  Python calls keeps its wrapper: a scan of the package, the tests and the notebooks
  finds no Python-level call of a wrapper-less engine function.
- ``forceinline``: LLVM inlines such a function into its callers (no call instruction
  is left), which is what keeps the event loop's hot path one function."""

import ast
import importlib
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

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


def _wrapperless() -> dict[str, list[str]]:
    """Name -> modules of every engine or lock function compiled without wrappers."""
    out: dict[str, list[str]] = {}
    for name, d in _dispatchers():
        if d.targetoptions.get("no_cpython_wrapper"):
            mod, fn = name.rsplit(".", 1)
            out.setdefault(fn, []).append(mod)
    return out


def _jitted(node) -> bool:
    return any("njit" in ast.unparse(d) or "jit(" in ast.unparse(d)
               for d in getattr(node, "decorator_list", []))


def _python_calls(tree):
    """(line, called name) of every call outside jitted functions, with its callee
    as written: ``f(...)`` -> f, ``mod.f(...)`` -> (mod, f)."""
    out = []

    def visit(node, in_jit):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_jit = in_jit or _jitted(node)
        if isinstance(node, ast.Call) and not in_jit:
            f = node.func
            if isinstance(f, ast.Name):
                out.append((node.lineno, None, f.id))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                out.append((node.lineno, f.value.id, f.attr))
        for child in ast.iter_child_nodes(node):
            visit(child, in_jit)

    visit(tree, False)
    return out


def _engine_imports(tree, package: str | None):
    """alias -> module name (``from pvqmodel.engine import core as c``) and
    alias -> (module, name) (``from pvqmodel.engine.core import tm_pop``)."""
    mods, names = {}, {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            if package is None:
                continue
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        if not base.startswith(("pvqmodel.engine", "pvqmodel.locks")) and base != "pvqmodel":
            continue
        for a in node.names:
            if isinstance(getattr(importlib.import_module(base), a.name, None), ModuleType):
                mods[a.asname or a.name] = f"{base}.{a.name}"
            else:
                names[a.asname or a.name] = (base, a.name)
    return mods, names


def test_no_python_call_of_a_wrapperless_function():
    root = Path(__file__).resolve().parents[1]
    bad = _wrapperless()
    assert "dispatch" in bad and "apply_effect" in bad  # the scan knows what to look for
    files = sorted(root.glob("pvqmodel/**/*.py")) + sorted(root.glob("tests/*.py")) \
        + sorted(root.glob("notebooks/*.py"))
    found = []
    for path in files:
        tree = ast.parse(path.read_text())
        rel = path.relative_to(root).with_suffix("")
        package = ".".join(rel.parts[:-1]) if rel.parts[0] == "pvqmodel" else None
        mods, names = _engine_imports(tree, package)
        if package and package.startswith(("pvqmodel.engine", "pvqmodel.locks")):
            own = f"{package}.{rel.name}"
            names.update({fn: (own, fn) for fn, ms in bad.items() if own in ms})
        for line, obj, attr in _python_calls(tree):
            if obj is None and attr in names:
                mod, fn = names[attr]
            elif obj in mods:
                mod, fn = mods[obj], attr
            else:
                continue
            if mod in bad.get(fn, ()):
                found.append(f"{path.relative_to(root)}:{line}: {fn} ({mod})")
    assert found == [], ("Python calls of engine functions compiled without a CPython "
                         "wrapper (they would crash the interpreter): call them from a "
                         "jitted function, or compile them with cache=True, _nrt=False: "
                         + "; ".join(found))


def test_forceinline_and_no_wrapper_are_honoured():
    """numba's ``forceinline`` leaves no call to the function in its caller's machine
    code, and ``no_cpython_wrapper`` / ``no_cfunc_wrapper`` leave no wrapper in its
    library (a function compiled with the defaults has both)."""
    from numba import njit

    from pvqmodel.engine.sigs import INNER

    # a body large enough that LLVM's own heuristics would not inline it
    body = "".join(f"    if a[i] > {k}.5:\n        a[i] = a[i] * 0.5 + {k}.0\n"
                   for k in range(60))
    ns: dict = {}
    exec(f"def forced(a, i):\n{body}\ndef called(a, i):\n{body}", ns)
    opts = dict(INNER, cache=False)  # exec'd source: nothing for numba's cache to key on
    forced = njit(**opts, forceinline=True)(ns["forced"])
    called = njit(**opts)(ns["called"])

    @njit(_nrt=False)
    def caller(a):
        for i in range(a.shape[0]):
            forced(a, i)
            called(a, i)

    a = np.full(4, 100.0)
    caller(a)
    b = np.full(4, 100.0)
    for i in range(4):
        ns["forced"](b, i)
        ns["called"](b, i)
    assert a.tolist() == b.tolist()
    asm = caller.inspect_asm(caller.signatures[0])
    calls = [ln for ln in asm.splitlines() if "call" in ln.split("#")[0]]
    assert not any("forced" in c for c in calls), calls
    assert any("called" in c for c in calls), "without forceinline it stays a call"
    def wrappers(fn):  # numba names them _ZN7cpython... and cfunc._ZN...
        defined = re.findall(r"^define [^@]*@\"?([^\s(\"]+)", fn.inspect_llvm(fn.signatures[0]),
                             re.M)
        return [d for d in defined if d.startswith(("_ZN7cpython", "cfunc."))]

    assert wrappers(forced) == [] and wrappers(called) == []
    assert len(wrappers(caller)) == 2


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
