"""The v10 PV qspinlock wake-up handshake, explored exhaustively (pvqmodel.handshake).

Each configuration is a complete breadth-first search of every interleaving of the
seed's steps for three CPUs, so "none found" is a proof for this scenario and these
scaled thresholds, and "found" comes with a shortest trace that is replayed here.
"""

import pytest

from pvqmodel.handshake import explore_v10_handshake, replay_v10_handshake


def _assert_lost_wakeup(final):
    # B is the queue head (qhead set), halted, the lock is free, and nothing but an
    # interrupt can move the system: no kick is on its way.
    assert final["B.halted"] and final["B.qhead"] == 1
    assert final["lock.locked"] == 0
    assert final["H.pc"] == "done" and final["P.pc"] == "done"
    assert not final["can_progress"]


@pytest.mark.parametrize("threshold,gap", [(4, 1), (5, 2), (6, 3)])
def test_sequential_consistency_with_latch_has_no_lost_wakeup(threshold, gap):
    r = explore_v10_handshake("sc", latch=True, qspin_threshold=threshold, mayhalt_gap=gap)
    assert not r.found and r.complete, str(r)
    assert r.states_explored > 1000  # the search really explored the interleavings


def test_sc_without_pv_unhalted_latch_loses_the_kick():
    r = explore_v10_handshake("sc", latch=False)
    assert r.found and r.kind == "lost-wakeup"
    actions = list(r.trace["action"])
    # The kick lands between the halt re-check and the halt itself.
    assert actions.index("halt re-check") < actions.index("pv_kick_node") < actions.index("halt")
    final = replay_v10_handshake(r.trace, "sc", latch=False)
    _assert_lost_wakeup(final)
    # The same trace is not possible once the latch turns the late kick into a no-op.
    with pytest.raises(ValueError, match="not enabled"):
        replay_v10_handshake(r.trace, "sc", latch=True)


@pytest.mark.parametrize("gap", [1, 2, 3])
@pytest.mark.parametrize("latch", [True, False])
def test_tso_store_buffer_breaks_the_mayhalt_handshake(gap, latch):
    r = explore_v10_handshake("tso", latch=latch, qspin_threshold=4, mayhalt_gap=gap)
    assert r.found and r.kind == "lost-wakeup"
    t = r.trace
    notify = t.index[t["action"] == "store B.qhead=1"][0]
    skip = t.index[t["detail"] == "B.mayhalt=0: skip"][0]
    drained = t.index[t["detail"] == "B.qhead=1"][0]
    halted_check = t.index[t["detail"] == "0: halt"][0]
    # pv_halt_check read mayhalt while its qhead store sat in the store buffer, and the
    # store drained only after B had decided to halt: the seed's timing assumption.
    assert notify < skip < halted_check < drained
    _assert_lost_wakeup(replay_v10_handshake(t, "tso", latch=latch, mayhalt_gap=gap))


def test_spurious_wakeups_do_not_hide_the_loss():
    r = explore_v10_handshake("tso", spurious=True)
    assert r.found and r.kind == "lost-wakeup"


def test_replay_rejects_a_forged_step():
    r = explore_v10_handshake("tso")
    forged = r.trace.copy()
    forged.loc[0, "detail"] = "byte 3 -> 0"
    with pytest.raises(ValueError, match="step 0"):
        replay_v10_handshake(forged, "tso")


@pytest.mark.parametrize("kwargs,name", [
    ({"memory_model": "pso"}, "memory_model"),
    ({"qspin_threshold": 1}, "qspin_threshold"),
    ({"mayhalt_gap": 4}, "mayhalt_gap"),
    ({"head_multiplier": 0}, "head_multiplier"),
    ({"max_states": 0}, "max_states"),
])
def test_bad_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        explore_v10_handshake(**kwargs)


def test_max_states_bound_is_reported():
    r = explore_v10_handshake("sc", max_states=50)
    assert not r.found and not r.complete
    assert "max_states" in str(r)
