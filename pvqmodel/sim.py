"""Python front-end of the Monte Carlo engine: ``simulate()``.

Owns everything around the kernel: validating and normalizing the arguments (named
errors before any kernel runs), laying out memory (lock word and per-CPU nodes on
their cache lines) and placing tasks on sockets, spawning one random stream per
replication from a root seed (``numpy.random.SeedSequence(seed).spawn(reps)``),
running the replications (each with its own state arrays and Generator, so results
do not depend on threads or their number), turning status codes into exceptions with
a trace, and building tidy DataFrames: ``summary`` (one row per replication),
``tasks`` (per-task completion time and share of operations) and ``handoff`` (mean
handoff time by number of waiters at release). Several VMs in one run:
``build_run`` (one ``P``/``LP`` row per VM, lock instances, memory layout ``run_layout``,
the entities' VMs ``ent_vm``), ``run_state`` and ``simulate_vms``; ``simulate`` is the
one-VM, one-lock case (``run_one``).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import SEED_OPS_PER_TASK
from .engine import coherence as co
from .engine import core, ensure_compiled
from .engine import state as st
from .engine.hypervisor import hv_alloc, hv_entity_frame, hv_size
from .engine.kernel import init_replication, run_replication
from .locks import ALIASES as _LOCK_ALIASES
from .locks import pv_qspinlock as _pvq
from .locks import pv_qspinlock_v10 as _pq
from .locks import pv_qspinlock_v10_unfair as _pu
from .locks import pv_ticket as _pvtk
from .locks import qspinlock as _qs
from .locks import qspinlock_418 as _q8
from .locks import tas as _tas
from .locks import ticket as _tk
from .locks import unfair_qspinlock as _uq
from .params import Hardware, Schedule, Workload, preset_path
from .validate import check_bool, check_choice, check_float, check_instance, check_int, check_seed

#: Lock names accepted by :func:`simulate` -> (kernel lock id, lock module). The module
#: gives its memory layout: ``N_WORDS_PER_CPU`` (per-CPU node words, one line per CPU)
#: and optionally ``N_GLOBAL_WORDS`` or ``global_words(n)`` (more shared words, together
#: on one extra line, or ``GLOBAL_WORDS_PER_LINE`` to a line). The merged PV qspinlock's
#: generations share one module and lock id (the generation goes in ``LP``).
#: The same names as :data:`pvqmodel.locks.REGISTRY` (kernel version, commits, summary).
LOCKS = {
    "ticket": (st.LOCK_TICKET, _tk),
    "qspinlock": (st.LOCK_QSPINLOCK, _qs),
    "qspinlock-4.18": (st.LOCK_QSPINLOCK_418, _q8),
    "tas": (st.LOCK_TAS, _tas),
    "unfair-qspinlock": (st.LOCK_UNFAIR_QSPINLOCK, _uq),
    "pv-qspinlock-v10": (st.LOCK_PV_QSPINLOCK_V10, _pq),
    "pv-qspinlock-v10-unfair": (st.LOCK_PV_QSPINLOCK_V10_UNFAIR, _pu),
    "pv-ticket": (st.LOCK_PV_TICKET, _pvtk),
    **{name: (st.LOCK_PV_QSPINLOCK, _pvq) for name in _pvq.GENERATIONS},
}
#: The merged PV qspinlock's generations (and the alias of the newest).
PVQ_LOCKS = tuple(_pvq.GENERATIONS)
#: Locks with the PV hooks compiled in (they pay ``Hardware.pv_call_ns``/``pv_iter_ns``).
PV_LOCKS = ("pv-ticket", "pv-qspinlock-v10", "pv-qspinlock-v10-unfair", *PVQ_LOCKS)
#: The seed table's names.
TABLE_LOCK_NAMES = {"queue": "qspinlock", "ticket": "ticket"}
#: Other names of a lock (``"qspinlock-v10"``: the seed's v10-era native ``"qspinlock"``;
#: ``"pv-qspinlock"``: the newest merged PV qspinlock, ``"pv-qspinlock-5.4"``).
LOCK_ALIASES = dict(_LOCK_ALIASES)

MAX_VCPUS = 256
#: How an operation picks its lock among the VM's instances (``LP_LOCK_CHOICE`` codes).
LOCK_CHOICES = ("uniform", "zipf")
WAIT_BINS = 48  #: log2(ns) bins of the acquisition wait-time histogram (1 ns .. 3 days)
#: Timer slots up to which ``timer="auto"`` scans a dense array; above, the calendar
#: queue (engine/core.py). Measured (dedicated, preset hardware, 5 interleaved rounds):
#: at 5 and 9 slots (N = 2, 4) the dense scan is 15-20 % faster per event than the
#: calendar; at 17 (N = 8) the calendar is faster for ticket (-11 %) and qspinlock (-8 %),
#: equal for pv-qspinlock-v10; from 32 vCPUs on the dense scan loses by far (ticket
#: N = 32 under PLE: 140 ns per event against the heap's 90, before the calendar).
DENSE_TIMER_MAX_SLOTS = 16
#: Event sets (``timer``): ``"auto"`` picks by the slot count (above)
TIMERS = ("auto", "dense", "calendar")
#: Bytes of state and output arrays one :func:`simulate` call may hold at once (1 GiB):
#: the state of the replications running at the same time (``min(workers, reps)``; each
#: replication's rows are collected as it finishes and its state dropped), plus what is
#: kept per replication (summary, tasks and handoff rows, wait histogram and, with
#: ``check=False``, the trace of a failed replication). See :func:`memory_estimate`.
MEMORY_BUDGET = 1 << 30
#: Adaptive chunking: the kernel runs this long (s) per call, then returns to Python,
#: where Ctrl-C (KeyboardInterrupt) and the cancel flag of other workers are seen.
CHUNK_SECONDS = 0.15
CHUNK_FIRST = 1 << 16  # events in the first call of a replication (then adapted)
CHUNK_MAX = 1 << 26

STATUS_TEXT = {
    st.ST_OK: "ok",
    st.ST_MUTEX: "mutual exclusion violated (two holders)",
    st.ST_FIFO: "FIFO order violated",
    st.ST_WATCHDOG: "watchdog: no acquisition for too long while tasks wait (livelock?)",
    st.ST_MAX_EVENTS: "event budget exhausted",
    st.ST_NO_EVENT: "no pending event but tasks unfinished (deadlock)",
    st.ST_BAD_STATE: "a lock step reached an impossible state",
    st.ST_LOST_WAKEUP: "lost wake-up: every unfinished vCPU is halted with no kick or "
                       "interrupt coming",
}
#: Trace ``kind`` column: what fired (``st.TK_*``).
TRACE_KINDS = {st.TK_VCPU: "vcpu", st.TK_LINE: "line", st.TK_QUANTUM: "quantum",
               st.TK_DRAIN: "drain"}


class SimulationError(RuntimeError):
    """A replication failed a check; ``.trace`` holds the last events."""

    def __init__(self, msg, status, trace):
        super().__init__(msg)
        self.status = status
        self.trace = trace


@dataclass(frozen=True)
class LockTunables:
    """Integer lock constants exposed as kernel arguments (kernel values by default)."""

    pending_retry: int = 1  # v10 trylock_pending: int retry = 1;
    lsteal_min_mask: int = 7  # LSTEAL_MIN_MASK = (1 << 3) - 1
    lsteal_max_mask: int = 1023  # LSTEAL_MAX_MASK = (1 << 10) - 1
    qspin_threshold: int = 1 << 14  # v10 QSPIN_THRESHOLD (1U<<14)
    head_mult: int = 2  # v10 queue head halts after 2*QSPIN_THRESHOLD spins
    mayhalt_gap: int = 0x10  # v10 MAYHALT_THRESHOLD = QSPIN_THRESHOLD - 0x10
    pspin_threshold: int = 1 << 10  # v10 PV pending-bit spin limit PSPIN_THRESHOLD
    spin_threshold: int = 1 << 15  # SPIN_THRESHOLD (1 << 15): PV ticket and merged PV qspinlock
    pending_loops: int = 1 << 9  # 4.18+ x86 _Q_PENDING_LOOPS (1 << 9); generic default 1
    #: merged PV qspinlock: PV_PREV_CHECK_MASK (wait-early check every mask + 1 iterations)
    pv_prev_check_mask: int = 0xFF
    #: merged PV qspinlock "what if" switches (None: the generation's own behaviour):
    #: the trylock before queuing, 0 = queued_spin_trylock (4.2-4.4), 1 = one
    #: pv_queued_spin_steal_lock attempt (4.5-4.14), 2 = the hybrid loop (4.15+)
    pv_steal: int | None = None
    pv_wait_early: bool | None = None  #: pv_wait_node's wait-early check (4.5+)
    pv_preempted_check: bool | None = None  #: ... also on vcpu_is_preempted (4.11-5.3)

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("pending_retry", check_int("pending_retry", self.pending_retry, 0, 1000))
        for name in ("lsteal_min_mask", "lsteal_max_mask"):
            val = check_int(name, getattr(self, name), 0, 2**20 - 1)
            if (val & (val + 1)) != 0:
                raise ValueError(f"{name} must be 2^k - 1 in [0, 2^20), got {val!r}")
            put(name, val)
        if self.lsteal_min_mask > self.lsteal_max_mask:
            raise ValueError(f"lsteal_min_mask must be <= lsteal_max_mask "
                             f"({self.lsteal_max_mask}), got {self.lsteal_min_mask}")
        for name, lo, hi in (("qspin_threshold", 2, 2**30), ("head_mult", 1, 64),
                             ("pspin_threshold", 1, 2**30)):
            put(name, check_int(name, getattr(self, name), lo, hi))
        put("mayhalt_gap", check_int("mayhalt_gap (< qspin_threshold)", self.mayhalt_gap, 1,
                                     self.qspin_threshold - 1))
        # arch_spin_lock's "unsigned count = SPIN_THRESHOLD; do { ... } while (--count)":
        # at least one iteration; 2^31 keeps it an unsigned count with room to spare
        put("spin_threshold", check_int("spin_threshold", self.spin_threshold, 1, 2**31))
        # "int cnt = _Q_PENDING_LOOPS; ... (VAL != _Q_PENDING_VAL) || !cnt--": 0 still
        # reads once; an int, so below 2^31 (2^30 leaves room for the + 1 load)
        put("pending_loops", check_int("pending_loops", self.pending_loops, 0, 2**30))
        m = check_int("pv_prev_check_mask", self.pv_prev_check_mask, 0, 2**20 - 1)
        if (m & (m + 1)) != 0:
            raise ValueError(f"pv_prev_check_mask must be 2^k - 1 in [0, 2^20), got {m!r}")
        put("pv_prev_check_mask", m)
        if self.pv_steal is not None:
            put("pv_steal", check_int("pv_steal", self.pv_steal, 0, 2))
        for name in ("pv_wait_early", "pv_preempted_check"):
            if getattr(self, name) is not None:
                put(name, check_bool(name, getattr(self, name)))

    def array(self):
        a = np.zeros(st.NLP, dtype=np.int64)
        a[st.LP_PENDING_RETRY] = self.pending_retry
        a[st.LP_LSTEAL_MIN_MASK] = self.lsteal_min_mask
        a[st.LP_LSTEAL_MAX_MASK] = self.lsteal_max_mask
        a[st.LP_QSPIN_THRESHOLD] = self.qspin_threshold
        a[st.LP_HEAD_MULT] = self.head_mult
        a[st.LP_MAYHALT_GAP] = self.mayhalt_gap
        a[st.LP_PSPIN_THRESHOLD] = self.pspin_threshold
        a[st.LP_SPIN_THRESHOLD] = self.spin_threshold
        a[st.LP_PENDING_LOOPS] = self.pending_loops
        a[st.LP_PV_PREV_CHECK_MASK] = self.pv_prev_check_mask
        return a


@dataclass
class SimResult:
    summary: pd.DataFrame
    tasks: pd.DataFrame
    handoff: pd.DataFrame
    #: rep -> trace (last events) of each replication that failed a check (check=False)
    failures: dict = field(default_factory=dict)
    #: acquisition wait-time histogram (log2 ns bins, summed over replications)
    waits: pd.DataFrame | None = None
    #: per host entity (vCPU thread) and replication: VM, run / steal / longest-wait time,
    #: preemptions, halts, kicks, yields, migrations (engine/hypervisor.py ENTITY_COLUMNS)
    entities: pd.DataFrame | None = None

    def __repr__(self):
        return f"SimResult(summary=\n{self.summary!r})"


#: The preset :func:`simulate` uses when no hardware/workload is given.
DEFAULT_PRESET = "westmere-ex"
_missing_preset_warned = False


def _default_preset_missing() -> bool:
    """True (and one warning per process) if the default preset file does not exist.
    Only a *missing* file falls back to the priors; a corrupt one raises on load."""
    global _missing_preset_warned
    path = preset_path(DEFAULT_PRESET)
    if path.exists():
        return False
    if not _missing_preset_warned:
        _missing_preset_warned = True
        warnings.warn(f"hardware preset {DEFAULT_PRESET!r} not found ({path}): using the "
                      "uncalibrated priors Hardware() and Workload()", stacklevel=3)
    return True


def default_hardware() -> Hardware:
    """The calibrated ``westmere-ex`` preset (the priors only if its file is missing)."""
    return Hardware() if _default_preset_missing() else Hardware.preset(DEFAULT_PRESET)


def default_workload() -> Workload:
    """The preset's seed benchmark (the priors only if its file is missing)."""
    if _default_preset_missing():
        return Workload()
    return Workload.seed_benchmark(DEFAULT_PRESET)


def param_array(hw: Hardware, wl: Workload, watchdog_ns: float,
                sched: Schedule | None = None, pv: bool = False) -> np.ndarray:
    sched = Schedule() if sched is None else sched
    P = np.zeros(st.NP, dtype=np.float64)
    P[st.P_HIT] = hw.hit_ns
    P[st.P_RMW] = hw.rmw_ns
    P[st.P_PAUSE] = hw.pause_ns
    P[st.P_SERVICE] = hw.service_ns
    P[st.P_XSAME] = hw.xfer_same_ns
    P[st.P_XCROSS] = hw.xfer_cross_ns
    P[st.P_SHARED] = hw.shared_ns
    P[st.P_OVERLAP] = hw.overlap
    P[st.P_THREE_CLASS] = 1.0 if hw.latency_classes == 3 else 0.0
    P[st.P_UPGRADE] = hw.upgrade_ns
    P[st.P_READ_SERIAL] = hw.read_serial_ns
    P[st.P_SNOOP_FRAC] = hw.snoop_frac
    P[st.P_JITTER] = hw.jitter
    P[st.P_LOCKED_GAP] = hw.locked_gap_ns
    P[st.P_RMW_HOME] = 1.0 if hw.rmw_holds_home else 0.0
    P[st.P_SB_ENTRIES] = float(hw.store_buffer)
    P[st.P_CS] = wl.cs_ns
    P[st.P_LOOP] = wl.loop_ns
    P[st.P_CS_EXP] = {"det": 0.0, "exp": 1.0, "lognormal": 2.0}[wl.cs_dist]
    if wl.cs_dist == "lognormal" and wl.cs_ns > 0:
        # sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2: the mean is cs_ns
        s2 = math.log1p(wl.cs_cv**2)
        P[st.P_CS_MU] = math.log(wl.cs_ns) - s2 / 2
        P[st.P_CS_SIGMA] = math.sqrt(s2)
    P[st.P_LOOP_EXP] = 1.0 if wl.loop_dist == "exp" else 0.0
    P[st.P_WATCHDOG] = watchdog_ns
    P[st.P_PV_CALL] = hw.pv_call_ns if pv else 0.0
    P[st.P_PV_ITER] = hw.pv_iter_ns if pv else 0.0
    P[st.P_SC] = 1.0 if hw.memory_model == "sc" else 0.0
    P[st.P_DRAIN_NS] = hw.drain_ns
    P[st.P_QUANTUM] = sched.quantum_ns
    P[st.P_QUANTUM_EXP] = 1.0 if sched.quantum_dist == "exp" else 0.0
    P[st.P_HALT_NS] = sched.halt_ns
    P[st.P_KICK_NS] = sched.kick_ns
    P[st.P_WAKE_NS] = sched.wake_ns
    P[st.P_WAKE_EXP] = 1.0 if sched.wake_dist == "exp" else 0.0
    P[st.P_SPURIOUS_NS] = sched.spurious_ns
    if sched.ple_window_ns is not None:  # 0.0 (the default): pause-loop exiting off
        P[st.P_PLE_WINDOW] = sched.ple_window_ns
        P[st.P_PLE_EXIT] = sched.ple_exit_ns
        P[st.P_PLE_GROW] = float(sched.ple_grow)
        P[st.P_PLE_MAX] = sched.ple_window_max_ns
        P[st.P_PLE_GAP] = sched.ple_gap_ns
        P[st.P_RESCHED] = sched.resched_ns
    return P


def schedule_lp(LP: np.ndarray, sched: Schedule, n: int) -> tuple[int, int]:
    """Write the schedule's integer kernel arguments; return (pCPUs, background)."""
    LP[st.LP_LATCH] = 1 if sched.latch else 0
    LP[st.LP_WAKEUP_PREEMPT] = 1 if sched.wakeup_preempt else 0
    if sched.dedicated:
        LP[st.LP_HV] = 0
        LP[st.LP_NPCPU] = 0
        LP[st.LP_NBG] = 0
        LP[st.LP_PINNED] = 1
        return 0, 0
    npc, nbg = sched.layout(n)
    LP[st.LP_HV] = 1
    LP[st.LP_NPCPU] = npc
    LP[st.LP_NBG] = nbg
    LP[st.LP_PINNED] = 1 if sched.placement == "pinned" else 0
    return npc, nbg


def placement(n: int, hw: Hardware, rule: str) -> np.ndarray:
    v = np.arange(n, dtype=np.int64)
    if rule == "scatter":
        return v % hw.sockets
    return v // hw.cores_per_socket


def global_layout(n: int, module) -> tuple[int, int, int]:
    """(global words, their lines, words per line) of a lock module: ``global_words(n)``
    or ``N_GLOBAL_WORDS``, ``GLOBAL_WORDS_PER_LINE`` to a line (default: all on one)."""
    fn = getattr(module, "global_words", None)
    n_glob = int(fn(n)) if fn is not None else getattr(module, "N_GLOBAL_WORDS", 0)
    if n_glob == 0:
        return 0, 0, 1
    wpl = getattr(module, "GLOBAL_WORDS_PER_LINE", n_glob)
    return n_glob, -(-n_glob // wpl), wpl


def run_layout(vms) -> dict:
    """Memory of a run of lock-running VMs ``vms`` = [(module, vCPUs, lock instances)]:
    lock instance k's word is word k on line k (each VM owns a contiguous range of
    instances, VM 0's first); then every vCPU's per-CPU node words (``stride`` = the
    largest ``N_WORDS_PER_CPU``, vCPU c's block at word ``M + stride*c`` on line
    ``M + c``; vCPU ids are global, so the VMs' nodes are disjoint); then each VM's global
    words (``global_layout``, sized by that VM's vCPU count) at its base ``gw0[k]``,
    ``GLOBAL_WORDS_PER_LINE`` to a line. A vCPU has one node block whatever its VM's
    lock count: its node serves every lock instance it takes, as the kernel's per-CPU
    ``qnodes[MAX_NODES]`` do (the slot is chosen by nesting level, ``node->count++``, not
    by lock; a vCPU here waits on one lock at a time and the IPI handler takes none, so
    it always uses slot 0). With one VM and one lock this is the historical
    layout (word 0 = the lock on line 0, CPU c's node on line 1 + c, globals after).
    Returns dict(mem, lines, M, stride, n, lock0, gw0)."""
    M = sum(m for _, _, m in vms)
    n = sum(c for _, c, _ in vms)
    stride = max(mod.N_WORDS_PER_CPU for mod, _, _ in vms)
    glob = [global_layout(c, mod) for mod, c, _ in vms]
    n_words = M + stride * n + sum(g[0] for g in glob)
    n_lines = M + n + sum(g[1] for g in glob)
    mem = np.zeros((n_words, co.NMEM), dtype=np.int64)  # value, cache line
    mem[:M, co.MEM_LINE] = np.arange(M)
    for c in range(n):
        mem[M + stride * c: M + stride * (c + 1), co.MEM_LINE] = M + c
    w, line, gw0, lock0 = M + stride * n, M + n, [], []
    k0 = 0
    for (n_glob, g_lines, wpl), (_, _, m) in zip(glob, vms, strict=True):
        gw0.append(w)
        lock0.append(k0)
        k0 += m
        if n_glob:
            mem[w: w + n_glob, co.MEM_LINE] = line + np.arange(n_glob) // wpl
        w += n_glob
        line += g_lines
    return dict(mem=mem, lines=n_lines, M=M, stride=stride, n=n, lock0=lock0, gw0=gw0)


def memory_layout(n: int, module) -> tuple[np.ndarray, int]:
    """Words and lines of one VM's one lock (:func:`run_layout`): word 0 (the lock) on
    line 0; CPU c's node words ``1 + c*wpc ...`` on line ``1 + c``; the lock's global
    words (``global_layout``, word ``1 + n*wpc + k``) on line
    ``1 + n + k // GLOBAL_WORDS_PER_LINE``. Returns (mem, lines)."""
    lay = run_layout([(module, n, 1)])
    return lay["mem"], lay["lines"]


def _shapes(n: int, module, trace: int, timer: str, npcpu: int = 0, nbg: int = 0,
            pinned: bool = True, drain: bool = False, layout: dict | None = None,
            sb: int = 1) -> dict:
    """Name -> (shape, dtype) of every array of one replication's state (``_alloc``);
    ``layout``: the run's :func:`run_layout` (default: one VM of ``module``, one lock)."""
    lay = run_layout([(module, n, 1)]) if layout is None else layout
    n_lines, M = lay["lines"], lay["M"]
    nvm = len(lay["lock0"])
    # timer slots: vCPUs | lines | pCPU quanta (with a schedule) | store buffers (drain,
    # or the in-order commit of a multi-entry buffer)
    n_slots = n + n_lines + npcpu + (n if drain or sb > 1 else 0)
    # request rows: n blocking, n buffered (one-entry store buffer), the lock instances'
    # F rows, then sb rows per vCPU for a multi-entry buffer (coherence.sb_row)
    nreq = 2 * n + M + (n * sb if sb > 1 else 0)
    nr = 2 * n if sb == 1 else nreq  # rows of R: the requests that can be outstanding
    nq = (npcpu if pinned else 1) if npcpu > 0 else 0
    i8, f8 = np.int64, np.float64
    return dict(
        I=((n, st.NI), i8),
        # rows 0..n-1: F_* of each vCPU; all 2n rows: RF_* of each request; row n: GF_*;
        # rows 2n + k: FL_* of lock instance k
        F=((nreq, st.NF + co.NRF), f8),
        mem=(lay["mem"].shape, i8),  # value, cache line
        L=((n_lines, co.line_columns(n)), i8),  # line state, sharer/watcher bitmaps
        # the lines' queues of waiting requests, one pool (coherence.queue_size)
        Q=((co.queue_size(n_lines, nr),), i8),
        R=((nr, co.NR), i8),
        H=((hv_size(n, npcpu, nbg, nq),), i8),
        TF=((core.tm_float_size(n_slots),), f8), TI=((core.tm_int_size(n_slots),), i8),
        G=((st.NG + M * st.NGL,), i8),  # global counters, then a check block per instance
        TR=((trace, st.NTR), i8), TRT=((trace,), f8),
        # rows 0..n: handoff by waiters at release (columns: sum, count); rows n+1..: wait
        # histogram (log2 ns), one column per lock VM
        HO=((n + 1 + WAIT_BINS, max(2, nvm)), f8),
        first=((n,), i8),
    )


def _alloc(n: int, module, trace: int, timer: str, npcpu: int = 0, nbg: int = 0,
           pinned: bool = True, drain: bool = False, layout: dict | None = None,
           host: dict | None = None, sb: int = 1):
    lay = run_layout([(module, n, 1)]) if layout is None else layout
    shapes = _shapes(n, module, trace, timer, npcpu, nbg, pinned, drain, lay, sb)
    mem, n_lines = lay["mem"].copy(), lay["lines"]
    n_slots = n + n_lines + npcpu + (n if drain or sb > 1 else 0)
    mode = core.TM_DENSE if (timer == "dense" or (timer == "auto" and
                                                  n_slots <= DENSE_TIMER_MAX_SLOTS)) \
        else core.TM_CAL
    TF, TI = core.tm_alloc(n_slots, mode)
    S = {k: np.zeros(shape, dtype=dt) for k, (shape, dt) in shapes.items()
         if k not in ("mem", "H", "TF", "TI")}
    S.update(mem=mem, H=hv_alloc(n, npcpu, nbg, pinned, n_lines, host), TF=TF, TI=TI)
    return S


def _state_bytes(shapes: dict) -> int:
    return int(sum(np.dtype(dt).itemsize * int(np.prod(shape)) for shape, dt in
                   shapes.values()))


#: Bytes kept per replication besides its state, and per trace row of a failure kept
#: with ``check=False`` (one summary row, as a dict, is about 4 KiB; a task row ~100 B;
#: a handoff row ~60 B; a trace row as a DataFrame, 8 columns, ~64 B).
_ROW_BYTES = 4096
_TASK_ROW_BYTES = 128
_TRACE_ROW_BYTES = 64


def memory_estimate(n: int, module, trace: int, timer: str, reps: int, workers: int,
                    check: bool, npcpu: int = 0, nbg: int = 0, pinned: bool = True,
                    drain: bool = False, sb: int = 1) -> int:
    """Bytes of state and output arrays a :func:`simulate` call holds at most: the state
    of ``min(workers, reps)`` replications at once, plus per replication its rows and
    wait histogram and, with ``check=False``, a failure's trace (every replication may
    fail). Compared with :data:`MEMORY_BUDGET` before any kernel runs."""
    state = _state_bytes(_shapes(n, module, trace, timer, npcpu, nbg, pinned, drain, sb=sb))
    kept = (_ROW_BYTES + (n + 1) * 2 * _TASK_ROW_BYTES + WAIT_BINS * 8
            + (trace * _TRACE_ROW_BYTES if not check else 0))
    return min(workers, reps) * state + reps * kept + (trace * _TRACE_ROW_BYTES if check else 0)


_TRACE_COLUMNS = ["t_ns", "event", "kind", "index", "who", "pc", "mode", "res"]


def _trace_frame(S) -> pd.DataFrame:
    """The trace ring, oldest event first: ``kind`` is what fired (``vcpu`` step,
    ``line`` service, pCPU ``quantum`` end, store-buffer ``drain``), ``index`` its index
    within the kind (vCPU, line, pCPU, or the vCPU whose store drains); ``who`` is the
    vCPU of a ``vcpu`` row, else ``-(index + 1)``; ``pc``/``mode``/``res``: see
    ``engine.state.TR_*``."""
    cap = S["TR"].shape[0]
    pos = int(S["G"][st.G_TRACE_POS])
    if cap == 0 or pos == 0:
        return pd.DataFrame(columns=_TRACE_COLUMNS)
    idx = np.arange(pos - min(pos, cap), pos) % cap  # oldest first
    tr = S["TR"][idx]
    kind = pd.Categorical.from_codes(tr[:, st.TR_KIND], categories=list(TRACE_KINDS.values()))
    return pd.DataFrame({"t_ns": S["TRT"][idx], "event": tr[:, st.TR_EVENT], "kind": kind,
                         "index": tr[:, st.TR_SLOT], "who": tr[:, st.TR_WHO],
                         "pc": tr[:, st.TR_PC], "mode": tr[:, st.TR_MODE],
                         "res": tr[:, st.TR_RES]})


class _Cancelled(Exception):
    """Raised in a worker thread that saw the cancel flag between two chunks."""


def _place_vm(LP, lay, k, lock_id, K, nlocks, vcpu0, nvcpu):
    """Write VM k's place in the run (lock, K, its lock instances, vCPUs, global words)
    and the host-wide node layout into its ``LP`` row."""
    LP[st.LP_LOCK_ID] = lock_id
    LP[st.LP_K] = K
    LP[st.LP_LOCK0] = lay["lock0"][k]
    LP[st.LP_NLOCKS] = nlocks
    LP[st.LP_VCPU0] = vcpu0
    LP[st.LP_NVCPU] = nvcpu
    LP[st.LP_GLOBAL_W0] = lay["gw0"][k]
    LP[st.LP_NODE_W0] = lay["M"]
    LP[st.LP_NODE_STRIDE] = lay["stride"]


def zipf_cdf(m: int, s: float) -> np.ndarray:
    """The Zipf lock choice of a VM with ``m`` instances and exponent ``s``: P(rank <= j)
    for j = 1..m (rank 1 = instance 0, the hottest; pmf proportional to rank^-s) in the
    kernel's fixed point (``st.CDF_ONE`` = 2^53, the last exactly that, never
    decreasing). The kernel draws one uniform u and takes the first j with
    u * 2^53 < cdf[j]."""
    p = np.arange(1, m + 1, dtype=np.float64) ** -float(s)
    c = np.cumsum(p / p.sum())
    out = np.minimum(np.round(c * st.CDF_ONE), st.CDF_ONE).astype(np.int64)
    out = np.maximum.accumulate(out)
    out[-1] = st.CDF_ONE
    return out


def _lock_table(LP, lay, zipf_s=None) -> np.ndarray:
    """The lock-instance table ``LK`` (one row per instance) from the VMs' ``LP`` rows;
    ``zipf_s``: the Zipf exponent of each VM whose ``LP_LOCK_CHOICE`` is Zipf."""
    LK = np.zeros((lay["M"], st.NLK), dtype=np.int64)
    for k in range(LP.shape[0]):
        m = int(LP[k, st.LP_NLOCKS])
        if LP[k, st.LP_LOCK_CHOICE] != 0:
            i0 = int(LP[k, st.LP_LOCK0])
            LK[i0:i0 + m, st.LK_CDF] = zipf_cdf(m, zipf_s[k])
        for j in range(m):
            i = int(LP[k, st.LP_LOCK0]) + j
            LK[i, st.LK_VM] = k
            if LP[k, st.LP_LOCK_ID] == st.LOCK_PV_QSPINLOCK:
                LK[i, st.LK_PVH_HASH] = _pvq.lock_hash(int(LP[k, st.LP_PVH_BITS]),
                                                       int(LP[k, st.LP_PVQ_VER]), j)
    return LK


def run_one(lock_id, module, n, K, P, LP, sock, rng, max_events, trace, timer,
            chunk_events=None, cancel=None):
    """Run one replication of one VM (``P``/``LP``: its parameter vectors, schedule
    included); return the state dict (outputs included). See :func:`run_state`."""
    lay = run_layout([(module, n, 1)])
    LP = LP.copy()
    _place_vm(LP, lay, 0, lock_id, K, 1, 0, n)
    LPr = LP[None, :]
    run = dict(P=P[None, :], LP=LPr, LK=_lock_table(LPr, lay), layout=lay, sock=sock,
               vm=np.zeros(n, dtype=np.int64), module=module, n=n)
    return run_state(run, rng, max_events, trace, timer, chunk_events, cancel)


def _host_arg(run) -> dict | None:
    """What ``hv_alloc`` needs of a run: a host run's scheduler and layout
    (``hostsim.simulate_host``), or the VM of each entity for a several-VM run under the
    round robin (its directed yields stay inside a VM); ``None``: one VM."""
    if "host" in run:
        return run["host"]
    ent_vm = run.get("ent_vm")
    if ent_vm is None or int(np.max(ent_vm, initial=0)) == 0:
        return None
    vm = run["vm"]
    nvm = int(np.max(ent_vm)) + 1
    v0 = [int(np.argmax(vm == k)) if np.any(vm == k) else run["n"] for k in range(nvm)]
    v1 = [v0[k] + int(np.sum(vm == k)) for k in range(nvm)]
    return {"ent_vm": ent_vm, "vm_v0": v0, "vm_v1": v1}


def run_state(run, rng, max_events, trace, timer, chunk_events=None, cancel=None):
    """Run one replication of a run (``build_run``: one row of ``P``/``LP`` per VM, the
    lock-instance table, the layout); return the state dict (outputs included).

    The kernel runs in chunks of at most ``chunk_events`` events (``None``: adapted so a
    chunk takes about :data:`CHUNK_SECONDS`); between chunks Python runs, so Ctrl-C is
    raised promptly and a set ``cancel`` event (``threading.Event``) stops the run. The
    chunking never changes the results: all state lives in the arrays and ``rng``.

    The trace ring (``trace`` events) is read only when a replication fails, and writing
    it costs every event (without it: 7 % more events/s at N = 8, 3 % in the 2-VM host
    case of ``pvqmodel bench``, issue 12).
    So the replication runs without it, and only if it fails (any status but
    ``ST_OK``) runs again from the same random state with the ring: the engine is
    deterministic and the ring is write-only, so the replay is the same run, event for
    event, up to the same failure, and its state is what is returned.
    """
    state0 = rng.bit_generator.state
    S = _run_chunks(run, rng, max_events, 0, timer, chunk_events, cancel)
    if trace > 0 and S["status"] != st.ST_OK:
        rng.bit_generator.state = state0
        S = _run_chunks(run, rng, max_events, trace, timer, chunk_events, cancel)
    return S


def _run_chunks(run, rng, max_events, trace, timer, chunk_events, cancel):
    """run_state's run, with a trace ring of ``trace`` events."""
    P, LP, n = run["P"], run["LP"], run["n"]
    S = _alloc(n, run["module"], trace, timer, npcpu=int(LP[0, st.LP_NPCPU]),
               nbg=int(LP[0, st.LP_NBG]), pinned=bool(LP[0, st.LP_PINNED]),
               drain=bool(P[0, st.P_DRAIN_NS] > 0), layout=run["layout"],
               host=_host_arg(run), sb=int(P[0, st.P_SB_ENTRIES]))
    I, F, G = S["I"], S["F"], S["G"]
    # the kernels draw from the bit generator (engine/rand.py: same streams, no NRT)
    bg = rng.bit_generator
    init_replication(P, LP, run["LK"], run["sock"], run["vm"], I, F, S["mem"], S["L"],
                     S["Q"], S["R"], S["H"], S["TF"], S["TI"], G, S["HO"], S["first"], bg)
    budget = CHUNK_FIRST if chunk_events is None else int(chunk_events)
    while True:
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        t0 = time.perf_counter()
        status = run_replication(
            P, LP, I, F, S["mem"], S["L"], S["Q"], S["R"], S["H"], S["TF"], S["TI"],
            G, S["TR"], S["TRT"], S["HO"], S["first"], max_events, budget, bg)
        if status != st.ST_PAUSED:
            break
        if chunk_events is None:
            dt = max(time.perf_counter() - t0, 1e-6)
            budget = int(min(CHUNK_MAX, max(CHUNK_FIRST, budget * min(
                4.0, CHUNK_SECONDS / dt))))
    S["status"] = int(status)
    # A run that stopped inside PV unlock slowpaths: each subtracted its start time from
    # the slowpath-time sum; count them as lasting until the stop (never negative).
    now = F[n, st.GF_NOW]
    for _ in range(int(G[st.G_SLOW_OPEN])):
        F[n, st.GF_SLOW_UNLOCK_NS] += now
    return S


#: Multiple of the per-waiter time scale the default watchdog allows (see
#: :func:`default_watchdog_ns`), and its floor (the historical 100 ms default).
WATCHDOG_MULTIPLE = 50.0
WATCHDOG_FLOOR_NS = 1e8
#: Serialized line transactions a handoff may take (lock word, node, notify, re-read...).
_HANDOFF_TRANSFERS = 8


def default_watchdog_ns(hw: Hardware, wl: Workload, sched: Schedule, tasks: int,
                        lock: str = "pv-qspinlock-v10", *,
                        floor: float = WATCHDOG_FLOOR_NS) -> float:
    """The default watchdog of :func:`simulate`: the longest time without an acquisition,
    while a task waits, that a *valid* run may show, derived from the run's own time
    constants.

    The watchdog measures the time since the last acquisition by anyone while some
    task waits. In a valid run that gap is at most the time the lock needs to pass once
    through every task that can be ahead of a waiter (``tasks``), each pass bounded by
    the time scale

    ``u = cs_ns + loop_ns + drain_ns + 8 (hit + rmw + pause + service + xfer_cross +
    shared + pv_call + pv_iter)`` (the holder's critical section; the loop the last
    acquirer was in when nobody waited; a store-buffer drain before the unlock is seen;
    a handoff's serialized line transactions), plus for a PV lock ``halt_ns + kick_ns +
    wake_ns`` (a halted waiter kicked awake), plus under a hypervisor schedule
    ``quantum_ns x ceil(vCPUs per pCPU)`` (a preempted holder or waiter waits a full
    rotation of its run queue) and ``ple_exit_ns`` with pause-loop exiting.

    Several of these are exponential draws, so the watchdog is ``WATCHDOG_MULTIPLE = 50``
    times ``tasks x u``: one exponential draw exceeds 50 means with probability
    e^-50 ~ 2e-22, so a valid run trips it with negligible probability even over 10^9
    draws; a deterministic run never comes near it. Never below the 100 ms floor
    (``floor``, default ``WATCHDOG_FLOOR_NS``). A genuine livelock or a lost wake-up that only a far
    interrupt rescues still trips it: ``spurious_ns`` is deliberately not in ``u``.
    """
    coh = (hw.hit_ns + hw.rmw_ns + hw.pause_ns + hw.service_ns + hw.xfer_cross_ns
           + hw.shared_ns + hw.pv_call_ns + hw.pv_iter_ns)
    u = wl.cs_ns + wl.loop_ns + hw.drain_ns + _HANDOFF_TRANSFERS * coh
    if lock in PV_LOCKS:
        u += sched.halt_ns + sched.kick_ns + sched.wake_ns
    if not sched.dedicated:
        npc, nbg = sched.layout(tasks)
        u += sched.quantum_ns * math.ceil((tasks + nbg) / npc)
        if sched.ple_window_ns is not None:
            u += sched.ple_exit_ns
    return max(floor, WATCHDOG_MULTIPLE * tasks * u)


def simulate(lock: str, tasks: int, ops_per_task: int, *, hardware: Hardware | None = None,
             workload: Workload | None = None, schedule: Schedule | None = None,
             reps: int = 4, seed: int = 0,
             tunables: LockTunables | None = None, max_events: int | None = None,
             watchdog_ns: float | None = None, trace: int = 256, timer: str = "auto",
             workers: int = 1, check: bool = True,
             chunk_events: int | None = None) -> SimResult:
    """Run ``reps`` replications of the seed micro-benchmark on the engine.

    Parameters
    ----------
    lock : ``"ticket"``, ``"qspinlock"`` (the seed's v10-era native lock; also
        ``"qspinlock-v10"`` and the table's ``"queue"``), ``"qspinlock-4.18"`` (the
        native 4.18+ form), ``"tas"``,
        ``"unfair-qspinlock"``, ``"pv-ticket"`` (3.12-3.19 PV ticket lock),
        ``"pv-qspinlock-v10"`` (the seed's PV qspinlock), ``"pv-qspinlock-v10-unfair"``
        (with ``CONFIG_PARAVIRT_UNFAIR_LOCKS``), or a merged PV qspinlock generation
        ``"pv-qspinlock-4.2"``, ``-4.3``, ``-4.4``, ``-4.5``, ``-4.11``, ``-4.15`` (hybrid),
        ``-5.4``; ``"pv-qspinlock"`` is the newest (``locks.pv_qspinlock.GENERATIONS``).
    tasks : number of contending tasks (vCPUs), 1..256, at most ``hardware.cores``.
    ops_per_task : lock/unlock operations per task (K), 1..10^8.
    hardware, workload : :class:`~pvqmodel.params.Hardware`, :class:`Workload`;
        default the calibrated ``westmere-ex`` preset and its seed benchmark.
    schedule : :class:`~pvqmodel.params.Schedule`; default dedicated pCPUs (bare metal).
    watchdog_ns : no acquisition for this long while tasks wait is a failure; default
        :func:`default_watchdog_ns` (50 x tasks x the run's per-handoff time scale, at
        least 100 ms).
    reps : replications; seed : root seed (``SeedSequence(seed).spawn(reps)``).
    workers : threads running replications concurrently (results do not depend on it).
    check : raise :class:`SimulationError` (with a trace) if a replication fails a check;
        with ``check=False`` the trace of each failed replication is in ``failures``.
    trace : events kept in each replication's trace ring (0..10^6): the last events of a
        failed replication, recorded by running it again from the same random state
        (a replication runs without the ring first: :func:`run_state`).
    timer : the pending-event set (engine/core.py): ``"dense"`` (a scan of every timer
        slot), ``"calendar"`` (a calendar queue), ``"auto"`` (dense up to
        :data:`DENSE_TIMER_MAX_SLOTS` slots). Results do not depend on it, only speed.
    chunk_events : events per kernel call (``None``: adapted to ~0.15 s a call). The
        kernel returns to Python between chunks, so Ctrl-C / Jupyter's interrupt stops
        the call within about a second (``KeyboardInterrupt``; with ``workers > 1`` the
        other threads stop at their next chunk and have ended when it propagates).
        Results do not depend on it.

    Memory: a call holds at most :data:`MEMORY_BUDGET` (1 GiB) of state and output
    arrays, computed from the array shapes before any kernel runs
    (:func:`memory_estimate`: the states of ``min(workers, reps)`` replications at
    once, each replication's rows, and with ``check=False`` a trace of ``trace`` rows
    per replication); a larger configuration raises ``ValueError``.

    Returns
    -------
    :class:`SimResult` with ``summary`` (one row per replication: lock, tasks, rep, ops,
    sim_ns, ns_per_op, ms_5m, events, status and counters), ``tasks`` and ``handoff``.
    """
    if isinstance(lock, str):
        lock = TABLE_LOCK_NAMES.get(lock, LOCK_ALIASES.get(lock, lock))
    lock = check_choice("lock", lock, tuple(sorted(LOCKS)) + ("queue",)
                        + tuple(sorted(LOCK_ALIASES)))
    hw = default_hardware() if hardware is None else check_instance("hardware", hardware,
                                                                   Hardware)
    wl = default_workload() if workload is None else check_instance("workload", workload,
                                                                   Workload)
    sched = check_instance("schedule", schedule, Schedule, none_ok=True) or Schedule()
    tun = check_instance("tunables", tunables, LockTunables, none_ok=True) or LockTunables()
    n = check_int("tasks", tasks, 1, MAX_VCPUS)
    if sched.dedicated and n > hw.cores:
        raise ValueError(f"tasks must be in [1, hardware.cores={hw.cores}] (no overcommit "
                         f"without a schedule), got {n}")
    if not sched.dedicated and sched.layout(n)[0] > hw.cores:
        raise ValueError(f"schedule.pcpus must be in [1, hardware.cores={hw.cores}], "
                         f"got {sched.layout(n)[0]}")
    K = check_int("ops_per_task", ops_per_task, 1, 10**8)
    reps = check_int("reps", reps, 1, 10_000)
    seed = check_seed("seed", seed)
    workers = check_int("workers", workers, 1, 256)
    trace = check_int("trace", trace, 0, 10**6)
    timer = check_choice("timer", timer, TIMERS)
    check = check_bool("check", check)
    if watchdog_ns is None:
        watchdog_ns = default_watchdog_ns(hw, wl, sched, n, lock)
    watchdog_ns = check_float("watchdog_ns", watchdog_ns, 1e-3, 1e18)
    if max_events is None:
        max_events = 2000 * n * K + 100_000
    max_events = check_int("max_events", max_events, 1, 2**62)
    if chunk_events is not None:
        chunk_events = check_int("chunk_events", chunk_events, 1, 2**62)
    lock_id, module = LOCKS[lock]
    npc, nbg = schedule_lp(np.zeros(st.NLP, dtype=np.int64), sched, n)
    need = memory_estimate(n, module, trace, timer, reps, workers, check, npcpu=npc, nbg=nbg,
                           pinned=sched.placement == "pinned",
                           drain=hw.drain_ns > 0, sb=hw.store_buffer)
    if need > MEMORY_BUDGET:
        raise ValueError(
            f"trace={trace} x reps={reps} (workers={workers}, check={check}, tasks={n}) "
            f"would hold {need / 2**30:.2f} GiB of state and output arrays, more than the "
            f"{MEMORY_BUDGET / 2**30:.0f} GiB budget (sim.MEMORY_BUDGET); lower trace "
            f"(0..{10**6}), reps or workers, or use check=True")
    ensure_compiled()
    P = param_array(hw, wl, float(watchdog_ns), sched, pv=lock in PV_LOCKS)
    LP = tun.array()
    if lock in PVQ_LOCKS:
        _pvq.fill_lp(LP, lock, n, steal=tun.pv_steal, wait_early=tun.pv_wait_early,
                     preempted=tun.pv_preempted_check)
    schedule_lp(LP, sched, n)
    sock = placement(n, hw, wl.placement)
    children = np.random.SeedSequence(seed).spawn(reps)
    cancel = threading.Event()

    def one(r):
        rng = np.random.Generator(np.random.PCG64(children[r]))
        return run_one(lock_id, module, n, K, P, LP, sock, rng, max_events, trace, timer,
                       chunk_events, cancel)

    out = _Collector(lock, n, K, reps, check)
    if workers > 1 and reps > 1:
        _run_threads(one, reps, workers, cancel, out)
    else:
        for r in range(reps):
            out.add(r, one(r))  # the state is dropped once its rows are taken
    return out.result()


@dataclass(frozen=True)
class VMSpec:
    """One VM of a multi-VM run (:func:`simulate_vms`): ``lock`` (a :data:`LOCKS` name,
    or ``None`` for a CPU-bound VM: always runnable entities that never lock, today's
    background vCPUs), ``vcpus``, and for a lock-running VM its ``ops_per_task`` (K),
    ``workload``, ``tunables`` and ``locks`` (lock instances, 1..4096; each operation
    takes one of the VM's: ``lock_choice="uniform"``, or ``"zipf"`` with exponent
    ``zipf_s`` in [0, 4], instance 0 the hottest). ``ipi_per_op`` in [0, 1]: the
    probability that an operation ends with a synchronous IPI to the VM's other vCPUs
    (engine/ipi.py), each target's handler taking ``ipi_handler_ns`` (0..1e9);
    ``pv_tlb_flush``: KVM's PV TLB flush (preempted targets flagged, not waited for)."""

    lock: str | None
    vcpus: int
    ops_per_task: int = 1000
    workload: Workload | None = None
    tunables: LockTunables | None = None
    locks: int = 1
    lock_choice: str = "uniform"
    zipf_s: float = 1.0
    ipi_per_op: float = 0.0
    ipi_handler_ns: float = 1000.0
    pv_tlb_flush: bool = False

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        if self.lock is not None:
            lock = TABLE_LOCK_NAMES.get(self.lock, LOCK_ALIASES.get(self.lock, self.lock)) \
                if isinstance(self.lock, str) else self.lock
            put("lock", check_choice("lock", lock, tuple(sorted(LOCKS))))
        put("vcpus", check_int("vcpus", self.vcpus, 1, MAX_VCPUS))
        put("ops_per_task", check_int("ops_per_task", self.ops_per_task, 1, 10**8))
        put("locks", check_int("locks", self.locks, 1, 4096))
        put("lock_choice", check_choice("lock_choice", self.lock_choice, LOCK_CHOICES))
        put("zipf_s", check_float("zipf_s", self.zipf_s, 0.0, 4.0))
        put("ipi_per_op", check_float("ipi_per_op", self.ipi_per_op, 0.0, 1.0))
        put("ipi_handler_ns", check_float("ipi_handler_ns", self.ipi_handler_ns, 0.0, 1e9))
        put("pv_tlb_flush", check_bool("pv_tlb_flush", self.pv_tlb_flush))
        if self.lock is None and self.ipi_per_op > 0:
            raise ValueError("ipi_per_op must be 0 for a CPU-bound VM (lock=None: it runs no "
                             f"workload loop), got {self.ipi_per_op}")
        check_instance("workload", self.workload, Workload, none_ok=True)
        check_instance("tunables", self.tunables, LockTunables, none_ok=True)


def build_run(vms, hw: Hardware, sched: Schedule, watchdog_ns: float) -> dict:
    """The arrays of a run of several VMs (``vms``: :class:`VMSpec`, the lock-running
    VMs first, then any CPU-bound ones): engine vCPUs are VM 0's, then VM 1's, ...;
    one ``P``/``LP`` row per VM (host-wide values identical in every row, the kernel
    reads row 0's); the lock-instance table; the memory layout; each vCPU's socket and
    VM; ``ent_vm``, the VM of each of the ``n + nbg`` scheduling entities (the CPU-bound
    ones after the ``n`` lock-running vCPUs; without a CPU-bound VM, the schedule's own
    background vCPUs, ``Schedule.layout``, form one more VM, id ``len(vms)``)."""
    vms = list(vms)
    locking = [v for v in vms if v.lock is not None]
    if not locking:
        raise ValueError("vms must hold at least one VM with a lock, got none")
    if any(v.lock is None for v in vms[:len(locking)]):
        raise ValueError("vms: CPU-bound VMs (lock=None) must come after every lock VM")
    n = sum(v.vcpus for v in locking)
    if n > MAX_VCPUS:
        raise ValueError(f"vms: lock-running vCPUs must be in [1, {MAX_VCPUS}], got {n}")
    lay = run_layout([(LOCKS[v.lock][1], v.vcpus, v.locks) for v in locking])
    P = np.zeros((len(vms), st.NP))
    LP = np.zeros((len(vms), st.NLP), dtype=np.int64)
    sock = np.zeros(n, dtype=np.int64)
    vm = np.zeros(n, dtype=np.int64)
    c0 = 0
    for k, spec in enumerate(vms):
        wl = spec.workload or default_workload()
        tun = spec.tunables or LockTunables()
        lock = spec.lock or locking[0].lock
        P[k] = param_array(hw, wl, watchdog_ns, sched, pv=lock in PV_LOCKS)
        LP[k] = tun.array()
        schedule_lp(LP[k], sched, n)
        if spec.lock is None:
            continue
        if spec.lock in PVQ_LOCKS:
            _pvq.fill_lp(LP[k], spec.lock, spec.vcpus, steal=tun.pv_steal,
                         wait_early=tun.pv_wait_early, preempted=tun.pv_preempted_check)
        _place_vm(LP[k], lay, k, LOCKS[spec.lock][0], spec.ops_per_task, spec.locks, c0,
                  spec.vcpus)
        LP[k, st.LP_LOCK_CHOICE] = LOCK_CHOICES.index(spec.lock_choice)
        P[k, st.P_IPI_PER_OP] = spec.ipi_per_op
        P[k, st.P_IPI_HANDLER] = spec.ipi_handler_ns
        P[k, st.P_PV_TLB_FLUSH] = 1.0 if spec.pv_tlb_flush else 0.0
        sock[c0:c0 + spec.vcpus] = placement(n, hw, wl.placement)[c0:c0 + spec.vcpus]
        vm[c0:c0 + spec.vcpus] = k
        c0 += spec.vcpus
    bound = [(k, v.vcpus) for k, v in enumerate(vms) if v.lock is None]
    if bound:
        if sched.dedicated:
            raise ValueError("vms: a CPU-bound VM needs a schedule (pCPUs to share), "
                             "got the dedicated Schedule()")
        LP[:, st.LP_NBG] = sum(c for _, c in bound)
        ent_bg = [k for k, c in bound for _ in range(c)]
    else:
        ent_bg = [len(vms)] * int(LP[0, st.LP_NBG])
    ent_vm = np.concatenate([vm, np.array(ent_bg, dtype=np.int64)])
    LK = _lock_table(LP[:len(locking)], lay, [v.zipf_s for v in locking])
    return dict(P=P, LP=LP, LK=LK, layout=lay, sock=sock, vm=vm, ent_vm=ent_vm,
                module=LOCKS[locking[0].lock][1], n=n, nbg=int(LP[0, st.LP_NBG]), vms=vms)


def simulate_vms(vms, *, hardware: Hardware | None = None, schedule: Schedule | None = None,
                 reps: int = 1, seed: int = 0, max_events: int | None = None,
                 watchdog_ns: float | None = None, trace: int = 256,
                 timer: str = "auto") -> SimResult:
    """Run ``reps`` replications of several VMs (:class:`VMSpec`) in one engine run.

    Returns a :class:`SimResult` whose ``summary`` has one row per (replication, lock
    VM): ``vm``, ``lock``, ``vcpus``, ``ops``, ``acquisitions``, ``wait_ns`` (total lock
    wait), ``done_ns`` (its last vCPU's completion), ``ops_per_s``, ``status``; and
    ``tasks`` one row per vCPU (``vm``, ``task``, ``ops``, ``acquisitions``,
    ``wait_ns``, ``done_ns``). A failed check raises :class:`SimulationError`."""
    vms = [check_instance("vms[]", v, VMSpec) for v in vms]
    hw = default_hardware() if hardware is None else check_instance("hardware", hardware,
                                                                   Hardware)
    sched = check_instance("schedule", schedule, Schedule, none_ok=True) or Schedule()
    reps = check_int("reps", reps, 1, 10_000)
    seed = check_seed("seed", seed)
    trace = check_int("trace", trace, 0, 10**6)
    timer = check_choice("timer", timer, TIMERS)
    locking = [v for v in vms if v.lock is not None]
    n = sum(v.vcpus for v in locking)
    if sched.dedicated and n > hw.cores:
        raise ValueError(f"vms: lock-running vCPUs must be in [1, hardware.cores={hw.cores}] "
                         f"(no overcommit without a schedule), got {n}")
    if watchdog_ns is None:
        watchdog_ns = max(default_watchdog_ns(hw, v.workload or default_workload(), sched,
                                              n, v.lock) for v in locking)
    watchdog_ns = check_float("watchdog_ns", watchdog_ns, 1e-3, 1e18)
    if max_events is None:
        max_events = 2000 * sum(v.vcpus * v.ops_per_task for v in locking) + 100_000
    max_events = check_int("max_events", max_events, 1, 2**62)
    run = build_run(vms, hw, sched, float(watchdog_ns))
    ensure_compiled()
    children = np.random.SeedSequence(seed).spawn(reps)
    rows, tasks = [], []
    for r in range(reps):
        S = run_state(run, np.random.Generator(np.random.PCG64(children[r])), max_events,
                      trace, timer)
        status = S["status"]
        if status != st.ST_OK:
            raise SimulationError(
                f"vms, rep {r}: {STATUS_TEXT.get(status, status)} after "
                f"{int(S['G'][st.G_EVENTS])} events; last events:\n"
                f"{_trace_frame(S).tail(40).to_string()}", status, _trace_frame(S))
        I, F = S["I"], S["F"]
        acqs = I[:, st.ACQ_SEQ] - I[:, st.IN_ACQ]  # acquisitions started and completed
        for k, spec in enumerate(locking):
            m = run["vm"] == k
            done = float(F[:n][m, st.F_DONE_T].max())
            ops = int(I[m, st.OPS_DONE].sum())
            rows.append({"rep": r, "vm": k, "lock": spec.lock, "vcpus": spec.vcpus,
                         "ops": ops, "acquisitions": int(acqs[m].sum()),
                         "wait_ns": float(F[:n][m, st.F_WAIT_NS].sum()), "done_ns": done,
                         "ops_per_s": ops / done * 1e9 if done > 0 else float("nan"),
                         "status": STATUS_TEXT[status]})
        tasks.append(pd.DataFrame({"rep": r, "vm": run["vm"], "task": np.arange(n),
                                   "ops": I[:, st.OPS_DONE], "acquisitions": acqs,
                                   "wait_ns": F[:n, st.F_WAIT_NS],
                                   "done_ns": F[:n, st.F_DONE_T]}))
    return SimResult(pd.DataFrame(rows), pd.concat(tasks, ignore_index=True),
                     pd.DataFrame())


def _run_threads(one, reps, workers, cancel, out):
    """Run ``one(r)`` for every replication on ``workers`` threads (the kernel releases
    the GIL), collecting each as it finishes. Any exception in the calling thread
    (Ctrl-C's KeyboardInterrupt, a failed check) sets ``cancel``: running replications
    stop at their next chunk boundary, queued ones never start, and every thread has
    ended before the exception propagates."""
    ex = ThreadPoolExecutor(max_workers=workers)
    futures = {}
    try:
        futures = {ex.submit(one, r): r for r in range(reps)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for f in done:
                out.add(futures[f], f.result())
    except BaseException:
        cancel.set()
        for f in futures:
            f.cancel()
        raise
    finally:
        ex.shutdown(wait=True)


class _Collector:
    """Turns each finished replication's state into its rows at once (so only the
    running replications' states are held), then assembles the DataFrames in
    replication order. With ``check``, the lowest failing replication raises
    :class:`SimulationError` as soon as every replication before it is in."""

    def __init__(self, lock, n, K, reps, check):
        self.lock, self.n, self.K, self.reps, self.check = lock, n, K, reps, check
        self.rows, self.tasks, self.handoff, self.waits = {}, {}, {}, {}
        self.ents = {}
        self.failures = {}
        self.errors = {}

    def add(self, r, S):
        lock, n, K = self.lock, self.n, self.K
        G, I, F = S["G"], S["I"], S["F"][:n]
        status = S["status"]
        if status != st.ST_OK:
            tr = _trace_frame(S)
            if self.check:
                self.errors[r] = SimulationError(
                    f"{lock}, {n} tasks, rep {r}: {STATUS_TEXT.get(status, status)} "
                    f"after {int(G[st.G_EVENTS])} events; last events:\n"
                    f"{tr.tail(40).to_string()}", status, tr)
                self._maybe_raise()
                return
            self.failures[r] = tr
        done_t = F[:, st.F_DONE_T]
        # a run that stopped (a failure, or the end of a fixed-duration run) lasted until
        # its last event
        finished = status == st.ST_OK and G[st.G_DONE] >= n
        sim_ns = float(done_t.max()) if finished else float(S["F"][n, st.GF_NOW])
        ops = int(G[st.G_OPS])
        first = S["first"].astype(float)
        share = first / first.mean() if first.sum() > 0 else np.zeros(n)
        row = {
            "lock": lock, "tasks": n, "rep": r, "ops_per_task": K, "ops": ops,
            "sim_ns": sim_ns, "ns_per_op": sim_ns / max(ops, 1),
            "ms_5m": sim_ns / max(ops, 1) * n * SEED_OPS_PER_TASK / 1e6,
            "events": int(G[st.G_EVENTS]), "status": STATUS_TEXT.get(status, str(status)),
            "status_code": int(status), "acquisitions": int(G[st.G_ACQS]),
            "last_acq_ns": float(S["F"][n, st.GF_LAST_ACQ]),
            "line_requests": int(G[st.G_REQS]), "hits": int(G[st.G_HITS]),
            "xfer_same": int(G[st.G_XFER_SAME]), "xfer_cross": int(G[st.G_XFER_CROSS]),
            "shared_reads": int(G[st.G_SHARED_READS]), "rmw": int(G[st.G_RMW]),
            "spinner_wakes": int(G[st.G_WAKES]), "spin_timeouts": int(G[st.G_TIMEOUTS]),
            "steals": int(G[st.G_STEALS]),
            "halts": int(sum(G[st.G_HALT0 + k] for k in range(st.HALT_IDLE))),
            "idle_halts": int(G[st.G_HALT0 + st.HALT_IDLE]),
            "halts_node": int(G[st.G_HALT0 + st.HALT_NODE]),
            "halts_head": int(G[st.G_HALT0 + st.HALT_HEAD]),
            "kicks": int(G[st.G_KICKS]), "kicks_nohalt": int(G[st.G_KICK_NOHALT]),
            "pv_kicks_nohalt": int(G[st.G_PV_KICK_NOHALT]),
            "kicks_stale": int(G[st.G_KICK_STALE]), "spurious_wakes": int(G[st.G_SPURIOUS]),
            "kicked_wakes": int(G[st.G_WAKE_KICKED]), "latch_hits": int(G[st.G_LATCH_HITS]),
            "wake_latency_ns": float(S["F"][n, st.GF_WAKE_LAT] / G[st.G_WAKE_KICKED])
            if G[st.G_WAKE_KICKED] > 0 else float("nan"),
            "slow_unlocks": int(G[st.G_SLOW_UNLOCKS]),
            "slow_unlock_ns": float(S["F"][n, st.GF_SLOW_UNLOCK_NS]),
            "halted_ns": float(S["F"][n, st.GF_BLOCKED_NS]),
            "preemptions": int(G[st.G_PREEMPTS]), "lhp": int(G[st.G_LHP]),
            "ple_exits": int(G[st.G_PLE_EXITS]), "directed_yields": int(G[st.G_DYIELDS]),
            "directed_yields_kicked": int(G[st.G_DY_KICKED]),
            "wakeup_preemptions": int(G[st.G_WAKE_PREEMPTS]),
            "holder_off_ns": int(G[st.G_CS_PREEMPT_NS]),
            "path_fast": int(G[st.G_PATH0 + st.PATH_FAST]),
            "path_pending": int(G[st.G_PATH0 + st.PATH_PENDING]),
            "path_queue": int(G[st.G_PATH0 + st.PATH_QUEUE]),
            "path_steal": int(G[st.G_PATH0 + st.PATH_STEAL]),
            "path_spin": int(G[st.G_PATH0 + st.PATH_SPIN]),
            # the kernel's qstat / lock_events (merged PV qspinlock; 0 for other locks)
            "lock_pending": int(G[st.G_PATH0 + st.PATH_PENDING]),
            "lock_slowpath": int(G[st.G_LOCK_SLOWPATH]),
            "pv_lock_slowpath": int(G[st.G_LOCK_SLOWPATH]),
            "pv_hash_hops": float(G[st.G_PV_HASH_HOPS] / G[st.G_PV_KICK_UNLOCK])
            if G[st.G_PV_KICK_UNLOCK] > 0 else float("nan"),
            "pv_hash_hops_sum": int(G[st.G_PV_HASH_HOPS]),
            "pv_hash_calls": int(G[st.G_PV_HASH_CALLS]),
            "pv_kick_node": int(G[st.G_PV_KICK_NODE]),
            "pv_kick_unlock": int(G[st.G_PV_KICK_UNLOCK]),
            "pv_kick_wake": int(G[st.G_WAKE_KICKED]),
            "pv_latency_kick": float(S["F"][n, st.GF_PV_KICK_NS] / G[st.G_PV_KICK_UNLOCK])
            if G[st.G_PV_KICK_UNLOCK] > 0 else float("nan"),
            "pv_latency_wake": float(S["F"][n, st.GF_WAKE_LAT] / G[st.G_WAKE_KICKED])
            if G[st.G_WAKE_KICKED] > 0 else float("nan"),
            "pv_lock_stealing": int(G[st.G_PV_LOCK_STEALING]),
            "pv_spurious_wakeup": int(G[st.G_PV_SPURIOUS_WAKEUP]),
            "pv_wait_again": int(G[st.G_PV_WAIT_AGAIN]),
            "pv_wait_early": int(G[st.G_PV_WAIT_EARLY]),
            "pv_wait_head": int(G[st.G_PV_WAIT_HEAD]),
            "pv_wait_node": int(G[st.G_PV_WAIT_NODE]),
            # the authors' invariants (kernel-locks.md §2.5), read by the tests
            "pvq_hash_entries_max": int(G[st.NG + st.GL_PVQ_ENTRIES_MAX::st.NGL].max()),
            "pvq_hash_entries_left": int(G[st.NG + st.GL_PVQ_ENTRIES::st.NGL].sum()),
            "pvq_unhash_miss": int(G[st.G_PVQ_UNHASH_MISS]),
            "pvq_release_hashed": int(G[st.G_PVQ_REL_HASHED]),
            "pvq_multi_kick": int(G[st.G_PVQ_MULTI_KICK]),
            "pvq_halted_acqs": int(G[st.G_PVQ_HALTED_ACQS]),
            "pvq_unlock_nokick": int(G[st.G_PVQ_UNLOCK_NOKICK]),
            "min_share": float(share.min()), "completion_spread": float(
                (done_t.max() - done_t.min()) / done_t.max()) if done_t.max() > 0 else 0.0,
        }
        row["transfers_per_op"] = (row["xfer_same"] + row["xfer_cross"]) / max(ops, 1)
        self.rows[r] = row
        ents = hv_entity_frame(S["H"], n, sim_ns)
        ents["rep"] = np.full(len(ents["entity"]), r)
        self.ents[r] = ents
        t = np.arange(n)
        self.tasks[r] = {"lock": [lock] * n, "tasks": np.full(n, n), "rep": np.full(n, r),
                         "task": t, "socket": I[:, st.SOCKET].copy(),
                         "ops": I[:, st.OPS_DONE].copy(), "done_ns": done_t.copy(),
                         "share_at_first_done": share.astype(float),
                         "halted": I[:, st.VSTATE] == st.VS_HALTED,
                         "ple_exits": I[:, st.PLE_N].copy(), "boosted": I[:, st.BOOSTED].copy(),
                         "pc": I[:, st.PC].copy()}
        HO = S["HO"]
        self.waits[r] = HO[n + 1:, 0].copy()
        self.handoff[r] = [{"lock": lock, "tasks": n, "rep": r, "waiters": k,
                            "handoff_ns": HO[k, 0] / HO[k, 1], "count": int(HO[k, 1])}
                           for k in range(n + 1) if HO[k, 1] > 0]
        self._maybe_raise()

    def _maybe_raise(self):
        if self.errors:
            first = min(self.errors)
            if all(q in self.rows for q in range(first)):
                raise self.errors[first]

    def result(self) -> SimResult:
        self._maybe_raise()
        reps = sorted(self.rows)
        lock, n = self.lock, self.n
        tasks = pd.concat([pd.DataFrame(self.tasks[r]) for r in reps], ignore_index=True) \
            if reps else pd.DataFrame()
        hrows = [h for r in reps for h in self.handoff[r]]
        return SimResult(
            pd.DataFrame([self.rows[r] for r in reps]), tasks, pd.DataFrame(
                hrows, columns=["lock", "tasks", "rep", "waiters", "handoff_ns", "count"]),
            dict(sorted(self.failures.items())),
            _wait_frame(lock, n, [self.waits[r] for r in reps]),
            pd.concat([pd.DataFrame(self.ents[r]) for r in reps], ignore_index=True)
            if reps else pd.DataFrame())


def _wait_frame(lock, n, waits) -> pd.DataFrame:
    """Acquisition waits (lock entry -> acquired) as a log2 histogram summed over
    replications: bin b holds waits in [2^b - 1, 2^(b+1) - 1) ns."""
    h = np.sum(waits, axis=0) if waits else np.zeros(WAIT_BINS)
    b = np.arange(len(h))
    return pd.DataFrame({"lock": lock, "tasks": n, "bin": b, "lo_ns": 2.0**b - 1,
                         "hi_ns": 2.0 ** (b + 1) - 1, "count": h.astype(np.int64)})
