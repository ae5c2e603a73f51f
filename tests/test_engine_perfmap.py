"""The perf map of the compiled engine (engine/perfmap.py): every entry is a function of
the engine or the locks, the kernel among them, the entries do not overlap, and each
starts in executable memory of this process (read from /proc/self/maps), so that perf
can attribute samples to them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pvqmodel.engine import ensure_compiled
from pvqmodel.engine.perfmap import MAX_SIZE, engine_functions, write_perf_map

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="perf maps and /proc/self/maps are Linux's")


def _executable_ranges():
    out = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, perms = line.split()[:2]
        if "x" in perms:
            lo, hi = (int(x, 16) for x in span.split("-"))
            out.append((lo, hi))
    return out


def test_perf_map_names_the_kernel_in_executable_memory(tmp_path):
    ensure_compiled(stream=False)
    path = write_perf_map(tmp_path)
    assert path.name.startswith("perf-") and path.suffix == ".map"
    rows = [line.split() for line in path.read_text().splitlines()]
    entries = [(int(a, 16), int(s, 16), name) for a, s, name in rows]
    names = {name for _, _, name in entries}
    assert {"kernel.run_replication", "kernel.init_replication"} <= names
    assert any(name.startswith("ticket.") for name in names)  # the locks' functions too
    assert len(entries) == len(engine_functions())
    ex = _executable_ranges()
    for (a, s, name), nxt in zip(entries, entries[1:] + [None], strict=True):
        assert 0 < s <= MAX_SIZE
        if nxt is not None:
            assert a + s <= nxt[0], name  # no overlap: each sample has one owner
        assert any(lo <= a < hi for lo, hi in ex), name  # the entry is machine code here
