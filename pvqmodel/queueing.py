"""Analytical queueing models of one contended spinlock (scipy/numpy, no simulation).

Owns the closed-form and exactly-solved models that the Monte Carlo engine is checked
against and that :mod:`pvqmodel.fit` fits to the seed table: the closed system of N
tasks cycling between a delay station (the loop body, mean think time Z) and one lock
"server" (critical section plus handoff, service time S), solved by exact MVA, by the
machine-repairman (M/M/1//N) distribution, and bounded by operational analysis; the
Boyd-Wickizer ticket-lock chain with load-dependent service; the saturated
constant-handoff (MCS/qspinlock) limit; and the virtualization models of
``../shared/reference/models.md`` §4.2 (lock-holder preemption, ticket lock-waiter
preemption, spin-then-halt). All times are in one unit of the caller's choice
(nanoseconds throughout pvqmodel); rates are per that unit. Every function validates
its inputs and raises ``ValueError`` naming the offending parameter and its range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

__all__ = [
    "BirthDeathResult",
    "MVAResult",
    "OperationalBounds",
    "bw_chain",
    "constant_handoff_time",
    "karlin_threshold",
    "lhp_delay_moments",
    "lhp_pk_wait",
    "lhp_probability",
    "mva",
    "mva_locks",
    "operational_bounds",
    "repairman",
    "saturated_time",
    "spin_then_halt_cost",
    "ticket_lwp_handoff",
]


# --------------------------------------------------------------------------- checks
def _check_tasks(n, name: str = "n") -> int:
    if isinstance(n, bool) or not float(n).is_integer() or n < 1:
        raise ValueError(f"{name} must be an integer >= 1 (number of tasks), got {n!r}")
    return int(n)


def _check_nonneg(x, name: str) -> float:
    x = float(x)
    if not np.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite time >= 0, got {x!r}")
    return x


def _check_pos(x, name: str) -> float:
    x = float(x)
    if not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite time > 0, got {x!r}")
    return x


# ------------------------------------------------------------------ closed system
@dataclass(frozen=True)
class MVAResult:
    """Exact MVA for populations 1..N (arrays indexed by population - 1)."""

    population: np.ndarray  #: n = 1..N
    throughput: np.ndarray  #: X(n), completions per time unit
    response: np.ndarray  #: R(n) at the lock server (waiting + service)
    queue: np.ndarray  #: Q(n), mean number at the lock server
    utilization: np.ndarray  #: U(n) = X(n) * S


def mva(n: int, service: float, think: float) -> MVAResult:
    """Exact mean value analysis of one FCFS server plus one delay station.

    Product-form network (Reiser & Lavenberg 1980): exponential FCFS service of mean
    ``service`` (S) and a delay station of mean ``think`` (Z). For n = 1..N:
    R(n) = S (1 + Q(n-1)) (arrival theorem), X(n) = n / (Z + R(n)), Q(n) = X(n) R(n).
    Exact for the machine-repairman model, which :func:`repairman` solves independently.
    """
    n = _check_tasks(n)
    s = _check_pos(service, "service")
    z = _check_nonneg(think, "think")
    x = np.empty(n)
    r = np.empty(n)
    q = np.empty(n)
    q_prev = 0.0
    for i in range(1, n + 1):
        r[i - 1] = s * (1.0 + q_prev)
        x[i - 1] = i / (z + r[i - 1])
        q_prev = q[i - 1] = x[i - 1] * r[i - 1]
    return MVAResult(np.arange(1, n + 1), x, r, q, x * s)


def mva_locks(n: int, service: float, think: float, probs) -> MVAResult:
    """Exact MVA of ``M`` locks: M FCFS servers of mean ``service`` (S) and a delay
    station of mean ``think`` (Z); an operation takes lock k with probability
    ``probs[k]`` (a workload's lock choice over M instances), so lock k's service demand
    per operation is D_k = p_k S. For n = 1..N: R_k(n) = D_k (1 + Q_k(n-1)),
    X(n) = n / (Z + sum_k R_k(n)), Q_k(n) = X(n) R_k(n) (Reiser & Lavenberg 1980).
    ``response``/``queue``/``utilization`` are summed over the locks (the time an
    operation spends at its lock, the vCPUs holding or waiting for any lock, the
    locks' total busy fraction). With one lock it is :func:`mva`."""
    n = _check_tasks(n)
    s = _check_pos(service, "service")
    z = _check_nonneg(think, "think")
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1 or not len(p) or not np.all(np.isfinite(p)) or np.any(p < 0) \
            or not np.isclose(p.sum(), 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"probs must be a non-empty 1-d array of probabilities summing to "
                         f"1, got {probs!r}")
    d = p * s
    x = np.empty(n)
    r = np.empty(n)
    q = np.empty(n)
    qk = np.zeros_like(d)
    for i in range(1, n + 1):
        rk = d * (1.0 + qk)
        r[i - 1] = rk.sum()
        x[i - 1] = i / (z + r[i - 1])
        qk = x[i - 1] * rk
        q[i - 1] = qk.sum()
    return MVAResult(np.arange(1, n + 1), x, r, q, x * s)


@dataclass(frozen=True)
class BirthDeathResult:
    """Stationary solution of a finite-source birth-death chain on k = 0..N.

    k is the number of tasks holding or waiting for the lock.
    """

    probabilities: np.ndarray  #: P_k, k = 0..N (sums to 1)
    throughput: float  #: X = sum_k P_k mu_k (lock acquisitions per time unit)
    mean_queue: float  #: E[k]
    response: float  #: R = N / X - Z (interactive response-time law)
    speedup: float  #: BW's metric: expected tasks not waiting, sum_k P_k (N - k)

    @property
    def time_per_op(self) -> float:
        """Mean wall time between lock acquisitions, 1 / X."""
        return 1.0 / self.throughput


def _birth_death(n: int, think: float, service_times: np.ndarray) -> BirthDeathResult:
    """Solve the chain with arrival rate (n-k)/Z in state k and service 1/S_k.

    Balance P_k a_k = P_{k+1} mu_{k+1} gives P_k proportional to
    n!/(n-k)! * prod_{i<=k} S_i / Z^k, evaluated in log space so that N in the
    hundreds and Z -> 0 do not overflow. Z = 0 is the saturated limit (P_N = 1).
    """
    if think == 0.0:
        p = np.zeros(n + 1)
        p[n] = 1.0
    else:
        k = np.arange(n + 1)
        log_w = (
            special.gammaln(n + 1)
            - special.gammaln(n - k + 1)
            + np.concatenate(([0.0], np.cumsum(np.log(service_times))))
            - k * np.log(think)
        )
        log_w -= log_w.max()
        p = np.exp(log_w)
        p /= p.sum()
    mu = np.concatenate(([0.0], 1.0 / service_times))
    x = float(np.dot(p, mu))
    k = np.arange(n + 1)
    return BirthDeathResult(
        probabilities=p,
        throughput=x,
        mean_queue=float(np.dot(p, k)),
        response=n / x - think,
        speedup=float(np.dot(p, n - k)),
    )


def repairman(n: int, service: float, think: float) -> BirthDeathResult:
    """Machine-repairman model M/M/1//N: N tasks, exponential think Z, service S.

    p_k = p_0 N!/(N-k)! (S/Z)^k, X = (1 - p_0)/S, R = N/X - Z.
    """
    n = _check_tasks(n)
    s = _check_pos(service, "service")
    z = _check_nonneg(think, "think")
    return _birth_death(n, z, np.full(n, s))


def bw_chain(n: int, serial: float, per_waiter: float, think: float) -> BirthDeathResult:
    """Boyd-Wickizer et al. (2012) ticket-lock Markov chain, solved exactly.

    Birth-death on k = number of cores holding or waiting for the lock, arrival rate
    a_k = (n - k)/a with ``think`` = a, and load-dependent service
    s_k = 1 / (s + c k / 2) with ``serial`` = s (serial section plus fixed handoff) and
    ``per_waiter`` = c (the directory's time to answer one cache-line request: after a
    release every spinner re-reads the line one at a time and the next ticket holder is
    on average k/2-th in line). With c = 0 this is exactly :func:`repairman`.
    """
    n = _check_tasks(n)
    s = _check_pos(serial, "serial")
    c = _check_nonneg(per_waiter, "per_waiter")
    z = _check_nonneg(think, "think")
    k = np.arange(1, n + 1)
    return _birth_death(n, z, s + c * k / 2.0)


@dataclass(frozen=True)
class OperationalBounds:
    """Asymptotic bounds of a closed system (Denning & Buzen operational analysis)."""

    throughput_upper: np.ndarray  #: X(n) <= min(n / (Z + S), 1 / S)
    response_lower: np.ndarray  #: R(n) >= max(S, n S - Z)
    knee: float  #: N* = (Z + S) / S, the population where the two bounds cross


def operational_bounds(n, service: float, think: float) -> OperationalBounds:
    """Throughput and response bounds for population(s) ``n`` (scalar or array)."""
    arr = np.atleast_1d(np.asarray(n))
    for v in arr:
        _check_tasks(v)
    arr = arr.astype(float)
    s = _check_pos(service, "service")
    z = _check_nonneg(think, "think")
    return OperationalBounds(
        throughput_upper=np.minimum(arr / (z + s), 1.0 / s),
        response_lower=np.maximum(s, arr * s - z),
        knee=(z + s) / s,
    )


# ------------------------------------------------------------ saturated handoffs
def saturated_time(n, ops_per_task: float, handoff: Callable[[np.ndarray], np.ndarray]):
    """Total time of N saturated tasks doing K ops each: T = N K h(N).

    Under saturation the lock is never idle, so each of the N K acquisitions costs one
    serialized handoff h(N) (acquire + critical section + release with N - 1 spinners).
    ``handoff`` is any vectorized function of N in time units.
    """
    arr = np.atleast_1d(np.asarray(n))
    for v in arr:
        _check_tasks(v)
    k = _check_pos(ops_per_task, "ops_per_task")
    arr = arr.astype(float)
    h = np.asarray(handoff(arr), dtype=float)
    if np.any(~np.isfinite(h)) or np.any(h < 0):
        raise ValueError("handoff(N) must return finite times >= 0")
    return arr * k * h


def constant_handoff_time(n, ops_per_task: float, handoff: float):
    """MCS/qspinlock saturation: h(N) = h constant, so T = N K h (linear in N).

    Each waiter spins on its own cache line, so a release costs a constant number of
    line transfers regardless of how many tasks wait.
    """
    h = _check_pos(handoff, "handoff")
    return saturated_time(n, ops_per_task, lambda x: np.full_like(x, h))


# ------------------------------------------------------ preemption (models.md 4.2)
def lhp_probability(critical: float, quantum: float) -> float:
    """P_LHP = c / q: a critical section of length c (<= q) starting uniformly within a
    quantum q straddles the quantum's end with this probability."""
    c = _check_pos(critical, "critical")
    q = _check_pos(quantum, "quantum")
    if c > q:
        raise ValueError(f"critical must be <= quantum ({q}) for P_LHP = c/q, got {c}")
    return c / q


def _check_overcommit(r) -> float:
    r = float(r)
    if not np.isfinite(r) or r < 1:
        raise ValueError(f"overcommit must be a ratio >= 1 (vCPUs per pCPU), got {r!r}")
    return r


def lhp_delay_moments(critical: float, quantum: float, overcommit: float):
    """Extra hold time D from lock-holder preemption: (E[D], E[D^2]).

    D = (r - 1) q with probability c/q, else 0, so E[D] = c (r - 1) (independent of q)
    and E[D^2] = c q (r - 1)^2: the harm lives in the second moment.
    """
    p = lhp_probability(critical, quantum)
    r = _check_overcommit(overcommit)
    off = (r - 1.0) * float(quantum)
    return p * off, p * off * off


def lhp_pk_wait(arrival_rate: float, critical: float, quantum: float, overcommit: float):
    """Mean wait for a lock modelled as an M/G/1 server under lock-holder preemption.

    Service S' = c + D; rho' = lambda E[S'] = lambda c r; Pollaczek-Khinchine
    W = lambda E[S'^2] / (2 (1 - rho')). E[S'^2] = c^2 + 2 c E[D] + E[D^2] exactly
    (models.md drops the cross term 2 c^2 (r - 1), negligible when q >> c).
    Requires rho' < 1.
    """
    lam = _check_pos(arrival_rate, "arrival_rate")
    c = float(critical)
    r = _check_overcommit(overcommit)
    ed, ed2 = lhp_delay_moments(c, quantum, r)
    rho = lam * c * r
    if rho >= 1:
        raise ValueError(
            f"rho = arrival_rate * critical * overcommit must be < 1 for a stable queue, "
            f"got rho = {rho:.4g}"
        )
    es2 = c * c + 2.0 * c * ed + ed2
    return lam * es2 / (2.0 * (1.0 - rho))


def ticket_lwp_handoff(handoff: float, quantum: float, overcommit: float) -> float:
    """Ticket-lock handoff under lock-waiter preemption.

    FIFO hands the lock to one specific waiter, running with probability 1/r; if it is
    off its pCPU the lock waits for its residual off time, uniform on [0, (r-1) q]:
    E[handoff] = h + (1 - 1/r) (r - 1) q / 2.
    """
    h = _check_nonneg(handoff, "handoff")
    q = _check_pos(quantum, "quantum")
    r = _check_overcommit(overcommit)
    return h + (1.0 - 1.0 / r) * (r - 1.0) * q / 2.0


def spin_then_halt_cost(wait, threshold, halt_cost: float, kick_latency: float):
    """Expected cost per acquisition of spin-then-halt with spin budget T.

    ``wait`` is the waiter's natural wait W as a frozen ``scipy.stats`` continuous
    distribution; ``threshold`` the spin budget T (time units, scalar or array),
    ``halt_cost`` C_h and ``kick_latency`` L_k. Returns ``(cost, extra_latency,
    p_halt)`` with cost = E[min(W, T)] + P(W > T)(C_h + L_k), extra latency
    P(W > T) L_k and p_halt = P(W > T). E[min(W, T)] = int_0^T P(W > w) dw.
    """
    ch = _check_nonneg(halt_cost, "halt_cost")
    lk = _check_nonneg(kick_latency, "kick_latency")
    if not (hasattr(wait, "sf") and hasattr(wait, "cdf")):
        raise ValueError("wait must be a frozen scipy.stats distribution (with sf and cdf)")
    t = np.atleast_1d(np.asarray(threshold, dtype=float))
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"threshold must be finite times >= 0, got {threshold!r}")
    # Integrate only where the survival function lives (quad would miss a narrow
    # distribution on a huge interval); beyond the 1e-14 tail sf is ~0.
    tail = float(wait.isf(1e-14))
    breaks = np.unique(np.clip(wait.ppf([1e-6, 0.01, 0.5, 0.99, 1 - 1e-6]), 0, None))
    mean_min = np.empty_like(t)
    for i, ti in enumerate(t):
        upper = min(ti, tail)
        inner = [b for b in breaks if 0 < b < upper] or None
        mean_min[i] = integrate.quad(wait.sf, 0.0, upper, points=inner, limit=200)[0] if (
            upper > 0) else 0.0
    p_halt = wait.sf(t)
    cost = mean_min + p_halt * (ch + lk)
    if np.ndim(threshold) == 0:
        return float(cost[0]), float(p_halt[0] * lk), float(p_halt[0])
    return cost, p_halt * lk, p_halt


def karlin_threshold(halt_cost: float, kick_latency: float) -> float:
    """Karlin et al.'s 2-competitive spin budget: spin as long as blocking costs,
    T = C_h + L_k."""
    return _check_nonneg(halt_cost, "halt_cost") + _check_nonneg(kick_latency, "kick_latency")
