"""Exhaustive check of the v10 PV qspinlock wake-up handshake (explicit-state, untimed).

Owns a small model checker for the one question the seed's own comment leaves open:
can a waiter of the v10 pvqspinlock halt with nobody left to kick it? It executes the
seed's PV steps for a fixed three-CPU scenario, one shared-memory access per step, and
explores **every** interleaving by breadth-first search, so the first failure found is
a shortest trace. Timing is abstracted away entirely: a store buffer may drain at any
later moment and a vCPU may be preempted between any two steps, which is exactly what
the seed's "highly unlikely ... more than 0x10 iterations" assumption rules out. It is
therefore an *existence* oracle (is a lost wake-up reachable at all, under sequential
consistency or x86-TSO, with or without KVM's PV-unhalted latch?) for the timed,
probabilistic hunt of the Monte Carlo engine, not a performance model.

Scenario (all identifiers from the seed, ``arch/x86/include/asm/pvqspinlock.h`` and
``kernel/locking/qspinlock.c``): CPU ``H`` holds the lock (locked byte
``_Q_LOCKED_VAL``); CPU ``P`` is the queue head spinning on the lock word with
``pv_head_spin_check``; CPU ``B`` is the next queue node, ``prev = P``, spinning on its
``qhead`` (``mcs.locked``) with ``pv_queue_spin_check``. ``H`` unlocks
(``queue_spin_unlock``: cmpxchg of the byte ``_Q_LOCKED_VAL -> 0``, else
``queue_spin_unlock_slowpath``: walk ``prev`` from the tail to the node with ``qhead``
set, release, ``pv_kick_node``). ``P`` claims the lock (``get_qlock``), notifies ``B``
(``arch_mcs_spin_unlock_contended(&next->qhead)``), runs ``pv_halt_check`` and later
unlocks the same way. ``B`` becomes head, claims with a cmpxchg of the whole word
(it is the tail) and unlocks. Thresholds are scaled down (``qspin_threshold`` replaces
2^14; ``mayhalt_gap`` replaces 0x10) so the state space is finite and small; the
protocol's structure, orderings and barriers are the seed's.

Halting follows KVM: ``__queue_halt_cpu(type, &cpustate, PV_CPU_HALTED)`` re-checks the
state (one step) and then halts (another step; a preemption may fall between them). A
kick to a vCPU that is not halted is lost unless ``latch=True`` (KVM's "PV-unhalted"
flag: the next halt returns at once). Spurious wake-ups are off by default because a
loss that only an interrupt can rescue is still a loss.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pandas as pd

__all__ = ["HandshakeResult", "explore_v10_handshake", "replay_v10_handshake"]

# Constants from the seed (pvqspinlock.h, qspinlock.h).
PV_CPU_ACTIVE = 1
PV_CPU_KICKED = 2
PV_CPU_HALTED = -1
_Q_LOCKED_VAL = 1
_Q_LOCKED_SLOWPATH = _Q_LOCKED_VAL | 2

CPUS = ("H", "P", "B")
H, P, B = 0, 1, 2
# Shared memory: the lock's locked byte and tail, and per-node PV/MCS fields of P and B.
LOCKED, TAIL = 0, 1
QHEAD = {P: 2, B: 3}  # mcs.locked
MAYHALT = {P: 4, B: 5}
CPUSTATE = {P: 6, B: 7}
PREV = {P: 8, B: 9}  # pv.prev as a node id (-1 = NULL)
MEMORY_NAMES = ("lock.locked", "lock.tail", "P.qhead", "B.qhead", "P.mayhalt",
                "B.mayhalt", "P.cpustate", "B.cpustate", "P.prev", "B.prev")
_INITIAL_MEMORY = (_Q_LOCKED_VAL, B, 1, 0, 0, 0, PV_CPU_ACTIVE, PV_CPU_ACTIVE, -1, P)
_NODE = {"P": P, "B": B}


@dataclass
class HandshakeResult:
    """Outcome of :func:`explore_v10_handshake`."""

    found: bool  #: a lost wake-up (or deadlock) is reachable
    kind: str  #: "lost-wakeup", "deadlock" or "" when none is found
    states_explored: int
    complete: bool  #: True if the search ended on its own (failure found or space exhausted)
    trace: pd.DataFrame  #: shortest failing trace: step, cpu, action, detail
    final: dict  #: memory and thread state at the end of the trace

    def __str__(self) -> str:
        head = (f"{self.kind} reachable after {len(self.trace)} steps"
                if self.found else "no lost wake-up reachable")
        if self.found:
            scope = "search stopped at the first (shortest) failure"
        else:
            scope = "whole state space" if self.complete else "bounded by max_states"
        return f"{head} ({self.states_explored} states; {scope})"


class _State:
    """Mutable working copy of one global state (memory, threads, buffers, halts)."""

    __slots__ = ("mem", "pc", "loc", "buf", "halted", "latch")

    def __init__(self, key):
        mem, pc, loc, buf, halted, latch = key
        self.mem = list(mem)
        self.pc = list(pc)
        self.loc = [list(x) for x in loc]
        self.buf = [list(x) for x in buf]
        self.halted = list(halted)
        self.latch = list(latch)

    def key(self):
        return (tuple(self.mem), tuple(self.pc), tuple(tuple(x) for x in self.loc),
                tuple(tuple(x) for x in self.buf), tuple(self.halted), tuple(self.latch))

    # Memory access under the chosen model. A thread reads its own newest buffered
    # store first (TSO store forwarding), else memory.
    def load(self, t, addr):
        for a, v in reversed(self.buf[t]):
            if a == addr:
                return v
        return self.mem[addr]

    def store(self, t, addr, val, tso):
        if tso:
            self.buf[t].append((addr, val))
        else:
            self.mem[addr] = val


# Thread-local registers: [count, hcnt, node, val_locked, val_tail]
CNT, HCNT, NODE, VL, VT = range(5)


def _unlock_steps(s: _State, t: int, pc: str, tso: bool, out: list, done_pc: str):
    """queue_spin_unlock and queue_spin_unlock_slowpath (seed, qspinlock.h/.c)."""
    loc = s.loc[t]
    if pc == "unlock":
        # cmpxchg((u8 *)lock, _Q_LOCKED_VAL, 0): a locked op, drains the buffer.
        old = s.mem[LOCKED]
        if old == _Q_LOCKED_VAL:
            s.mem[LOCKED] = 0
            out.append((done_pc, "unlock cmpxchg", "byte 1 -> 0 (fast path)"))
        else:
            out.append(("us_tail", "unlock cmpxchg", f"byte is {old}: slowpath"))
    elif pc == "us_tail":
        loc[NODE] = s.load(t, TAIL)  # node = decode_tail(atomic_read(&lock->val))
        if loc[NODE] not in QHEAD:
            out.append(("stuck", "decode_tail", f"tail {loc[NODE]} has no node"))
        else:
            out.append(("us_walk", "read tail", f"node = {CPUS[loc[NODE]]}"))
    elif pc == "us_walk":
        if s.load(t, QHEAD[loc[NODE]]):  # while (!ACCESS_ONCE(node->qhead))
            out.append(("us_release", "read qhead", f"{CPUS[loc[NODE]]} is head"))
        else:
            prev = s.load(t, PREV[loc[NODE]])  # pv_get_prev
            if prev >= 0:
                loc[NODE] = prev
            out.append(("us_walk", "read qhead/prev", f"walk to {CPUS[loc[NODE]]}"))
    elif pc == "us_release":
        s.store(t, LOCKED, 0, tso)  # __queue_spin_unlock: release before the kick
        out.append(("us_kick", "store locked=0", "release"))
    elif pc == "us_kick":
        n = loc[NODE]  # pv_kick_node: xchg(&pv->cpustate, PV_CPU_KICKED)
        old = s.mem[CPUSTATE[n]]
        s.mem[CPUSTATE[n]] = PV_CPU_KICKED
        if old == PV_CPU_HALTED:
            _kick(s, n)
            out.append((done_pc, "pv_kick_node", f"kick {CPUS[n]}"))
        else:
            out.append((done_pc, "pv_kick_node", f"{CPUS[n]} not halted: no kick"))


def _kick(s: _State, n: int):
    """__queue_kick_cpu: wake a halted vCPU, else (KVM) set its PV-unhalted latch."""
    if s.halted[n]:
        s.halted[n] = 0
    else:
        s.latch[n] = s.latch[n] | 2  # 2 = kick arrived while running (latch if enabled)


def _head_steps(s, t, pc, tso, out, head_limit):
    """Queue-head wait with pv_head_spin_check (seed), then the claim."""
    loc = s.loc[t]
    me = t
    if pc == "hw_load":  # while ((val = smp_load_acquire(&lock->val)) & LOCKED_PENDING)
        loc[VL], loc[VT] = s.load(t, LOCKED), s.load(t, TAIL)
        if loc[VL] == 0:
            out.append(("claim", "head load lock", "lock free"))
        else:
            loc[HCNT] += 1  # INC_LOOP_CNT(hcnt)
            out.append(("hc_state", "head load lock", f"locked={loc[VL]} hcnt={loc[HCNT]}"))
    elif pc == "hc_state":
        if s.load(t, CPUSTATE[me]) == PV_CPU_KICKED:
            loc[HCNT] = 0
            s.store(t, CPUSTATE[me], PV_CPU_ACTIVE, tso)
            out.append(("hw_load", "pv_head_spin_check", "kicked: reset"))
        elif loc[HCNT] >= head_limit:
            out.append(("hc_cas_state", "pv_head_spin_check", "threshold reached"))
        else:
            out.append(("hw_load", "pv_head_spin_check", "spin"))
    elif pc == "hc_cas_state":  # cmpxchg(&pv->cpustate, PV_CPU_ACTIVE, PV_CPU_HALTED)
        old = s.mem[CPUSTATE[me]]
        if old == PV_CPU_ACTIVE:
            s.mem[CPUSTATE[me]] = PV_CPU_HALTED
        nxt = "hc_reset" if old == PV_CPU_KICKED else "hc_cas_lock"
        out.append((nxt, "cmpxchg cpustate", f"old={old}"))
    elif pc == "hc_cas_lock":  # cmpxchg((u8 *)lock, _Q_LOCKED_VAL, _Q_LOCKED_SLOWPATH)
        old = s.mem[LOCKED]
        if old == _Q_LOCKED_VAL:
            s.mem[LOCKED] = _Q_LOCKED_SLOWPATH
        nxt = "halt_check_h" if old != 0 else "hc_reset"
        out.append((nxt, "cmpxchg lock byte", f"old={old}"))
    elif pc == "hc_reset":
        s.store(t, CPUSTATE[me], PV_CPU_ACTIVE, tso)
        loc[HCNT] = 0
        out.append(("hw_load", "cpustate=ACTIVE", "reset count"))
    elif pc == "claim":
        loc[HCNT] = 0
        if loc[VT] != me:  # val != tail: get_qlock(lock) (byte store), then notify next
            s.store(t, LOCKED, _Q_LOCKED_VAL, tso)
            out.append(("notify", "get_qlock", "store locked=1"))
        else:  # cmpxchg(&lock->val, val, _Q_LOCKED_VAL): last in queue, clear the tail
            if s.mem[LOCKED] == loc[VL] and s.mem[TAIL] == loc[VT]:
                s.mem[LOCKED], s.mem[TAIL] = _Q_LOCKED_VAL, -1
                out.append(("cs", "cmpxchg lock word", "claimed, tail cleared"))
            else:
                loc[VL], loc[VT] = s.mem[LOCKED], s.mem[TAIL]
                out.append(("claim", "cmpxchg lock word", "failed, retry"))


def _node_steps(s, t, pc, tso, out, q_limit, mayhalt_at):
    """Queue-node wait with pv_queue_spin_check (seed)."""
    loc = s.loc[t]
    me = t
    if pc == "nw_load":  # while (!smp_load_acquire(&node->qhead))
        if s.load(t, QHEAD[me]):
            out.append(("hw_load", "node load qhead", "now queue head"))
        else:
            loc[CNT] += 1  # INC_LOOP_CNT(cnt)
            out.append(("qc", "node load qhead", f"cnt={loc[CNT]}"))
    elif pc == "qc":
        if loc[CNT] >= q_limit:  # *count >= QSPIN_THRESHOLD
            s.store(t, CPUSTATE[me], PV_CPU_HALTED, tso)
            out.append(("qc_mb", "cpustate=HALTED", ""))
        elif loc[CNT] == mayhalt_at:  # *count == MAYHALT_THRESHOLD
            s.store(t, MAYHALT[me], 1, tso)
            out.append(("qc_mb_mayhalt", "mayhalt=1", ""))
        else:
            out.append(("nw_load", "pv_queue_spin_check", "spin"))
    elif pc == "qc_mb_mayhalt":
        out.append(("nw_load", "smp_mb", ""))  # enabled only with an empty buffer
    elif pc == "qc_mb":
        out.append(("qc_qhead", "smp_mb", ""))
    elif pc == "qc_qhead":
        if not s.load(t, QHEAD[me]):
            out.append(("halt_check_n", "read qhead", "0: halt"))
        else:
            out.append(("qc_reset", "read qhead", "1: abort halt"))
    elif pc == "qc_reset":
        s.store(t, CPUSTATE[me], PV_CPU_ACTIVE, tso)
        loc[CNT] = 0
        out.append(("qc_reset2", "cpustate=ACTIVE", "reset count"))
    elif pc == "qc_reset2":
        s.store(t, MAYHALT[me], 0, tso)
        out.append(("nw_load", "mayhalt=0", ""))


def _halt_steps(s, t, pc, out, latch_on, after):
    """__queue_halt_cpu(type, &pv->cpustate, PV_CPU_HALTED): re-check, then halt."""
    if pc.startswith("halt_check"):
        if s.load(t, CPUSTATE[t]) == PV_CPU_HALTED:
            out.append(("halt" + pc[-2:], "halt re-check", "state HALTED"))
        else:
            out.append((after, "halt re-check", "state changed: no halt"))
    else:
        if latch_on and s.latch[t] & 2:
            s.latch[t] = 0
            out.append((after, "halt", "PV-unhalted latch set: returns at once"))
        else:
            s.latch[t] = 0
            s.halted[t] = 1
            out.append((after, "halt", "vCPU halted"))


def _successors(key, tso, latch_on, spurious, q_limit, mayhalt_at, head_limit):
    base = _State(key)
    for t in range(3):
        # A TSO store buffer drains its oldest entry at any moment.
        if base.buf[t]:
            s = _State(key)
            addr, val = s.buf[t].pop(0)
            s.mem[addr] = val
            yield s.key(), (CPUS[t], "drain", f"{MEMORY_NAMES[addr]}={val}")
        if base.halted[t]:
            if spurious:
                s = _State(key)
                s.halted[t] = 0
                yield s.key(), (CPUS[t], "spurious wake-up", "")
            continue
        pc = base.pc[t]
        if pc in ("done", "stuck"):
            continue
        # Locked operations, smp_mb and the halt hypercall (a VM exit) drain the buffer;
        # the head's claim is a locked cmpxchg only when it is the tail.
        needs_empty = pc in ("unlock", "us_kick", "hc_cas_state", "hc_cas_lock", "qc_mb",
                             "qc_mb_mayhalt", "phc_mb", "halt_n", "halt_h") or (
            pc == "claim" and base.loc[t][VT] == t)
        if tso and needs_empty and base.buf[t]:
            continue
        s = _State(key)
        out: list = []
        name = CPUS[t]
        if pc in ("unlock", "us_tail", "us_walk", "us_release", "us_kick"):
            _unlock_steps(s, t, pc, tso, out, "done")
        elif pc.startswith(("hw_", "hc_", "claim")):
            _head_steps(s, t, pc, tso, out, head_limit)
        elif pc.startswith(("nw_", "qc")):
            _node_steps(s, t, pc, tso, out, q_limit, mayhalt_at)
        elif pc.startswith("halt"):
            after = "hc_reset" if pc.endswith("_h") else "qc_reset"
            _halt_steps(s, t, pc, out, latch_on, after)
        elif pc == "notify":  # arch_mcs_spin_unlock_contended(&next->qhead)
            s.store(t, QHEAD[B], 1, tso)
            out.append(("hcheck", "store B.qhead=1", "notify next"))
        elif pc == "hcheck":  # pv_halt_check: if (ACCESS_ONCE(pv->mayhalt))
            if s.load(t, MAYHALT[B]):
                out.append(("phc_mb", "pv_halt_check", "B.mayhalt=1"))
            else:
                out.append(("cs", "pv_halt_check", "B.mayhalt=0: skip"))
        elif pc == "phc_mb":
            out.append(("phc_cpustate", "smp_mb", ""))
        elif pc == "phc_cpustate":
            if s.load(t, CPUSTATE[B]) == PV_CPU_HALTED:
                s.store(t, LOCKED, _Q_LOCKED_SLOWPATH, tso)
                out.append(("cs", "pv_halt_check", "B halted: locked=SLOWPATH"))
            else:
                out.append(("cs", "pv_halt_check", "B not halted"))
        elif pc == "cs":
            out.append(("unlock", "critical section", ""))
        if not out:
            raise RuntimeError(f"handshake model bug: CPU {name} has no step at pc {pc!r}")
        for nxt, action, detail in out:
            s.pc[t] = nxt
            yield s.key(), (name, action, detail)


def _initial_key():
    pcs = ("unlock", "hw_load", "nw_load")
    loc = tuple((0, 0, -1, 0, 0) for _ in CPUS)
    return (_INITIAL_MEMORY, pcs, loc, ((), (), ()), (0, 0, 0), (0, 0, 0))


def _failure(key):
    """Classify a state with no enabled step: lost wake-up, deadlock, or success."""
    mem, pc, _, buf, halted, _ = key
    if all(p == "done" for p in pc) and not any(buf):
        return ""
    if any(halted):
        return "lost-wakeup"
    return "deadlock"


def _model_args(memory_model, latch, spurious, qspin_threshold, mayhalt_gap,
                head_multiplier):
    """Validate the model's parameters; return the arguments of ``_successors``."""
    if memory_model not in ("sc", "tso"):
        raise ValueError(f"memory_model must be 'sc' or 'tso', got {memory_model!r}")
    if not (isinstance(qspin_threshold, int) and 2 <= qspin_threshold <= 64):
        raise ValueError(f"qspin_threshold must be an integer in [2, 64], got {qspin_threshold!r}")
    if not (isinstance(mayhalt_gap, int) and 1 <= mayhalt_gap < qspin_threshold):
        raise ValueError(f"mayhalt_gap must be an integer in [1, qspin_threshold), "
                         f"got {mayhalt_gap!r}")
    if not (isinstance(head_multiplier, int) and 1 <= head_multiplier <= 8):
        raise ValueError(f"head_multiplier must be an integer in [1, 8], got {head_multiplier!r}")
    tso = memory_model == "tso"
    args = (tso, latch, spurious, qspin_threshold, qspin_threshold - mayhalt_gap,
            head_multiplier * qspin_threshold)
    return args


def _state_dict(key) -> dict:
    mem, pc, _, buf, halted, _ = key
    final = dict(zip(MEMORY_NAMES, mem, strict=True))
    final.update({f"{c}.pc": p for c, p in zip(CPUS, pc, strict=True)})
    final.update({f"{c}.halted": bool(h) for c, h in zip(CPUS, halted, strict=True)})
    final.update({f"{c}.store_buffer": len(b) for c, b in zip(CPUS, buf, strict=True)})
    return final


def replay_v10_handshake(trace: pd.DataFrame, memory_model: str = "sc", *,
                         latch: bool = True, spurious: bool = False,
                         qspin_threshold: int = 4, mayhalt_gap: int = 1,
                         head_multiplier: int = 2) -> dict:
    """Re-execute a trace (cpu, action, detail per step) from the initial state.

    Every step must be enabled in the state it is taken from, otherwise ``ValueError``
    names the step. Returns the final state (memory, pcs, halted flags, whether any
    step other than a spurious wake-up is still enabled) so a test can show the loss.
    """
    args = _model_args(memory_model, latch, spurious, qspin_threshold, mayhalt_gap,
                       head_multiplier)
    key = _initial_key()
    for row in trace.itertuples():
        want = (row.cpu, row.action, row.detail)
        for nxt, label in _successors(key, *args):
            if label == want:
                key = nxt
                break
        else:
            raise ValueError(f"trace step {row.step} {want} is not enabled in the replay")
    final = _state_dict(key)
    final["can_progress"] = any(label[1] != "spurious wake-up"
                                for _, label in _successors(key, *args))
    return final


def explore_v10_handshake(
    memory_model: str = "sc",
    *,
    latch: bool = True,
    spurious: bool = False,
    qspin_threshold: int = 4,
    mayhalt_gap: int = 1,
    head_multiplier: int = 2,
    max_states: int = 2_000_000,
) -> HandshakeResult:
    """Search every interleaving of the scenario for a lost wake-up; see module doc.

    Parameters
    ----------
    memory_model : "sc" (each access takes effect at once) or "tso" (x86-TSO: per-CPU
        FIFO store buffers, loads forward from the own buffer, locked operations,
        ``smp_mb`` and the halt drain it first).
    latch : KVM's PV-unhalted latch (a kick to a running vCPU makes its next halt
        return at once).
    spurious : allow a halted vCPU to wake without a kick at any moment.
    qspin_threshold, mayhalt_gap, head_multiplier : the scaled ``QSPIN_THRESHOLD``,
        ``QSPIN_THRESHOLD - MAYHALT_THRESHOLD`` (0x10 in the seed) and the head's 2x.
    max_states : bound on explored states (the result says if it was reached).
    """
    args = _model_args(memory_model, latch, spurious, qspin_threshold, mayhalt_gap,
                       head_multiplier)
    if not (isinstance(max_states, int) and max_states >= 1):
        raise ValueError(f"max_states must be an integer >= 1, got {max_states!r}")
    start = _initial_key()
    parent = {start: None}
    frontier = deque([start])
    complete = True
    failure = None
    while frontier:
        key = frontier.popleft()
        any_step = False
        for nxt, label in _successors(key, *args):
            # Rescue by an interrupt does not count as progress of the protocol.
            any_step |= label[1] != "spurious wake-up"
            if nxt not in parent:
                parent[nxt] = (key, label)
                frontier.append(nxt)
        if not any_step:
            kind = _failure(key)
            if kind:
                failure = (key, kind)
                break
        if len(parent) >= max_states:
            complete = False
            break
    rows = []
    if failure is not None:
        key = failure[0]
        while parent[key] is not None:
            key, label = parent[key]
            rows.append(label)
        rows.reverse()
    trace = pd.DataFrame(rows, columns=["cpu", "action", "detail"])
    trace.insert(0, "step", range(len(trace)))
    final = _state_dict(failure[0]) if failure is not None else {}
    return HandshakeResult(
        found=failure is not None,
        kind=failure[1] if failure else "",
        states_explored=len(parent),
        complete=complete,
        trace=trace,
        final=final,
    )
