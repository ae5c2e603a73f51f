"""``pvqmodel bench``: structure only (speed is never a timed test). A run of every group
with tiny sizes produces every target's verdict with a boolean, the printed lines and
the JSON say the same, the verdict arithmetic follows the comparison, and bad groups
are refused before anything runs. The equal-granularity SimPy model's agreement with
the engine is a statistical test in tests/test_engine_reference.py."""

import json

import pytest

from pvqmodel import bench as B
from pvqmodel.cli import main

pytest.importorskip("simpy")

#: tiny sizes: every group runs, in seconds (the compile group reuses the warm cache, so
#: its figure is not a cold compile; the output says the sizes are not the specified ones)
TINY = dict(rounds=2, engine_ops=200, simpy_park_ops=20, simpy_iter_ops=10,
            scaling_events=5000, entropy_events=3000, table_ops=30, table_reps=2, warm_rounds=1,
            memory_events=5000, cold_cache="current", host_ns=200_000)


def _keys(groups):
    return [t[0] for t in B.TARGETS if t[1] in groups]


@pytest.fixture(scope="module")
def tiny_run():
    return B.bench(groups=B.GROUPS, quick=True, sizes=TINY)


def test_every_target_gets_a_boolean_verdict(tiny_run):
    d = tiny_run
    v = d["verdicts"]
    assert [x["target"] for x in v] == _keys(B.GROUPS) and len(v) == len(B.TARGETS)
    for x in v:
        assert isinstance(x["met"], bool)
        m = d["measurements"][x["target"]]
        assert m["lo"] <= m["value"] <= m["hi"] and m["rounds"] == len(m["samples"]) >= 1
        assert x["met"] == (x["measured"] >= x["limit"] if x["op"] == ">="
                            else x["measured"] <= x["limit"])
    # rates come from interleaved rounds; the one-off runs are single
    assert d["measurements"]["ratio"]["rounds"] == TINY["rounds"]
    assert d["measurements"]["table_cpu_s"]["rounds"] == 1
    assert not d["spec"]  # tiny sizes are flagged as not judging the targets
    json.dumps(d)  # --json prints it
    # the scaling cases carry the event stream's entropy; the control without PLE is
    # information, never a verdict
    for lock in ("ticket", "qspinlock", "pv-qspinlock-v10"):
        for case in ("dedicated", "oc2-ple", "oc2"):
            e = d["info"][f"ns_per_event_{lock}_{case}"]
            assert 0.0 <= e["bits8"] <= 8.0 and 0.0 <= e["bits256"] <= 8.0
        assert f"scaling_{lock}_oc2" in d["info"]
        assert f"scaling_{lock}_oc2" not in d["measurements"]


def test_human_output_has_one_line_per_target(tiny_run):
    text = B.format_human(tiny_run)
    lines = [ln for ln in text.splitlines() if ln.startswith("target ")]
    assert len(lines) == len(B.TARGETS)
    for ln, v in zip(lines, tiny_run["verdicts"], strict=True):
        assert v["what"] in ln and ln.endswith("-> met" if v["met"] else "-> NOT met")
        assert " measured " in ln
    assert "NOTE: sizes differ from the specification" in text
    # the per-iteration oracle is information, not a target
    assert "information only" in text


def test_verdict_arithmetic():
    meas = {"ratio": {"value": 49.9, "lo": 40.0, "hi": 60.0, "rounds": 3},
            "table_cpu_s": {"value": 20.0, "lo": 20.0, "hi": 20.0, "rounds": 1}}
    v = {x["target"]: x["met"] for x in B.verdicts(meas)}
    assert v == {"ratio": False, "table_cpu_s": True}  # only measured targets
    meas["ratio"]["value"] = 50.0
    meas["table_cpu_s"]["value"] = 20.01
    v = {x["target"]: x["met"] for x in B.verdicts(meas)}
    assert v == {"ratio": True, "table_cpu_s": False}


def test_cli_only_quick_json(capsys, monkeypatch):
    """``bench --quick --only ratio,events --json`` prints one JSON object with exactly
    those groups' verdicts (sizes shrunk through the QUICK table)."""
    monkeypatch.setattr(B, "QUICK", dict(B.QUICK, **TINY))
    rc = main(["bench", "--quick", "--only", "events,ratio", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    d = json.loads(out)
    assert d["groups"] == ["ratio", "events"] and d["quick"]
    assert [x["target"] for x in d["verdicts"]] == _keys(("ratio", "events"))
    assert all(isinstance(x["met"], bool) for x in d["verdicts"])


@pytest.mark.parametrize("argv,flag", [
    (["bench", "--only", "ratio,speed"], "--only"),
    (["bench", "--only", ","], "--only"),
    (["bench", "--only", "table", "--no-table"], "--no-table"),
])
def test_cli_refuses_bad_groups(argv, flag, capsys, monkeypatch):
    called = []
    monkeypatch.setattr(B, "bench", lambda **kw: called.append(kw))
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and flag in err and called == []


def test_bench_refuses_bad_input():
    with pytest.raises(ValueError, match="groups must be a non-empty subset"):
        B.bench(groups=["ratio", "speed"])
    with pytest.raises(ValueError, match="sizes: unknown key"):
        B.bench(groups=["ratio"], sizes={"round": 1})


def test_conditional_entropy_of_known_sources():
    """The entropy of the next symbol given the last ones, on sources whose entropy rate
    is known. A periodic sequence: 0 once the history spans the period. A symmetric
    two-state Markov chain that switches with probability q: H(q) bits per symbol,
    whatever the history (it is first order). Each symbol's surprise -log2 P(next | last)
    only depends on whether it switched, an i.i.d. Bernoulli(q), so the estimate's
    standard error is sqrt(q (1 - q)) log2((1 - q) / q) / sqrt(N); the tolerance is 4 of
    them plus the plug-in bias bound (contexts x (alphabet - 1) / (2 N ln 2))."""
    import numpy as np
    per = np.tile([0, 1, 2, 0, 3], 4000)
    assert B.conditional_entropy(per, 4) == pytest.approx(0.0, abs=1e-12)
    assert B.conditional_entropy(per, 0) > 1.5  # 0 half as often as 1, 2, 3: 1.92 bits
    q, n = 0.1, 200_000
    switch = np.random.default_rng(3).random(n) < q
    chain = np.cumsum(switch) % 2
    want = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    se = np.sqrt(q * (1 - q)) * np.log2((1 - q) / q) / np.sqrt(n)
    for history in (1, 3):
        bias = 2**history / (2 * n * np.log(2))
        got = B.conditional_entropy(chain, history)
        assert abs(got - want) <= 4 * se + bias, (history, got, want)
    with pytest.raises(ValueError, match="history"):
        B.conditional_entropy(chain, 17)
    assert B.conditional_entropy([], 2) == 0.0
