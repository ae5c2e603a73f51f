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
# # 05 · The PV qspinlock's generations, side by side
#
# Every PV lock of the package runs the seed benchmark under the same randomized
# hypervisor schedules: the 3.12-3.19 PV ticket lock, the seed's v10 PV qspinlock (fair
# and unfair), each merged PV qspinlock generation (4.2, 4.3, 4.4, 4.5, 4.11, 4.15, 5.4;
# `pvqmodel locks` says what each changed) and `tas`, the test-and-set that
# `virt_spin_lock` falls back to in a guest without PV spinlocks. Schedules: dedicated
# pCPUs, and pinned overcommit `OVERCOMMITS` (all vCPUs per pCPU; the rest are always-busy
# vCPUs of other VMs) with exponential quanta of mean `QUANTUM_US`, with KVM's pause-loop
# exiting off and on. Replication i of every lock and schedule runs with the same seed
# (common random numbers). Then the lost-wake-up hunt on every generation under SC and
# x86-TSO, with KVM's PV-unhalted latch on and off. The logic is in
# `pvqmodel.generations`, `pvqmodel.figures.generations`, `pvqmodel.hunt.hunt_table` and
# `pvqmodel.widgets` (the sliders' callback); this notebook sets parameters.

# %% tags=["parameters"]
TASKS = 4  # contending vCPUs of the VM
OPS_PER_TASK = 5000
REPS = 16  # replications (random schedules) per lock and schedule: 95 % intervals over them
SEED = 0
OVERCOMMITS = (1.5, 2.0, 3.0)
QUANTUM_US = 100.0  # mean scheduler quantum of the overcommitted schedules (exponential)
SPIN_THRESHOLD_LOG2 = 15  # SPIN_THRESHOLD = 1 << 15 (PV ticket and merged PV qspinlock)
PV_PREV_CHECK_MASK = 0xFF  # merged 4.5+: pv_wait_early checks prev every 256 iterations
HUNT_BUDGET = 300  # randomized schedules per hunt configuration (28 configurations)
HUNT_SEED = 0
HUNT_DRAIN_NS = 200.0  # TSO: mean store-buffer drain delay of the hunts

# %%
import os

import pandas as pd

from pvqmodel.figures.generations import (
    fig_generation_waits,
    fig_generations_counters,
    fig_generations_throughput,
)
from pvqmodel.generations import generations
from pvqmodel.hunt import hunt_table
from pvqmodel.widgets import describe_generations, generations_widget, show

if os.environ.get("PVQ_FAST"):  # CI: small parameters
    OPS_PER_TASK, REPS, HUNT_BUDGET = 200, 2, 20
SIZE = dict(tasks=(TASKS,), ops_per_task=OPS_PER_TASK, reps=REPS, seed=SEED)
CONSTANTS = dict(spin_threshold=2**SPIN_THRESHOLD_LOG2, pv_prev_check_mask=PV_PREV_CHECK_MASK)

# %% [markdown]
# ## Throughput under every schedule

# %%
df, waits = generations(**SIZE, **CONSTANTS, overcommits=OVERCOMMITS,
                        quantum_ns=QUANTUM_US * 1e3, return_waits=True, progress=True)
show(fig_generations_throughput(df, title=f"{TASKS} vCPUs, {OPS_PER_TASK} lock/unlock per "
                                          f"task, {QUANTUM_US:g} us quanta"))
print(describe_generations(df))

# %%
df.pivot_table(index="lock", columns="schedule", values="ns_per_op", sort=False).round(0)

# %% [markdown]
# On dedicated pCPUs nothing halts (a waiter halts only after `SPIN_THRESHOLD` spins) and
# the generations differ in their trylock: from 4.5 an arrival takes the lock with one
# byte cmpxchg when it is free and nobody is pending (`pv_queued_spin_steal_lock`), and
# the 4.5+ queue head acquires in `pv_wait_head_or_lock` with pending set; 4.15's hybrid
# loop keeps arrivals stealing while waiters are queued. Under overcommit the
# non-stealing FIFO locks (PV ticket, v10, 4.2-4.4) hand the lock to queued waiters that
# may be preempted or halted, and a preempted waiter stalls all behind it for up to a
# quantum; the stealing generations and `tas` let a running vCPU take the lock instead.
# Pause-loop exiting helps the FIFO locks (a spinner exits and yields to a preempted
# sibling, often the holder or the next waiter) and matters much less for the stealing
# ones, which rarely wait for a preempted vCPU. The README gives the numbers of the
# default run with their intervals.

# %% [markdown]
# ## Halts, kicks, wait-early, steals and the acquisition waits

# %%
show(fig_generations_counters(df, title="per 1000 acquisitions; wait quantiles per run"))

# %%
cols = ["halts_per_1k", "kicks_per_1k", "pv_wait_early_per_1k", "path_steal_per_1k",
        "wait_p50_ns", "wait_p99_ns"]
df.groupby(["schedule", "lock"], sort=False)[cols].mean().round(1)

# %%
names = list(dict.fromkeys(waits["schedule"]))
show(fig_generation_waits(waits, [n for n in names if "PLE off" in n or n == "dedicated"]))

# %% [markdown]
# ## Sliders
# `SPIN_THRESHOLD`, `PV_PREV_CHECK_MASK` and each behaviour switch of the merged PV
# qspinlock ("own" keeps each generation's; a value applies to every merged generation,
# the steal only from 4.5 on, whose queue head can be stolen from) on one overcommitted
# schedule. Releasing a slider (or changing a drop-down) re-runs every lock (a few
# seconds at these sizes). Setting 4.5 to "wait-early on vcpu_is_preempted: on" makes it
# 4.11; 4.15 with "1: one steal" is 4.11; 5.4 with the preempted check is 4.15 (the tests
# check these bit for bit).

# %%
try:
    sliders = generations_widget(tasks=TASKS, ops_per_task=max(OPS_PER_TASK // 2, 100),
                                 reps=max(REPS // 4, 1), seed=SEED,
                                 spin_threshold_log2=SPIN_THRESHOLD_LOG2)
except ImportError:  # widgets are an optional extra: the static runs above still stand
    sliders = "ipywidgets not installed: pip install 'pvqmodel[notebooks]'"
sliders

# %% [markdown]
# ## The lost-wake-up hunt on every generation
# `pvqmodel.hunt` on each generation under sequential consistency and x86-TSO (mean
# store-buffer drain `HUNT_DRAIN_NS`), with KVM's PV-unhalted latch on and off: 3
# contending vCPUs sharing pCPUs with background vCPUs, 2 us mean quanta, scaled-down
# thresholds so waiters halt often. A loss comes with the command that replays its first
# failing schedule; a clean configuration with the number of schedules explored and the
# 95 % upper bound of the per-acquisition rate. The README explains each result from the
# code's orderings.

# %%
ht = hunt_table(budget=HUNT_BUDGET, seed=HUNT_SEED, drain_ns=HUNT_DRAIN_NS, progress=True)
ht.drop(columns=["replay", "failing_seed"])

# %%
with pd.option_context("display.max_colwidth", 200):
    print(ht.loc[ht["losses"] > 0, ["lock", "memory_model", "latch", "replay"]]
          .to_string(index=False))
