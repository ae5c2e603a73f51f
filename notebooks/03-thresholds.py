# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Spin thresholds, overcommit and kicks: the PV locks side by side
#
# The three PV locks of the package run the seed benchmark on the same randomized
# hypervisor schedule: the 3.12-3.19 PV ticket lock (`SPIN_THRESHOLD` spins, then
# `kvm_lock_spinning` halts), the seed's v10 PV qspinlock (`QSPIN_THRESHOLD` for queue
# nodes, `HEAD_MULT` x that for the queue head) and its unfair variant (fast-path
# stealing). A schedule puts the VM's vCPUs on pCPUs shared round-robin with background
# vCPUs of other VMs (`OVERCOMMIT` = all vCPUs / pCPUs), with exponential quanta of mean
# `QUANTUM_US`, and a kicked vCPU becomes runnable after the wake latency (the kicker
# spends `KICK_US` in the hypercall). Optionally the host takes pause-loop exits
# (`PLE_WINDOW_US`: a vCPU spinning that long on an unchanged line exits and yields to a
# preempted sibling vCPU, KVM's `kvm_vcpu_on_spin`) and a woken vCPU preempts whatever
# runs on its pCPU (`WAKEUP_PREEMPT`, CFS `check_preempt_wakeup`). Move the sliders to
# re-run a small simulation; with the fixed defaults below the notebook runs headless
# (tests, `make reproduce`). All the logic is in `pvqmodel.study.pv_lock_study` and
# `pvqmodel.figures.pv`.

# %% tags=["parameters"]
SPIN_THRESHOLD_LOG2 = 15  # PV ticket SPIN_THRESHOLD = 2^15 (kernel value)
QSPIN_THRESHOLD_LOG2 = 14  # v10 QSPIN_THRESHOLD = 2^14 (seed value)
HEAD_MULT = 2  # v10: the queue head spins 2 x QSPIN_THRESHOLD
OVERCOMMIT = 2.0  # all vCPUs per pCPU (1 = dedicated pCPUs with a scheduler running)
QUANTUM_US = 100.0  # mean scheduler quantum
KICK_US = 9.3  # kicker's time in the kick hypercall (Westmere-EX, kernel-locks.md §5.3)
PLE_WINDOW_US = 0.0  # pause-loop exiting window (0 = off; KVM default 4096 cycles = 1.7 us)
WAKEUP_PREEMPT = False  # a woken vCPU preempts the entity on its pCPU at once
TASKS = 4  # contending vCPUs of the VM
OPS_PER_TASK = 1000
REPS = 2
SEED = 0

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd

from pvqmodel.figures.pv import fig_pv_study
from pvqmodel.study import PV_STUDY_LOCKS, pv_lock_study

if os.environ.get("PVQ_FAST"):  # CI: small parameters
    OPS_PER_TASK, REPS = 300, 1


def run(spin_threshold_log2=SPIN_THRESHOLD_LOG2, qspin_threshold_log2=QSPIN_THRESHOLD_LOG2,
        head_mult=HEAD_MULT, overcommit=OVERCOMMIT, quantum_us=QUANTUM_US, kick_us=KICK_US,
        ple_window_us=PLE_WINDOW_US, wakeup_preempt=WAKEUP_PREEMPT):
    summary, waits = pv_lock_study(
        spin_threshold=2**spin_threshold_log2, qspin_threshold=2**qspin_threshold_log2,
        head_mult=head_mult, overcommit=overcommit, quantum_ns=quantum_us * 1e3,
        kick_ns=kick_us * 1e3, ple_window_ns=ple_window_us * 1e3 if ple_window_us > 0 else None,
        wakeup_preempt=wakeup_preempt, tasks=TASKS, ops_per_task=OPS_PER_TASK, reps=REPS,
        seed=SEED)
    ple = f"PLE {ple_window_us:g} us" if ple_window_us > 0 else "no PLE"
    fig_pv_study(summary, waits, title=(
        f"SPIN 2^{spin_threshold_log2}, QSPIN 2^{qspin_threshold_log2} x{head_mult} head, "
        f"r = {overcommit:g}, q = {quantum_us:g} us, kick {kick_us:g} us, {ple}"
        + (", wake-up preemption" if wakeup_preempt else "")))
    plt.show()
    cols = ["ns_per_op", "halts_per_1k", "kicks_per_1k", "stale_kicks_per_1k",
            "wake_latency_ns", "preemptions", "lhp", "ple_exits_per_1k", "directed_yields",
            "wakeup_preemptions"]
    return summary.groupby("lock", sort=False)[cols].mean().round(2)


# %% [markdown]
# ## The defaults: 4 vCPUs and 4 background vCPUs on 4 pCPUs, 100 us quanta

# %%
table = run()
table

# %% [markdown]
# Under overcommit a FIFO lock hands the lock to a waiter that may be off its pCPU
# (lock-waiter preemption), and the PV locks answer by halting waiters and kicking the
# next one. The fair v10 qspinlock halts and kicks on most handoffs here; the unfair
# variant lets a running vCPU take the lock on the fast path instead of waiting for the
# preempted or halted queue head, which is the seed's remark that "when coupled with
# unfair lock, the queue spinlock can be much faster than the PV ticket lock". Stale
# kicks (reaching a vCPU no longer waiting in the acquisition it was kicked for) are
# counted, not assumed away.

# %% [markdown]
# ## Sliders
# Each change re-runs the three locks (about a second at these sizes).

# %%
try:
    import ipywidgets as w

    w.interact_manual(
        run,
        spin_threshold_log2=w.IntSlider(value=SPIN_THRESHOLD_LOG2, min=4, max=18),
        qspin_threshold_log2=w.IntSlider(value=QSPIN_THRESHOLD_LOG2, min=4, max=18),
        head_mult=w.IntSlider(value=HEAD_MULT, min=1, max=8),
        overcommit=w.FloatSlider(value=OVERCOMMIT, min=1.0, max=4.0, step=0.5),
        quantum_us=w.FloatLogSlider(value=QUANTUM_US, base=10, min=1, max=4),
        kick_us=w.FloatSlider(value=KICK_US, min=0.5, max=50.0, step=0.5),
        ple_window_us=w.FloatSlider(value=PLE_WINDOW_US, min=0.0, max=20.0, step=0.5),
        wakeup_preempt=w.Checkbox(value=WAKEUP_PREEMPT))
except ImportError:  # widgets are an optional extra: the static run above still stands
    print("ipywidgets not installed: pip install 'pvqmodel[notebooks]'")

# %% [markdown]
# ## A threshold sweep (static, for the paper)
# Lower thresholds halt sooner: fewer wasted spin cycles under overcommit, but each halt
# costs a kick and a wake-up on the critical path.

# %%
rows = []
for q in (6, 10, 14):
    s, _ = pv_lock_study(qspin_threshold=2**q, spin_threshold=2 ** (q + 1),
                         quantum_ns=QUANTUM_US * 1e3, overcommit=OVERCOMMIT, tasks=TASKS,
                         ops_per_task=OPS_PER_TASK, reps=REPS, seed=SEED)
    rows.append(s.groupby("lock", sort=False)[["ns_per_op", "halts_per_1k"]].mean()
                .assign(qspin_threshold=f"2^{q}"))
pd.concat(rows).reset_index().pivot(index="qspin_threshold", columns="lock",
                                    values="ns_per_op").round(0)

# %% [markdown]
# ## Pause-loop exiting and wake-up preemption (static)
# The same overcommit and quantum (fixed quanta here) with the host's PLE at KVM's default
# window (4096 cycles) off and on, each with and without wake-up preemption, for the
# native locks too: PLE is what a guest without PV spinlocks relies on under overcommit
# (the spinner exits and yields to a preempted sibling, often the lock holder or the next
# waiter), while the PV locks halt instead (`pvqmodel.study.ple_study`).

# %%
from pvqmodel.study import ple_study

ple = ple_study(locks=("ticket", "qspinlock") + PV_STUDY_LOCKS, tasks=(TASKS,),
                overcommit=OVERCOMMIT, quantum_ns=QUANTUM_US * 1e3,
                ops_per_task=OPS_PER_TASK, reps=REPS, seed=SEED)
ple.pivot_table(index="lock", columns=["ple", "wakeup_preempt"], values="ns_per_op",
                sort=False).round(1)
