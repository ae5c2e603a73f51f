"""The merged PV qspinlock's generations: name -> the kernel version code the lock
takes (``LP_PVQ_VER``), the version's default behaviour switches, the commits followed
and a one-line summary. Numba-free, so the lock registry (``pvqmodel.locks``) reads it
without compiling anything; the lock itself is ``pv_qspinlock.py``."""

from __future__ import annotations

#: Generations: name -> kernel version code (``LP_PVQ_VER``), the version's default
#: switches, the commits followed and a one-line summary (for the lock registry).
GENERATIONS = {
    "pv-qspinlock-4.2": dict(
        ver=402, steal=0, wait_early=0, preempted=0, kernel="4.2",
        commits=("a23db284fe6a", "f233f7f1581e"),
        summary="hash table + _Q_SLOW_VAL; pv_kick_node kicks a halted next node at "
                "hand-over, the unlock kicks a head whose state reads vcpu_halted "
                "(a waiter may be kicked twice)"),
    "pv-qspinlock-4.3": dict(
        ver=403, steal=0, wait_early=0, preempted=0, kernel="4.3",
        commits=("75d2270280686bff21b9ba66c7f3dd379c887981",),
        summary="+ vcpu_hashed: pv_kick_node hashes a halted next node on its behalf; "
                "kick only at unlock, and only a head whose state reads vcpu_hashed"),
    "pv-qspinlock-4.4": dict(
        ver=404, steal=0, wait_early=0, preempted=0, kernel="4.4",
        commits=("93edc8bd7750",),
        summary="the unlock kicks unconditionally when it sees _Q_SLOW_VAL; the head "
                "no longer writes its state"),
    "pv-qspinlock-4.5": dict(
        ver=405, steal=1, wait_early=1, preempted=0, kernel="4.5",
        commits=("1c4941fd53afb46ab15826628e4819866d008a28", "cd0272fab785",
                 "d78045306c41bd9334b956e4e7fa77cc72f06a40", "45e898b735620f42"),
        summary="one steal attempt before queuing, the head holds pending while it "
                "spins and acquires in pv_wait_head_or_lock, wait-early on prev->state "
                "every 256 iterations, split unlock (asm fast path), qstat"),
    "pv-qspinlock-4.11": dict(
        ver=411, steal=1, wait_early=1, preempted=1, kernel="4.11",
        commits=("75437bb304b2",),
        summary="wait-early also when vcpu_is_preempted(prev->cpu)"),
    "pv-qspinlock-4.15": dict(
        ver=415, steal=2, wait_early=1, preempted=1, kernel="4.15 (unverified)",
        commits=("11752adb68a3",),
        summary="hybrid queued/unfair trylock: arrivals keep stealing while waiters are "
                "queued and the head is not spinning (pending clear)"),
    "pv-qspinlock-5.4": dict(
        ver=504, steal=2, wait_early=1, preempted=0, kernel="5.4",
        commits=("89340d0935c9",),
        summary="vcpu_is_preempted check in pv_wait_early reverted"),
}
#: The newest form.
ALIAS = {"pv-qspinlock": "pv-qspinlock-5.4"}
