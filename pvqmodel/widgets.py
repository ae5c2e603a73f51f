"""Notebook helpers: the interactive parts of the notebooks as plain, tested functions.

Owns what the notebooks would otherwise write inline: showing a figure exactly once
(``show``), notebook 03's slider view of the PV locks (``pv_study_view``: one run of
:func:`pvqmodel.study.pv_lock_study` turned into a per-lock table and a figure), the
sentences the notebook prints about that table, computed from it
(``describe_pv_table``, ``describe_wakeup_preemption``), and the widgets that drive the
view (``pv_study_sliders``, ``pv_study_widget``: sliders that re-run the simulation when
released, no "Run" button), and the same for notebook 05's generations study
(``generations_view``, ``describe_generations``, ``generations_sliders``,
``generations_widget``: the kernel constants and each behaviour switch of the merged PV
qspinlock), and notebook 06's host study (``host_view``, ``describe_host``,
``host_sliders``, ``host_widget``: the PLE window, a PLE exit's VM exit cost, the
halt-poll cap and the round robin's quantum), and notebook 07's filters over the
overcommit study's results (``overcommit_view``, ``overcommit_widget``: nothing
re-simulated). The notebook only sets parameters and
wires these together, so the tests can call the same callback with other values.
ipywidgets and IPython come with the ``notebooks`` extra and are imported only by the
functions that need them.
"""

from __future__ import annotations

import pandas as pd

from .study import pv_lock_study

__all__ = ["GEN_TABLE_COLUMNS", "GEN_VIEW_DEFAULTS", "HOST_TABLE_COLUMNS",
           "HOST_VIEW_DEFAULTS", "OWN", "PV_TABLE_COLUMNS",
           "PV_VIEW_DEFAULTS", "describe_generations", "describe_pv_table",
           "describe_wakeup_preemption", "generations_sliders", "generations_view",
           "generations_widget", "describe_host", "host_sliders", "host_view",
           "host_widget", "pv_study_sliders", "pv_study_view", "pv_study_widget",
           "show", "OVERCOMMIT_VIEW_COLUMNS", "overcommit_view", "overcommit_widget"]

#: the per-lock means that notebook 03 shows (columns of ``pv_lock_study``'s summary)
PV_TABLE_COLUMNS = ["ns_per_op", "halts_per_1k", "kicks_per_1k", "wakeup_preemptions",
                    "stale_kicks_per_1k", "wake_latency_ns", "preemptions", "lhp",
                    "ple_exits_per_1k", "directed_yields"]

#: notebook 03's slider defaults: the kernel's thresholds, and a schedule under which the
#: PV locks halt (the names are ``pv_study_view``'s arguments)
PV_VIEW_DEFAULTS = dict(spin_threshold_log2=15, qspin_threshold_log2=14, head_mult=2,
                        overcommit=2.0, quantum_us=100.0, kick_us=9.3, ple_window_us=0.0,
                        wakeup_preempt=False)


def show(fig) -> None:
    """Display ``fig`` once and close it.

    A figure made with pyplot and left as a cell's last expression is shown twice in
    Jupyter (its ``image/png`` result, and again by the inline backend, which shows every
    open pyplot figure at the end of the cell); closing it after one ``display`` leaves
    only the one. Outside IPython it is only closed."""
    import matplotlib.pyplot as plt

    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        display = get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(fig)
    plt.close(fig)


def pv_study_view(*, spin_threshold_log2: int = 15, qspin_threshold_log2: int = 14,
                  head_mult: int = 2, overcommit: float = 2.0, quantum_us: float = 100.0,
                  kick_us: float = 9.3, ple_window_us: float = 0.0,
                  wakeup_preempt: bool = False, tasks: int = 4, ops_per_task: int = 1000,
                  reps: int = 2, seed: int = 0):
    """One run of :func:`pvqmodel.study.pv_lock_study` in the slider's units; returns
    ``(table, fig)``: the per-lock means of :data:`PV_TABLE_COLUMNS` (rounded to 2
    decimals) and the :func:`pvqmodel.figures.pv.fig_pv_study` figure (open; pass it to
    :func:`show`). Thresholds are powers of two (``2**spin_threshold_log2``), times in
    microseconds, ``ple_window_us = 0`` means no pause-loop exiting."""
    from .figures.pv import fig_pv_study

    summary, waits = pv_lock_study(
        spin_threshold=2 ** int(spin_threshold_log2),
        qspin_threshold=2 ** int(qspin_threshold_log2), head_mult=int(head_mult),
        overcommit=float(overcommit), quantum_ns=float(quantum_us) * 1e3,
        kick_ns=float(kick_us) * 1e3,
        ple_window_ns=float(ple_window_us) * 1e3 if ple_window_us > 0 else None,
        wakeup_preempt=bool(wakeup_preempt), tasks=tasks, ops_per_task=ops_per_task,
        reps=reps, seed=seed)
    ple = f"PLE {ple_window_us:g} us" if ple_window_us > 0 else "no PLE"
    fig = fig_pv_study(summary, waits, title=(
        f"SPIN 2^{spin_threshold_log2}, QSPIN 2^{qspin_threshold_log2} x{head_mult} head, "
        f"r = {overcommit:g}, q = {quantum_us:g} us, kick {kick_us:g} us, {ple}"
        + (", wake-up preemption" if wakeup_preempt else "")))
    table = summary.groupby("lock", sort=False)[PV_TABLE_COLUMNS].mean().round(2)
    return table, fig


def describe_pv_table(table: pd.DataFrame) -> str:
    """What ``table`` (from :func:`pv_study_view`) says, one line per lock: the share of
    acquisitions that halted and were kicked, ns per op, wake-up preemptions; then how
    much faster the unfair v10 variant is than the fair one. Computed, not written."""
    lines = []
    for lock, r in table.iterrows():
        lines.append(f"{lock}: {r['ns_per_op']:,.0f} ns/op; {r['halts_per_1k'] / 10:.1f} % of "
                     f"acquisitions halted, {r['kicks_per_1k'] / 10:.1f} % were kicked; "
                     f"{r['wakeup_preemptions']:g} wake-up preemptions")
    if {"pv-qspinlock-v10", "pv-qspinlock-v10-unfair"} <= set(table.index):
        fair = table.loc["pv-qspinlock-v10", "ns_per_op"]
        unfair = table.loc["pv-qspinlock-v10-unfair", "ns_per_op"]
        if unfair > 0 and fair > 0:
            ratio = fair / unfair if fair >= unfair else unfair / fair
            lines.append(f"the unfair v10 variant is {ratio:.3g} x "
                         + ("faster" if fair >= unfair else "slower")
                         + " per op than the fair v10 lock")
    return "\n".join(lines)


def describe_wakeup_preemption(summary: pd.DataFrame) -> str:
    """Why the wake-up-preemption columns of a :func:`pvqmodel.study.ple_study` frame
    differ or not, computed from its counters: wake-up preemption acts only when a halted
    vCPU is woken (kick or interrupt), so a lock and PLE setting whose runs never halt
    give identical rows with it off and on (same seed; the switch draws no random
    numbers)."""
    g = summary.groupby(["lock", "ple", "wakeup_preempt"], sort=False)[
        ["halts", "wakeup_preemptions", "ns_per_op"]].sum()
    lines = []
    for (lock, ple), d in g.groupby(level=[0, 1], sort=False):
        d = d.droplevel([0, 1])
        halts = int(d["halts"].max())
        wp = int(d.loc[True, "wakeup_preemptions"]) if True in d.index else 0
        same = d["ns_per_op"].nunique() == 1
        where = f"{lock}, PLE {'on' if ple else 'off'}"
        if halts == 0:
            lines.append(f"{where}: no halts, so no wake-ups to preempt with: identical")
        else:
            lines.append(f"{where}: {halts} halts, {wp} wake-up preemptions: "
                         + ("identical" if same else "differs"))
    return "\n".join(lines)


def _slider_setup(allowed: dict, defaults: dict):
    """What every notebook's slider set starts from: ipywidgets, the values (``allowed``
    overridden by ``defaults``; an unknown name is an error) and the common widget
    options (re-run on release, a readable label, one width)."""
    import ipywidgets as w

    d = {**allowed, **defaults}
    unknown = set(d) - set(allowed)
    if unknown:
        raise ValueError(f"unknown slider(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    kw = dict(continuous_update=False, style={"description_width": "initial"},
              layout=w.Layout(width="520px"))
    return w, d, kw


def pv_study_sliders(**defaults) -> dict:
    """The widgets of notebook 03's sliders, keyed by :func:`pv_study_view`'s argument
    names, at ``defaults`` (else :data:`PV_VIEW_DEFAULTS`). Every slider has
    ``continuous_update=False`` (the simulation re-runs when the slider is released, not
    at every pixel), a label wide enough to read, and a step on which its default lies."""
    w, d, kw = _slider_setup(PV_VIEW_DEFAULTS, defaults)
    return dict(
        spin_threshold_log2=w.IntSlider(value=d["spin_threshold_log2"], min=4, max=18,
                                        description="PV ticket SPIN_THRESHOLD (log2)", **kw),
        qspin_threshold_log2=w.IntSlider(value=d["qspin_threshold_log2"], min=4, max=18,
                                         description="v10 QSPIN_THRESHOLD (log2)", **kw),
        head_mult=w.IntSlider(value=d["head_mult"], min=1, max=8,
                              description="v10 queue-head multiplier", **kw),
        overcommit=w.FloatSlider(value=d["overcommit"], min=1.0, max=4.0, step=0.25,
                                 description="overcommit (vCPUs per pCPU)", **kw),
        quantum_us=w.FloatLogSlider(value=d["quantum_us"], base=10, min=1, max=4, step=0.1,
                                    description="mean quantum (us)", **kw),
        kick_us=w.FloatSlider(value=d["kick_us"], min=0.5, max=50.0, step=0.1,
                              description="kick hypercall (us)", **kw),
        ple_window_us=w.FloatSlider(value=d["ple_window_us"], min=0.0, max=20.0, step=0.1,
                                    description="PLE window (us, 0 = off)", **kw),
        wakeup_preempt=w.Checkbox(value=d["wakeup_preempt"], indent=False,
                                  description="wake-up preemption", style=kw["style"]),
    )


def pv_study_widget(*, tasks: int = 4, ops_per_task: int = 1000, reps: int = 2,
                    seed: int = 0, run: bool = True, **defaults):
    """Notebook 03's sliders wired to :func:`pv_study_view`: an ``ipywidgets.interactive``
    (no "Run" button) whose callback runs the view with the sliders' values and the fixed
    ``tasks``, ``ops_per_task``, ``reps``, ``seed``, shows the figure once, prints
    :func:`describe_pv_table` and returns the table (kept in ``.result`` and displayed).
    ``run=True`` runs it once at the defaults so the output is there before any slider
    moves."""
    import ipywidgets as w

    def callback(**values):
        table, fig = pv_study_view(**values, tasks=tasks, ops_per_task=ops_per_task,
                                   reps=reps, seed=seed)
        show(fig)
        print(describe_pv_table(table))
        return table

    widget = w.interactive(callback, {"manual": False, "auto_display": True},
                           **pv_study_sliders(**defaults))
    if run:
        widget.update()
    return widget


# ---- notebook 05: the generations study's sliders ---------------------------------------

#: the slider default meaning "each generation's own behaviour" (``LockTunables`` None)
OWN = "own"
#: notebook 05's slider defaults: the kernel's constants, each generation's own switches,
#: and one overcommitted schedule (the names are ``generations_view``'s arguments)
GEN_VIEW_DEFAULTS = dict(spin_threshold_log2=15, pv_prev_check_mask_log2=8, pv_steal=OWN,
                         pv_wait_early=OWN, pv_preempted_check=OWN, overcommit=2.0,
                         ple=False)
#: the per-lock means notebook 05's view shows (columns of ``generations``'s frame)
GEN_TABLE_COLUMNS = ["ops_per_ms", "ns_per_op", "halts_per_1k", "kicks_per_1k",
                     "pv_wait_early_per_1k", "path_steal_per_1k", "wait_p50_ns",
                     "wait_p99_ns"]


def _switch(name: str, value, allowed: tuple):
    """A switch slider's value -> the ``LockTunables`` value (None for "own")."""
    if value == OWN or value is None:
        return None
    if value not in allowed:
        raise ValueError(f"{name} must be {OWN!r} or one of {allowed}, got {value!r}")
    return value


def generations_view(*, spin_threshold_log2: int = 15, pv_prev_check_mask_log2: int = 8,
                     pv_steal=OWN, pv_wait_early=OWN, pv_preempted_check=OWN,
                     overcommit: float = 2.0, ple: bool = False, tasks: int = 4,
                     ops_per_task: int = 2000, reps: int = 4, seed: int = 0):
    """One run of :func:`pvqmodel.generations.generations` on one overcommitted schedule
    (``overcommit``, PLE ``ple``) in the sliders' units; returns ``(table, fig)``: the
    per-lock means of :data:`GEN_TABLE_COLUMNS` and the throughput figure (open; pass it
    to :func:`show`). ``SPIN_THRESHOLD = 2**spin_threshold_log2``, ``PV_PREV_CHECK_MASK
    = 2**pv_prev_check_mask_log2 - 1`` (8: the kernel's 0xff); the switches are
    ``"own"`` (each generation's behaviour) or a value for every merged generation."""
    from .figures.generations import fig_generations_throughput
    from .generations import generations

    steal = _switch("pv_steal", pv_steal, (0, 1, 2))
    early = _switch("pv_wait_early", pv_wait_early, (False, True))
    preempted = _switch("pv_preempted_check", pv_preempted_check, (False, True))
    df = generations(tasks=(int(tasks),), ops_per_task=ops_per_task, reps=reps, seed=seed,
                     overcommits=(float(overcommit),), ple=(bool(ple),), dedicated=False,
                     spin_threshold=2 ** int(spin_threshold_log2),
                     pv_prev_check_mask=2 ** int(pv_prev_check_mask_log2) - 1,
                     pv_steal=steal, pv_wait_early=early, pv_preempted_check=preempted)
    sw = ", ".join(f"{k} {v}" for k, v in (("steal", steal), ("wait-early", early),
                                           ("preempted", preempted)) if v is not None)
    fig = fig_generations_throughput(df, title=(
        f"SPIN_THRESHOLD 2^{spin_threshold_log2}, PV_PREV_CHECK_MASK "
        f"{2 ** int(pv_prev_check_mask_log2) - 1:#x}" + (f", {sw}" if sw else "")
        + f"; r = {overcommit:g}, PLE {'on' if ple else 'off'}, {tasks} vCPUs"))
    table = df.groupby("lock", sort=False)[GEN_TABLE_COLUMNS].mean().round(2)
    return table, fig


def describe_generations(df: pd.DataFrame) -> str:
    """What a :func:`pvqmodel.generations.generations` frame says, one line per schedule:
    the fastest and slowest lock (mean ops per ms) and how much faster the first stealing
    generation (4.5) is than the last one without stealing (4.4), when both ran.
    Computed, not written."""
    lines = []
    for name, g in df.groupby("schedule", sort=False):
        m = g.groupby("lock", sort=False)["ops_per_ms"].mean()
        line = (f"{name}: fastest {m.idxmax()} ({m.max():,.0f} ops/ms), slowest "
                f"{m.idxmin()} ({m.min():,.0f} ops/ms)")
        if {"pv-qspinlock-4.4", "pv-qspinlock-4.5"} <= set(m.index):
            line += (f"; 4.5 / 4.4 = {m['pv-qspinlock-4.5'] / m['pv-qspinlock-4.4']:.3g} x")
        lines.append(line)
    return "\n".join(lines)


def generations_sliders(**defaults) -> dict:
    """The widgets of notebook 05, keyed by :func:`generations_view`'s argument names, at
    ``defaults`` (else :data:`GEN_VIEW_DEFAULTS`): sliders with
    ``continuous_update=False`` (re-run on release) for the two constants and the
    overcommit, a drop-down per behaviour switch ("own": each generation's), a checkbox
    for PLE."""
    w, d, kw = _slider_setup(GEN_VIEW_DEFAULTS, defaults)
    style = kw["style"]
    own = (("each generation's own", OWN),)
    return dict(
        spin_threshold_log2=w.IntSlider(value=d["spin_threshold_log2"], min=4, max=18,
                                        description="SPIN_THRESHOLD (log2)", **kw),
        pv_prev_check_mask_log2=w.IntSlider(
            value=d["pv_prev_check_mask_log2"], min=0, max=12,
            description="PV_PREV_CHECK_MASK + 1 (log2; 8 = 0xff)", **kw),
        pv_steal=w.Dropdown(options=own + (("0: queued_spin_trylock", 0),
                                           ("1: one steal (4.5-4.14)", 1),
                                           ("2: hybrid loop (4.15+)", 2)),
                            value=d["pv_steal"], description="trylock before queuing (4.5+)",
                            style=style, layout=w.Layout(width="520px")),
        pv_wait_early=w.Dropdown(options=own + (("off", False), ("on", True)),
                                 value=d["pv_wait_early"], description="wait-early",
                                 style=style, layout=w.Layout(width="520px")),
        pv_preempted_check=w.Dropdown(options=own + (("off", False), ("on", True)),
                                      value=d["pv_preempted_check"],
                                      description="wait-early on vcpu_is_preempted",
                                      style=style, layout=w.Layout(width="520px")),
        overcommit=w.FloatSlider(value=d["overcommit"], min=1.0, max=4.0, step=0.25,
                                 description="overcommit (vCPUs per pCPU)", **kw),
        ple=w.Checkbox(value=d["ple"], indent=False, description="pause-loop exiting",
                       style=style),
    )


def generations_widget(*, tasks: int = 4, ops_per_task: int = 2000, reps: int = 4,
                       seed: int = 0, run: bool = True, **defaults):
    """Notebook 05's sliders wired to :func:`generations_view` (no "Run" button; a
    slider re-runs on release): the callback shows the figure once, prints
    :func:`describe_generations` and returns the table (kept in ``.result``).
    ``run=True`` runs it once at the defaults."""
    import ipywidgets as w

    def callback(**values):
        table, fig = generations_view(**values, tasks=tasks, ops_per_task=ops_per_task,
                                      reps=reps, seed=seed)
        show(fig)
        print(describe_generations(table.reset_index().assign(schedule="this schedule")))
        return table

    widget = w.interactive(callback, {"manual": False, "auto_display": True},
                           **generations_sliders(**defaults))
    if run:
        widget.update()
    return widget


# ---- notebook 06: the host study ------------------------------------------------------

#: notebook 06's slider defaults (the names are :func:`host_view`'s arguments): KVM's
#: PLE window (TSC cycles), the VM exit round trip that a PLE exit costs besides its scan
#: and yield_to (current-6.13's 600 ns), the halt-poll cap (200 us; 0: off) and the
#: round robin's quantum
HOST_VIEW_DEFAULTS = dict(ple_window=4096, vmexit_ns=600.0, halt_poll_us=200.0,
                          quantum_ms=3.0)
#: the per-cell columns notebook 06's view shows (columns of ``host_study``'s frame)
HOST_TABLE_COLUMNS = ["slowdown", "slowdown_lo", "slowdown_hi", "ple_exits_per_op",
                      "halts_per_op", "kicks_per_op", "steal_ns_per_op", "flagged"]


def host_view(*, ple_window: int = 4096, vmexit_ns: float = 600.0,
              halt_poll_us: float = 200.0, quantum_ms: float = 3.0,
              lock: str = "pv-qspinlock", preset: str = "current-6.13", pcpus: int = 4,
              vcpus: int = 4, think: str = "compute", think_ns: float = 16_000.0,
              duration_ms: float = 5.0, reps: int = 2, seed: int = 0):
    """One run of :func:`pvqmodel.hoststudy.host_study` for ``lock`` with CPU-bound
    co-tenants under the three schedulers, PLE off and on and 1-3 VMs, on ``preset``
    with the sliders' KVM values: ``ple_window`` (TSC cycles; ``ple_window_max`` is
    raised to it if below), ``vmexit_ns`` (``KVM.vmexit_ns``: a PLE exit costs it plus
    the candidate scan and ``yield_to``), ``halt_poll_us`` (``halt_poll_ns``; 0 turns
    halt polling off) and ``quantum_ms`` (the FIFO round robin's quantum). Returns
    ``(table, fig)``: :data:`HOST_TABLE_COLUMNS` per (scheduler, PLE, VMs) and the
    ``host-schedulers`` figure (open; pass it to :func:`show`)."""
    from .figures.host import fig_host_schedulers
    from .host import Host
    from .hoststudy import host_study

    base = Host.preset(preset)
    kvm = base.kvm.replace(ple_window=int(ple_window),
                           ple_window_max=max(int(ple_window), base.kvm.ple_window_max),
                           vmexit_ns=float(vmexit_ns), halt_poll_ns=float(halt_poll_us) * 1e3)
    host = base.replace(kvm=kvm, quantum_ns=float(quantum_ms) * 1e6)
    df = host_study(locks=(lock,), preset=host, pcpus=pcpus, vcpus=vcpus, halt_poll=(True,),
                    think=think, think_ns=think_ns, duration_ms=duration_ms, reps=reps,
                    seed=seed)
    fig = fig_host_schedulers(df, title=(
        f"PLE window {int(ple_window)} cycles, VM exit {vmexit_ns:g} ns, halt poll "
        f"{halt_poll_us:g} us, rr quantum {quantum_ms:g} ms; {pcpus} pCPUs, VMs of {vcpus} "
        f"vCPUs, {reps} x {duration_ms:g} ms"))
    table = df.set_index(["scheduler", "ple", "vms"])[HOST_TABLE_COLUMNS].round(4)
    return table, fig


def describe_host(df: pd.DataFrame) -> str:
    """What a :func:`pvqmodel.hoststudy.host_study` frame says, one line per (lock,
    co-tenant kind, halt polling) at the most VMs it ran: each scheduler's slowdown
    against fair share with PLE off and on (with its 95 % interval) and how many cells
    are flagged. Computed, not written."""
    lines = []
    top = int(df["vms"].max())
    d = df[df["vms"] == top]
    for (lock, co, hp), g in d.groupby(["lock", "cotenant", "halt_poll"], sort=False):
        parts = []
        for (sch, ple), r in g.set_index(["scheduler", "ple"]).iterrows():
            parts.append(f"{sch} PLE {'on' if ple else 'off'} {r['slowdown']:.2f} "
                         f"({r['slowdown_lo']:.2f}-{r['slowdown_hi']:.2f})")
        flagged = int(g["flagged"].sum())
        lines.append(f"{lock}, {top} VMs ({co} co-tenants), halt polling "
                     f"{'on' if hp else 'off'}: slowdown " + "; ".join(parts)
                     + (f"; {flagged} cell(s) flagged" if flagged else ""))
    return "\n".join(lines)


def host_sliders(**defaults) -> dict:
    """The widgets of notebook 06, keyed by :func:`host_view`'s argument names, at
    ``defaults`` (else :data:`HOST_VIEW_DEFAULTS`): sliders with
    ``continuous_update=False`` (re-run on release), each default on its grid."""
    w, d, kw = _slider_setup(HOST_VIEW_DEFAULTS, defaults)
    return dict(
        ple_window=w.IntSlider(value=d["ple_window"], min=1024, max=65536, step=1024,
                               description="PLE window (TSC cycles)", **kw),
        vmexit_ns=w.FloatSlider(value=d["vmexit_ns"], min=0.0, max=5000.0, step=100.0,
                                description="VM exit + entry of a PLE exit (ns)", **kw),
        halt_poll_us=w.FloatSlider(value=d["halt_poll_us"], min=0.0, max=1000.0, step=10.0,
                                   description="halt_poll_ns cap (us; 0 = off)", **kw),
        quantum_ms=w.FloatSlider(value=d["quantum_ms"], min=0.25, max=24.0, step=0.25,
                                 description="rr quantum (ms)", **kw),
    )


def host_widget(*, run: bool = True, **kw):
    """Notebook 06's sliders wired to :func:`host_view` (no "Run" button; a slider
    re-runs on release): the callback shows the figure once, prints
    :func:`describe_host` of the run and returns the table (kept in ``.result``). ``kw``:
    :func:`host_view`'s size arguments (``lock``, ``pcpus``, ``vcpus``, ``reps``, ...) or
    slider defaults. ``run=True`` runs it once at the defaults."""
    import ipywidgets as w

    defaults = {k: v for k, v in kw.items() if k in HOST_VIEW_DEFAULTS}
    size = {k: v for k, v in kw.items() if k not in HOST_VIEW_DEFAULTS}

    def callback(**values):
        table, fig = host_view(**values, **size)
        show(fig)
        d = table.reset_index()
        print(describe_host(d.assign(lock=size.get("lock", "pv-qspinlock"),
                                     cotenant=d["vms"].map(lambda n: "cpu" if n > 1
                                                           else "none"),
                                     halt_poll=True)))
        return table

    widget = w.interactive(callback, {"manual": False, "auto_display": True},
                           **host_sliders(**defaults))
    if run:
        widget.update()
    return widget


# ---- notebook 07: the overcommit study's results (no simulation) -------------------------

#: the columns notebook 07's filtered table shows
OVERCOMMIT_VIEW_COLUMNS = ["lock", "workload", "ple", "layout", "overcommit", "slowdown",
                           "slowdown_lo", "slowdown_hi", "meets_target", "halts_per_op",
                           "kicks_per_op", "ple_exits_per_op", "lock_wait_ns", "reps"]


def overcommit_view(table: pd.DataFrame, *, locks=None, workloads=None, ple=None,
                    layouts=None, figure: str = "slowdown"):
    """Rows of the overcommit table (:func:`pvqmodel.overcommit.overcommit_table`)
    matching the filters (``None``: everything) and one of its figures drawn from them
    (``figure``: ``"slowdown"``, ``"ranking"`` or ``"counters"``). Reads the table
    only: nothing is simulated. Returns (filtered table, figure)."""
    from .figures import overcommit as fo

    draw = {"slowdown": fo.fig_overcommit_slowdown, "ranking": fo.fig_overcommit_ranking,
            "counters": fo.fig_overcommit_counters}
    if figure not in draw:
        raise ValueError(f"figure must be one of {sorted(draw)}, got {figure!r}")
    t = table
    for col, want in (("lock", locks), ("workload", workloads), ("ple", ple),
                      ("layout", layouts)):
        if want is None:
            continue
        want = [want] if isinstance(want, (str, bool)) else list(want)
        unknown = sorted(set(map(str, want)) - set(map(str, table[col].unique())))
        if unknown:
            raise ValueError(f"{col} filter: {unknown} not in the results; they have "
                             f"{sorted(map(str, table[col].unique()))}")
        t = t[t[col].isin(want)]
    if t.empty:
        raise ValueError("no rows match the filters")
    return t, draw[figure](t, title=fo.study_title(t))


def overcommit_widget(table: pd.DataFrame, *, run: bool = True):
    """Notebook 07's filters (locks, workloads, PLE, layouts, which figure) wired to
    :func:`overcommit_view`: changing one redraws from the table (kept in
    ``.result``). An empty selection shows a message instead of a figure."""
    import ipywidgets as w

    def multi(col, desc):
        opts = list(dict.fromkeys(table[col]))
        return w.SelectMultiple(options=opts, value=tuple(opts), description=desc,
                                rows=min(len(opts), 8), style={"description_width": "initial"})

    controls = dict(
        locks=multi("lock", "locks"), workloads=multi("workload", "workloads"),
        layouts=multi("layout", "layouts"),
        ple=w.SelectMultiple(options=sorted(table["ple"].unique()),
                             value=tuple(sorted(table["ple"].unique())), description="PLE",
                             style={"description_width": "initial"}),
        figure=w.Dropdown(options=["slowdown", "ranking", "counters"], value="slowdown",
                          description="figure", style={"description_width": "initial"}),
    )

    def callback(locks, workloads, layouts, ple, figure):
        try:
            t, fig = overcommit_view(table, locks=list(locks), workloads=list(workloads),
                                     layouts=list(layouts), ple=list(ple), figure=figure)
        except ValueError as e:
            print(e)
            return None
        show(fig)
        return t[OVERCOMMIT_VIEW_COLUMNS]

    widget = w.interactive(callback, {"manual": False, "auto_display": True}, **controls)
    if run:
        widget.update()
    return widget
