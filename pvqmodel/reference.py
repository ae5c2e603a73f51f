"""A small SimPy model of the ticket lock and the v10 qspinlock: the engine's oracle.

Written independently of :mod:`pvqmodel.engine` (no shared code, only the documented
cost model): each vCPU is a SimPy process running the benchmark loop, each cache line
has a home process serving its request queue in random order. Two spin models:

- ``spin="iterate"`` (the default, :class:`RefMachine`): **spin loops are simulated one
  iteration at a time** (load, compare, PAUSE), so this model also checks the engine's
  spin-parking shortcut.
- ``spin="park"`` (:class:`ParkedMachine`): the engine's granularity, for a fair speed
  comparison (``pvqmodel bench``). A spinner whose load fails its condition is parked on
  its line's watcher list (unless the line was written after its load was served: then
  it re-reads one iteration later); a write wakes the watchers when its snoop reaches
  them (service start) and those parked since at its effect; each re-reads at a uniform
  phase within one iteration (``hit_ns + pause_ns``), one line transaction through the
  same home queue and transfer costs.

Both count their events as the engine does (``events``: one per vCPU wake-up, i.e. a
delay, a hit, a miss's resume, a re-read, a store-buffer drain, plus one per line service
completion); SimPy's own scheduled events are ``simpy_events``.

The cost model is the one documented in ``pvqmodel/engine/coherence.py``: hits need a
valid copy and no snoop in flight; a miss is served by the line's home for a uniform
[0, 2 service] time plus the non-overlapped part of the transfer (and the locked-RMW
time), takes effect then, and the requester continues after the full transfer latency; a
snoop reaches the holder after the home's lookup but not before the holder has had one
hit time to use the line; plain stores go through a one-entry store buffer drained before
locked operations and same-line accesses. The switchable mechanisms of issue 16
(``Hardware.latency_classes``, ``upgrade_ns``, ``read_serial_ns``, ``snoop_frac``,
``jitter``, ``locked_gap_ns``) are implemented here too, from their documentation in
``Hardware``, so that the oracle covers them.
Slow by design; use small N and K.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .params import Hardware, Workload

LOAD, STORE, XADD, CMPXCHG, XCHG, PREFW = range(6)
# a multi-entry store buffer's entry states (Hardware.store_buffer > 1)
SB_STORE, SB_PREF, SB_OWNED, SB_WAIT = range(1, 5)


class _Entry:
    """A store in a multi-entry store buffer: its request (an early RFO, ``PREFW``,
    until it is the oldest entry), its line, its release flag and state."""

    def __init__(self, r, line, release, state):
        self.r, self.line, self.release, self.state = r, line, release, state


class _Line:
    def __init__(self):
        self.owner = -1
        self.sharers = set()
        self.queue = []
        self.cur = None
        self.arrive = 0.0
        self.wseq = 0  # writes so far (a parked spinner checks it did not miss one)
        self.watchers = []  # (vCPU, event) parked on this line (ParkedMachine)


class _Req:
    def __init__(self, v, op, word, mask, val, exp, ev):
        self.v, self.op, self.word, self.mask, self.val, self.exp = v, op, word, mask, val, exp
        self.ev = ev
        self.snoop = np.inf
        self.old = 0
        self.ok = 1
        self.wseq = 0


class RefMachine:
    def __init__(self, env, n, hw: Hardware, wl: Workload, sock, rng, words_per_cpu):
        import simpy  # noqa: F401  (a dev dependency)

        self.env, self.n, self.hw, self.wl, self.rng = env, n, hw, wl, rng
        self.sock = sock
        self.mem = {}
        self.nwords = 1 + words_per_cpu * n
        self.wline = [0] + [1 + (w - 1) // words_per_cpu for w in range(1, self.nwords)] \
            if words_per_cpu else [0]
        self.lines = [_Line() for _ in range(n + 1)]
        self.sb = [None] * n  # pending buffered store event per vCPU
        self.sbq = [[] for _ in range(n)]  # multi-entry store buffer: entries, oldest first
        self.sb_waiting = [None] * n  # event a vCPU waiting for its buffer waits on
        self.holder = -1
        self.violations = 0
        self.ops = 0
        self.events = 0  # counted like the engine's (see the module docstring)
        self.wseq = [0] * n  # line write count seen by each vCPU's last access

    def timeout(self, t):
        """A delay of the calling vCPU: one event."""
        self.events += 1
        return self.env.timeout(t)

    def _pick(self, k):
        """The waiting request the home serves next: uniform among ``k``."""
        return int(self.rng.integers(0, k))

    # hooks of the parked-spinner model (no-ops here: the oracle's behaviour and random
    # stream are unchanged)
    def _on_service_start(self, ln, r):
        pass

    def _on_write(self, ln, r):
        pass

    # ---- coherence -------------------------------------------------------------------
    def _hit(self, ln, v, op):
        cur = ln.cur
        if cur is not None and cur.v != v and self.env.now >= cur.snoop:
            if cur.op != LOAD or op != LOAD:
                return False
        if op == LOAD:
            return ln.owner == v or v in ln.sharers
        return ln.owner == v

    def _apply(self, r):
        w, m = r.word, r.mask
        old = self.mem.get(w, 0)
        r.old, r.ok = old, 1
        if r.op == STORE or r.op == XCHG:
            self.mem[w] = (old & ~m) | (r.val & m)
        elif r.op == XADD:
            self.mem[w] = old + r.val
        elif r.op == CMPXCHG:
            if (old & m) == r.exp:
                self.mem[w] = (old & ~m) | (r.val & m)
            else:
                r.ok = 0
        ln = self.lines[self.wline[w]]
        if r.op == LOAD:
            if ln.owner >= 0 and ln.owner != r.v:
                ln.sharers.add(ln.owner)
                ln.owner = -1
            if ln.owner != r.v:
                ln.sharers.add(r.v)
        else:
            ln.sharers = set()
            ln.owner = r.v
            ln.wseq += 1
            self._on_write(ln, r)
        r.wseq = ln.wseq
        if getattr(r, "release", False):
            if self.holder != r.v:
                self.violations += 1
            self.holder = -1

    def _serve(self, ln):
        hw, env = self.hw, self.env
        while ln.queue:
            r = ln.queue.pop(self._pick(len(ln.queue)))
            moving = False
            serial = 0.0
            if ln.owner >= 0 and ln.owner != r.v:
                moving = True
                lat = hw.xfer_same_ns if self.sock[ln.owner] == self.sock[r.v] else \
                    hw.xfer_cross_ns
            elif r.op != LOAD:
                moving = True
                others = [u for u in ln.sharers if u != r.v]
                if not others:
                    lat = hw.shared_ns
                elif all(self.sock[u] != self.sock[r.v] for u in others):
                    lat = hw.xfer_cross_ns
                elif hw.latency_classes == 3:  # U: invalidate the Shared copies
                    lat = hw.upgrade_ns
                elif r.v in ln.sharers:  # upgrade of our own shared copy
                    lat = hw.shared_ns
                else:
                    lat = hw.xfer_same_ns
            else:
                lat = hw.shared_ns
                serial = hw.read_serial_ns
            if hw.jitter > 0.0:
                lat *= 1.0 + hw.jitter * (2.0 * self.rng.random() - 1.0)
            svc = 2.0 * hw.service_ns * self.rng.random()
            extra = hw.rmw_ns if r.op in (XADD, CMPXCHG, XCHG) else 0.0
            occ = svc + serial + ((1.0 - hw.overlap) * lat
                                  + (extra if hw.rmw_holds_home else 0.0) if moving else 0.0)
            ln.cur = r
            r.snoop = max(env.now + svc + hw.snoop_frac * lat,
                          int(ln.arrive * 1e3) * 1e-3 + hw.hit_ns)
            resume = env.now + svc + lat + extra
            if moving:
                ln.arrive = resume
            if r.op != LOAD:
                self._on_service_start(ln, r)
            yield env.timeout(occ)
            self.events += 1
            self._apply(r)
            ln.cur = None
            r.ev.succeed(max(resume - env.now, 0.0))

    # ---- multi-entry store buffer (hw.store_buffer > 1) ---------------------------------
    def _issue(self, ln, r):
        ln.queue.append(r)
        if ln.cur is None and len(ln.queue) == 1:
            self.env.process(self._serve(ln))

    def _sb_done(self, v, e):
        """An entry's request completed: an early RFO leaves the line granted; the store
        itself (the oldest entry) has committed."""
        if e.state == SB_PREF:
            e.state = SB_OWNED
        else:
            self._sb_pop(v)

    def _sb_pop(self, v):
        """The oldest entry committed: drop it; the next one commits in order (an early
        RFO in flight becomes the store; a granted or waiting one is issued now)."""
        q = self.sbq[v]
        q.pop(0)
        if q:
            h = q[0]
            if h.state == SB_PREF:
                h.state = SB_STORE
                h.r.op, h.r.release = STORE, h.release
            else:
                self.env.process(self._sb_commit(v, h))
        ev = self.sb_waiting[v]
        if ev is not None:
            self.sb_waiting[v] = None
            ev.succeed()

    def _sb_commit(self, v, h):
        yield self.env.timeout(0.0)
        self.events += 1
        h.state = SB_STORE
        r = _Req(v, STORE, h.r.word, h.r.mask, h.r.val, 0, self.env.event())
        r.release = h.release
        h.r = r
        ln = self.lines[h.line]
        if self._hit(ln, v, STORE):
            self._apply(r)
            self._sb_pop(v)
            return
        r.ev.callbacks.append(lambda ev, v=v, h=h: self._sb_done(v, h))
        self._issue(ln, r)

    def _access_sb(self, v, op, word, mask, val, exp, release, buffered):
        """``access`` with a multi-entry store buffer (as engine/kernel.py sb_waits and
        sb_store): smp_mb/locked ops wait for it to empty, a store waits only while it is
        full, a load while an entry on its line is pending."""
        env, hw, q = self.env, self.hw, self.sbq[v]
        ln_i = self.wline[word]
        locked = op in (XADD, CMPXCHG, XCHG)

        def waits():
            if not q:
                return False
            if locked:
                return True
            if buffered:
                return len(q) >= hw.store_buffer
            return any(e.line == ln_i for e in q)
        while waits():
            ev = env.event()
            self.sb_waiting[v] = ev
            yield ev
            self.events += 1
            if locked and not q and hw.locked_gap_ns > 0.0:
                yield env.timeout(hw.locked_gap_ns)
        ln = self.lines[ln_i]
        r = _Req(v, op, word, mask, val, exp, env.event())
        r.release = release
        if buffered and q:
            e = _Entry(r, ln_i, release, SB_PREF)
            q.append(e)
            r.release = False
            if any(o.line == ln_i for o in q[:-1]):
                e.state = SB_WAIT
            elif self._hit(ln, v, STORE):
                e.state = SB_OWNED
            else:
                r.op = PREFW
                r.ev.callbacks.append(lambda ev, v=v, e=e: self._sb_done(v, e))
                self._issue(ln, r)
            yield self.timeout(hw.hit_ns)
            return 0, 1
        if self._hit(ln, v, op):
            return (yield from self._hit_done(v, r))
        self._issue(ln, r)
        if buffered:
            e = _Entry(r, ln_i, release, SB_STORE)
            q.append(e)
            r.ev.callbacks.append(lambda ev, v=v, e=e: self._sb_done(v, e))
            yield self.timeout(hw.hit_ns)
            return 0, 1
        return (yield from self._reply(v, r))

    def _hit_done(self, v, r):
        """Generator: a hit takes effect now; the vCPU goes on after the hit time (plus
        the locked operation's)."""
        self._apply(r)
        yield self.timeout(self.hw.hit_ns + (self.hw.rmw_ns if r.op in (XADD, CMPXCHG, XCHG)
                                             else 0.0))
        self.wseq[v] = r.wseq
        return r.old, r.ok

    def _reply(self, v, r):
        """Generator: a blocking miss; the vCPU goes on after its transfer latency."""
        delay = yield r.ev
        yield self.timeout(delay)
        self.wseq[v] = r.wseq
        return r.old, r.ok

    def access(self, v, op, word, mask=-1, val=0, exp=0, release=False, buffered=False):
        """Generator: one memory operation; returns (old, ok)."""
        env, hw = self.env, self.hw
        if hw.store_buffer > 1:
            return (yield from self._access_sb(v, op, word, mask, val, exp, release,
                                               buffered))
        ln_i = self.wline[word]
        sb = self.sb[v]
        if sb is not None and (buffered or op != LOAD or self.wline[sb[1]] == ln_i):
            yield sb[0]
            self.events += 1
            if op in (XADD, CMPXCHG, XCHG) and hw.locked_gap_ns > 0.0:
                yield env.timeout(hw.locked_gap_ns)  # starts a while after the drain
        ln = self.lines[ln_i]
        r = _Req(v, op, word, mask, val, exp, env.event())
        r.release = release
        if self._hit(ln, v, op):
            return (yield from self._hit_done(v, r))
        self._issue(ln, r)
        if buffered:
            done = env.event()
            self.sb[v] = (done, word)

            def _drained(ev, v=v, done=done):
                self.sb[v] = None
                done.succeed()
            r.ev.callbacks.append(_drained)
            yield self.timeout(hw.hit_ns)
            return 0, 1
        return (yield from self._reply(v, r))

    def spin(self, v, word, mask, eq, val):
        """Naive spin loop, one iteration at a time: load; test; PAUSE."""
        while True:
            old, _ = yield from self.access(v, LOAD, word)
            if ((old & mask) == val) == eq:
                return old
            yield self.timeout(self.hw.pause_ns)


class ParkedMachine(RefMachine):
    """The same machine with spinners parked at the engine's granularity (see the module
    docstring): one event per line transaction, none per spin iteration."""

    def _pick(self, k):
        # the same uniform choice from the float stream: a third of the cost of
        # Generator.integers (this model is the bench's speed peer; its stream is its own)
        return int(self.rng.random() * k)

    def _wake(self, ln, writer, at):
        it = self.hw.hit_ns + self.hw.pause_ns
        keep = []
        for u, ev in ln.watchers:
            if u == writer:
                keep.append((u, ev))
            else:
                ev.succeed(at + self.rng.random() * it)
        ln.watchers = keep

    def _on_service_start(self, ln, r):
        # the invalidation reaches the parked spinners with the snoop, before the write
        # takes effect: their re-reads queue behind it
        if ln.watchers:
            self._wake(ln, r.v, max(r.snoop, self.env.now))

    def _on_write(self, ln, r):
        if ln.watchers:  # parked after the write's service started
            self._wake(ln, r.v, self.env.now)

    def spin(self, v, word, mask, eq, val):
        """Load; if the condition fails, park on the line until a write wakes us."""
        ln = self.lines[self.wline[word]]
        it = self.hw.hit_ns + self.hw.pause_ns
        while True:
            old, _ = yield from self.access(v, LOAD, word)
            if ((old & mask) == val) == eq:
                return old
            if ln.wseq != self.wseq[v]:  # written after our load was served: re-read
                yield self.timeout(it)
                continue
            ev = self.env.event()
            ln.watchers.append((v, ev))
            t = yield ev
            yield self.timeout(max(t - self.env.now, 0.0))


# ---- locks, written from the kernel source independently of pvqmodel/locks -----------
def _ticket_lock(m, v):
    old, _ = yield from m.access(v, XADD, 0, -1, 1 << 32)
    me = old >> 32
    if (old & 0xFFFFFFFF) != me:
        yield from m.spin(v, 0, 0xFFFFFFFF, True, me)
    return me


def _ticket_unlock(m, v, me):
    yield from m.access(v, STORE, 0, 0xFFFFFFFF, me + 1, release=True, buffered=True)


def _qs_lock(m, v):
    L, P, LP, TAIL, FULL = 0x1, 0x100, 0xFFFF, 0xFFFF0000, 0xFFFFFFFF
    old, ok = yield from m.access(v, CMPXCHG, 0, FULL, L, 0)
    if ok:
        return None
    val, retry = old & FULL, 1
    while True:  # trylock_pending (v10)
        if val & TAIL:
            break
        if (val & LP) == (L | P):
            if not retry:
                break
            retry -= 1
            yield m.timeout(2 * m.hw.pause_ns)
            val, _ = yield from m.access(v, LOAD, 0)
            continue
        if (val & LP) == P:
            yield m.timeout(m.hw.pause_ns)
            val, _ = yield from m.access(v, LOAD, 0)
            continue
        new = L | P if val == L else L
        old, ok = yield from m.access(v, CMPXCHG, 0, FULL, new, val)
        if ok:
            if new == L:
                return None
            yield from m.spin(v, 0, 0xFF, True, 0)
            yield from m.access(v, STORE, 0, LP, L, buffered=True)
            return None
        val = old & FULL
    qhead, nxt = 1 + 2 * v, 2 + 2 * v
    tail = (v + 1) << 18
    yield from m.access(v, STORE, qhead, -1, 0, buffered=True)
    yield from m.access(v, STORE, nxt, -1, 0, buffered=True)
    if not (val & TAIL):
        w, _ = yield from m.access(v, LOAD, 0)
        if (w & FULL) == 0:
            _, ok = yield from m.access(v, CMPXCHG, 0, FULL, L, 0)
            if ok:
                return None
    old, _ = yield from m.access(v, XCHG, 0, TAIL, tail)
    if old & TAIL:
        prev = ((old & TAIL) >> 18) - 1
        yield from m.access(v, STORE, 2 + 2 * prev, -1, v + 1, buffered=True)
        yield from m.spin(v, qhead, -1, False, 0)
    else:
        yield from m.access(v, STORE, qhead, -1, 1, buffered=True)
    while True:
        val = (yield from m.spin(v, 0, LP, True, 0)) & FULL
        while True:
            if val != tail:
                yield from m.access(v, STORE, 0, 0xFF, L, buffered=True)
                break
            old, ok = yield from m.access(v, CMPXCHG, 0, FULL, L, val)
            if ok:
                return None
            val = old & FULL
        break
    n1 = (yield from m.spin(v, nxt, -1, False, 0)) - 1
    yield from m.access(v, STORE, 1 + 2 * n1, -1, 1, buffered=True)
    return None


def _qs_unlock(m, v, _):
    yield from m.access(v, STORE, 0, 0xFF, 0, release=True, buffered=True)


def _task(env, m, v, K, lk, ul, workload, rng, done):
    """One benchmark task: lock; critical section; unlock; loop overhead; K times."""
    yield m.timeout(rng.random() * workload.loop_ns)
    for k in range(K):
        tok = yield from lk(m, v)
        if m.holder != -1:
            m.violations += 1
        m.holder = v
        if workload.cs_dist == "lognormal" and workload.cs_ns > 0:
            s2 = math.log1p(workload.cs_cv**2)
            cs = rng.lognormal(math.log(workload.cs_ns) - s2 / 2, math.sqrt(s2))
        else:
            cs = rng.exponential(workload.cs_ns) if workload.cs_dist == "exp" \
                else workload.cs_ns
        yield m.timeout(cs)
        yield from ul(m, v, tok)
        m.ops += 1
        if k < K - 1:
            lo = rng.exponential(workload.loop_ns) if workload.loop_dist == "exp" \
                else workload.loop_ns
            yield m.timeout(lo)
    done[v] = env.now


def _scheduled(env) -> int:
    """Events SimPy scheduled (its private event-id counter; -1 if it has none)."""
    eid = getattr(env, "_eid", None)
    return next(eid) if eid is not None else -1


def reference_simulate(lock: str, tasks: int, ops_per_task: int, *, hardware: Hardware,
                       workload: Workload, reps: int = 4, seed: int = 0,
                       spin: str = "iterate") -> pd.DataFrame:
    """Run the SimPy model; one row per replication (lock, tasks, rep, ops, sim_ns,
    ns_per_op, violations, events, simpy_events). ``spin``: ``"iterate"`` (every spin
    iteration, the oracle) or ``"park"`` (spinners parked: the engine's granularity)."""
    import simpy

    if lock not in ("ticket", "qspinlock", "queue"):
        raise ValueError(f"lock must be 'ticket' or 'qspinlock', got {lock!r}")
    if spin not in ("iterate", "park"):
        raise ValueError(f"spin must be 'iterate' or 'park', got {spin!r}")
    machine = ParkedMachine if spin == "park" else RefMachine
    lock = "qspinlock" if lock == "queue" else lock
    n, K = int(tasks), int(ops_per_task)
    if not 1 <= n <= 64:
        raise ValueError(f"tasks must be in [1, 64], got {tasks!r}")
    rows = []
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(reps)):
        rng = np.random.default_rng(child)
        env = simpy.Environment()
        sock = (np.arange(n) % hardware.sockets if workload.placement == "scatter"
                else np.arange(n) // hardware.cores_per_socket)
        m = machine(env, n, hardware, workload, sock, rng, 0 if lock == "ticket" else 2)
        done = np.zeros(n)
        lk, ul = (_ticket_lock, _ticket_unlock) if lock == "ticket" else (_qs_lock, _qs_unlock)

        for v in range(n):
            env.process(_task(env, m, v, K, lk, ul, workload, rng, done))
        env.run()
        rows.append({"lock": lock, "tasks": n, "rep": r, "ops": m.ops,
                     "sim_ns": done.max(), "ns_per_op": done.max() / m.ops,
                     "violations": m.violations, "events": m.events,
                     "simpy_events": _scheduled(env)})
    return pd.DataFrame(rows)
