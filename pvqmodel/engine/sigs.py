"""Numba types for the explicit signatures of the engine's small helpers.

numba types a constant argument as ``Literal[int]`` and compiles a called function once
per combination of constant values at its call sites: ``act_mem`` (state.py), called
with constant opcodes, masks and next-pc values, had 102 specializations, ``ent``
(fair.py) 30, and the engine a cold compile of 74 s (issue 12). ``inline='always'``
avoided that, but re-typed the helper at each of ~870 call sites. A helper with an
explicit signature compiles once (eagerly, at import, from numba's cache when warm);
a constant converts to the declared type at the call, and LLVM still inlines such a
small function into its callers, so the engine runs as fast as before. The arrays are
the kernel's: C-contiguous, int64 or float64, one or two dimensions."""

from __future__ import annotations

from numba import types

i8 = types.int64
f8 = types.float64
b1 = types.boolean
void = types.void
I1 = types.int64[::1]
F1 = types.float64[::1]
I2 = types.int64[:, ::1]
F2 = types.float64[:, ::1]

#: numba options of every engine function that only jitted code calls: cached, compiled
#: without NRT (kernel.py), and without the CPython and C wrappers numba otherwise builds
#: for each function (argument unboxing and boxing code, lowered, optimised and cached
#: although nothing calls it; for functions of a dozen array arguments it is a large part
#: of their compile: without them the cold compile takes 3-4 s less on two cores, of
#: ~28, and its main process ~90 MB less memory, issue 12). The machine code the kernel
#: runs is the same. The functions that Python calls (the kernel's two entry points, and
#: the helpers the tests exercise directly) keep the wrappers: ``cache=True,
#: _nrt=False``; calling a wrapper-less one from Python would crash the interpreter, and
#: tests/test_engine_nrt.py scans the package, tests and notebooks for such a call.
#: ``no_cpython_wrapper`` and ``no_cfunc_wrapper`` are numba target options without a
#: public page, like ``_nrt``: the same test fails if numba stops honouring them.
INNER = dict(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
