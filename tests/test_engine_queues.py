"""The lines' queues of waiting requests share one pool, ``Q`` (engine/coherence.py): a
full queue moves to a segment of twice its room, and a full half of the pool is copied,
queue by queue and in order, to the other half. The engine's random pick of the next
request is by position in the queue, so a copy that changed any queue's order would
change the run.

Against a naive oracle (a Python list per line; push appends, take(j) removes position
j and puts the last in its place), STUMPY-style: random pushes and takes on a few lines,
never more requests waiting than there are request rows, in a pool only as large as the
bound the copy relies on (each half QUEUE_MIN x lines + 2 x requests: half the size the
engine allocates), so that its halves fill and are copied again and again. And the line
state no longer grows as N^2 (each line's row held room for every request)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from pvqmodel.engine import coherence as co
from pvqmodel.sim import LOCKS, _alloc


@njit(cache=True)
def _drive(L, Q, line, take, j, got, half):
    """Apply the operations: push request k (``take[k] == 0``) or take position
    ``j[k]`` of ``line[k]``'s queue (``got[k]``: the request taken); ``half[k]``: the
    half of the pool in use after operation k."""
    for k in range(line.shape[0]):
        if take[k] == 0:
            co.queue_push(L, Q, line[k], k)
        else:
            got[k] = co.queue_take(L, Q, line[k], j[k])
        half[k] = Q[co.Q_HALF]


def _ops(rng, n_lines, n_requests, n_ops):
    """Random operations and the oracle's answers: queues that fill up to every request
    row and drain again, in waves, so that they outgrow their room many times."""
    queues = [[] for _ in range(n_lines)]
    line = np.zeros(n_ops, np.int64)
    take = np.zeros(n_ops, np.int64)
    j = np.zeros(n_ops, np.int64)
    want = np.full(n_ops, -1, np.int64)
    waiting = 0
    for k in range(n_ops):
        p_push = 0.9 if (k // (2 * n_requests)) % 2 == 0 else 0.1  # fill, then drain
        if waiting < n_requests and (waiting == 0 or rng.random() < p_push):
            line[k] = rng.integers(n_lines) if rng.random() < 0.5 else 0  # line 0: hot
            queues[line[k]].append(k)
            waiting += 1
        else:
            line[k] = rng.choice([i for i in range(n_lines) if queues[i]])
            q = queues[line[k]]
            take[k], j[k] = 1, rng.integers(len(q))
            want[k] = q[j[k]]
            q[j[k]] = q[-1]
            q.pop()
            waiting -= 1
    return line, take, j, want, queues


@pytest.mark.parametrize("seed", range(4))
def test_queue_pool_matches_naive_queues_through_many_copies(seed):
    rng = np.random.default_rng(seed)
    n_lines, n_requests = int(rng.integers(1, 8)), int(rng.integers(8, 80))
    L = np.zeros((n_lines, co.NL), np.int64)
    Q = np.zeros(co.NQH + 2 * (co.QUEUE_MIN * n_lines + 2 * n_requests), np.int64)
    Q[co.Q_TOP] = Q[co.Q_HALF] = co.NQH
    line, take, j, want, queues = _ops(rng, n_lines, n_requests, 20000)
    got = np.full(line.shape[0], -1, np.int64)
    half = np.zeros(line.shape[0], np.int64)
    _drive(L, Q, line, take, j, got, half)
    np.testing.assert_array_equal(got, want)  # every take, in the oracle's order
    for i in range(n_lines):
        off, q = L[i, co.L_QOFF], L[i, co.L_QLEN]
        assert q <= L[i, co.L_QCAP]
        assert Q[off:off + q].tolist() == queues[i]
    assert np.count_nonzero(np.diff(half)) >= 5  # the halves were copied, many times


def test_line_state_no_longer_holds_a_queue_of_every_request_per_line():
    """Words of L and Q per vCPU at 64, 256 and 1024 vCPUs (qspinlock's layout: the lock
    line and one node line per vCPU): a constant plus the sharer and watcher bitmaps,
    2 x N / 64 words per line, so 30 words more per line from 64 to 1024 vCPUs. A queue
    with room for every request (2N) in each line's row, as before, added 1920."""
    per = []
    for n in (64, 256, 1024):
        S = _alloc(n, LOCKS["qspinlock"][1], 0, "auto")
        assert S["L"].shape[0] > n  # (a line per vCPU: a row of N words would be N^2)
        per.append((S["L"].size + S["Q"].size) / n)
    assert per[2] - per[0] < 40, per  # the bitmaps: 2 x 15 words more per line
