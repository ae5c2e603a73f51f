"""The fair host schedulers' policy (engine/fair.py) against naive Python references of
the kernel rules they model (STUMPY-style oracles), on random run-queue states.

Each reference is written from host-scheduling.md (§1.3-§1.8 CFS, §2.2-§2.5 EEVDF, §4.2
halt polling), independently of the jitted code: a disagreement on any of the random
states fails."""

from __future__ import annotations

import numpy as np
import pytest

from pvqmodel.engine import fair as fr
from pvqmodel.engine.hypervisor import _poll_adjust, hv_alloc

NPC, NENT = 3, 9


def _state(rng, sched, groups=0, **hp):
    """A random host state: NENT entities over NPC pCPUs, each pCPU running one and
    queueing the rest, random vruntimes/deadlines/buddies."""
    ent_vm = rng.integers(0, 3, NENT)
    ent_vm[:3] = [0, 1, 2]
    H = hv_alloc(NENT, NPC, 0, False, 1, {
        "ent_vm": ent_vm, "vm_shares": [1024, 2048, 512],
        "hp": {fr.HP_SCHED: sched, fr.HP_GROUPS: groups, fr.HP_WAKEGRAN: 4_000_000,
               fr.HP_LATENCY: 24_000_000, fr.HP_MINGRAN: 3_000_000, fr.HP_SLICE: 3_000_000,
               fr.HP_SLEEPER: 12_000_000, fr.HP_TICK: 4_000_000, fr.HP_PARITY: 1,
               fr.HP_PICKBUDDY: 1, fr.HP_PLACELAG: 1, **hp}})
    cpus = rng.integers(0, NPC, NENT)
    cpus[:NPC] = np.arange(NPC)
    for e in range(NENT):
        H[fr.ent(H, e, fr.HE_VRUN)] = int(rng.integers(0, 20_000_000))
        H[fr.ent(H, e, fr.HE_DL)] = H[fr.ent(H, e, fr.HE_VRUN)] + int(rng.integers(0, 6_000_000))
        H[fr.ent(H, e, fr.HE_PARITY)] = int(rng.integers(0, 2))
        p = int(cpus[e])
        if H[fr.HV_CUR + p] < 0:
            H[fr.HV_CUR + p] = e
            H[fr.ent(H, e, fr.HE_CPU)] = p
        else:
            fr.rq_add(H, p, e, 0)
    for p in range(NPC):
        members = [e for e in range(NENT) if H[fr.ent(H, e, fr.HE_CPU)] == p]
        H[fr.cpu(H, p, fr.HC_MINV)] = min(H[fr.ent(H, e, fr.HE_VRUN)] for e in members) - 5
        H[fr.cpu(H, p, fr.HC_NEXT)] = int(rng.choice(members + [-1]))
        H[fr.cpu(H, p, fr.HC_SKIP)] = int(rng.choice(members + [-1]))
    return H


def _get(H, e, c):
    return int(H[fr.ent(H, e, c)])


def _ref_weight(H, e):
    if H[fr.HP_GROUPS] == 0:
        return 1024
    k = _get(H, e, fr.HE_VM)
    r = int(H[fr.vmr(H, k, fr.HVM_NRUN)])
    return max(int(H[fr.vmr(H, k, fr.HVM_SHARES)]) // max(r, 1), 2)


def _members(H, p):
    nq = int(H[fr.cpu(H, p, fr.HC_NR)])
    q = [int(H[H[fr.HV_QL] + p * NENT + i]) for i in range(nq)]
    c = int(H[fr.HV_CUR + p])
    return q, c


def _ref_cfs_pick(H, p):
    """pick_next_entity (3.19 fair.c): leftmost (curr included), the second if the
    leftmost is the skip buddy and the second is within wakeup_gran of it, the next
    buddy if within wakeup_gran of the leftmost."""
    q, c = _members(H, p)
    cands = q + ([c] if c >= 0 else [])
    vr = {e: _get(H, e, fr.HE_VRUN) for e in cands}
    order = sorted(cands, key=lambda e: (vr[e], e != c))  # curr wins ties (it is "left")
    left = order[0]

    def within(se, other):  # wakeup_preempt_entity(se, other) < 1
        gran = 4_000_000 * 1024 // _ref_weight(H, other)
        return vr[se] - vr[other] <= gran

    se = left
    skip = int(H[fr.cpu(H, p, fr.HC_SKIP)])
    if skip == left and len(order) > 1 and within(order[1], left):
        se = order[1]
    nb = int(H[fr.cpu(H, p, fr.HC_NEXT)])
    if nb >= 0 and within(nb, left):
        se = nb
    return se


def _ref_eevdf_pick(H, p):
    """pick_eevdf (6.13): V = load-weighted mean vruntime (floored); curr dropped if not
    eligible; RUN_TO_PARITY keeps an eligible curr in its slice; PICK_BUDDY takes an
    eligible next buddy; else the earliest deadline among the eligible."""
    q, c = _members(H, p)
    cands = q + ([c] if c >= 0 else [])
    v0 = int(H[fr.cpu(H, p, fr.HC_MINV)])
    w = {e: _ref_weight(H, e) for e in cands}
    num = sum((_get(H, e, fr.HE_VRUN) - v0) * w[e] for e in cands)
    V = v0 + num // sum(w.values())
    elig = [e for e in cands if _get(H, e, fr.HE_VRUN) <= V]
    if c >= 0 and c in elig and _get(H, c, fr.HE_PARITY):
        return c
    nb = int(H[fr.cpu(H, p, fr.HC_NEXT)])
    if nb >= 0 and nb in elig:
        return nb
    best = None
    for e in ([c] if c in elig else []) + [e for e in q if e in elig]:
        if best is None or _get(H, e, fr.HE_DL) < _get(H, best, fr.HE_DL):
            best = e
    return best


@pytest.mark.parametrize("groups", [0, 1])
def test_cfs_pick_matches_reference(groups):
    rng = np.random.default_rng(1)
    for _ in range(300):
        H = _state(rng, fr.SCHED_CFS, groups)
        for p in range(NPC):
            assert fr.pick_next(H, p) == _ref_cfs_pick(H, p)


@pytest.mark.parametrize("groups", [0, 1])
def test_eevdf_pick_matches_reference(groups):
    rng = np.random.default_rng(2)
    for _ in range(300):
        H = _state(rng, fr.SCHED_EEVDF, groups)
        for p in range(NPC):
            ref = _ref_eevdf_pick(H, p)
            got = fr.pick_next(H, p)
            if ref is None:  # nobody eligible (rounding): the model takes the leftmost
                q, _ = _members(H, p)
                ref = min(q, key=lambda e: _get(H, e, fr.HE_VRUN))
            assert got == ref


def test_update_curr_charges_weighted_time():
    """update_curr: vruntime += delta * NICE_0_LOAD / weight; sum_exec += delta."""
    rng = np.random.default_rng(3)
    for _ in range(100):
        H = _state(rng, fr.SCHED_CFS, groups=1)
        p = int(rng.integers(0, NPC))
        c = int(H[fr.HV_CUR + p])
        H[fr.ent(H, c, fr.HE_ONRQ)] = 1
        v0, s0 = _get(H, c, fr.HE_VRUN), _get(H, c, fr.HE_SUMEX)
        H[fr.ent(H, c, fr.HE_EXEC0)] = 1000
        d = int(rng.integers(1, 10_000_000))
        fr.update_curr(H, p, 1000 + d)
        assert _get(H, c, fr.HE_SUMEX) - s0 == d
        assert _get(H, c, fr.HE_VRUN) - v0 == d * 1024 // _ref_weight(H, c)


def test_sched_slice_is_the_kernel_formula():
    """sched_slice = period * w / W with period = latency up to 8 runnable, else
    nr * min_granularity; at least min_granularity (6.1 BASE_SLICE)."""
    rng = np.random.default_rng(4)
    for _ in range(100):
        H = _state(rng, fr.SCHED_CFS, groups=1)
        for p in range(NPC):
            q, c = _members(H, p)
            nr = len(q) + 1
            period = 24_000_000 if nr <= 8 else nr * 3_000_000
            W = sum(_ref_weight(H, e) for e in q + [c])
            want = max(period * _ref_weight(H, c) // W, 3_000_000)
            assert fr.sched_slice(H, p, c) == want


def _ref_poll(poll, halt_ns, mx=200_000, start=10_000, grow=2, shrink=0):
    """KVM's update of halt_poll_ns after a halt (6.13 kvm_vcpu_halt; §4.2)."""
    if halt_ns <= poll:
        return poll
    if poll != 0 and halt_ns > mx:
        val = 0 if shrink == 0 else poll // shrink
        return 0 if val < start else val
    if poll < mx and halt_ns < mx:
        return min(max(poll * grow, start), mx)
    return poll


@pytest.mark.parametrize("shrink", [0, 2])
def test_halt_poll_grow_shrink(shrink):
    rng = np.random.default_rng(5)
    H = hv_alloc(1, 1, 0, True, 1, {"hp": {fr.HP_POLL_MAX: 200_000, fr.HP_POLL_START: 10_000,
                                         fr.HP_POLL_GROW: 2, fr.HP_POLL_SHRINK: shrink}})
    for _ in range(500):
        poll = int(rng.choice([0, 10_000, 20_000, 80_000, 160_000, 200_000]))
        halt = int(rng.integers(0, 400_000))
        H[fr.ent(H, 0, fr.HE_POLL)] = poll
        H[fr.ent(H, 0, fr.HE_HALT0)] = 0
        _poll_adjust(0, float(halt), H)
        assert _get(H, 0, fr.HE_POLL) == _ref_poll(poll, halt, shrink=shrink)


@pytest.mark.parametrize("sched", [fr.SCHED_CFS, fr.SCHED_EEVDF])
def test_a_stale_next_buddy_is_never_picked(sched):
    """A next buddy that has left the pCPU (migrated, or running elsewhere) is not this
    pCPU's to pick: picking it corrupted the run queue (two PV-qspinlock VMs stopped
    with ST_BAD_STATE; issue 14)."""
    rng = np.random.default_rng(6)
    for _ in range(200):
        H = _state(rng, sched)
        for p in range(NPC):
            other = [e for e in range(NENT) if _get(H, e, fr.HE_CPU) != p]
            H[fr.cpu(H, p, fr.HC_NEXT)] = int(rng.choice(other))
            got = fr.pick_next(H, p)
            q, c = _members(H, p)
            assert got in q + [c]
