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
# # 04 · Can the v10 pvqspinlock lose a wake-up?
#
# The seed's `pv_halt_check` rests on a timing assumption, in its own words: "It is
# highly unlikely that the actual writing to the qhead flag will be more than 0x10
# iterations later than the reading of the mayhalt flag so that it misses seeing the
# PV_CPU_HALTED state which causes lost wakeup."
#
# This notebook answers the *existence* question with `pvqmodel.explore_v10_handshake`,
# an exhaustive search of every interleaving of the seed's steps for three CPUs (a lock
# holder H, the queue head P, the next queue node B), with thresholds scaled down so the
# state space is finite. Timing is abstracted away: a store buffer may drain at any later
# moment and a vCPU may be preempted between any two steps. "None found" is therefore a
# proof for this scenario; "found" comes with a shortest trace. How *likely* a loss is
# for given drain delays and preemption rates is a timed question, answered in the second
# half by `pvqmodel.hunt` on the Monte Carlo engine.

# %% tags=["parameters"]
QSPIN_THRESHOLD = 4  # scaled stand-in for 2^14
MAYHALT_GAP = 1  # scaled stand-in for 0x10 = QSPIN_THRESHOLD - MAYHALT_THRESHOLD
HUNT_BUDGET = 200  # randomized schedules per hunt configuration
SWEEP_BUDGET = 60  # schedules per point of the drain-delay x quantum sweep
SEED = 1  # root seed of the hunts
DRAIN_NS = 100.0  # mean store-buffer drain delay of the TSO hunts (the hunt's default: 50)

# %%
import pandas as pd

import pvqmodel

rows = []
results = {}
for memory_model in ("sc", "tso"):
    for latch in (True, False):
        for spurious in (False, True):
            r = pvqmodel.explore_v10_handshake(
                memory_model, latch=latch, spurious=spurious,
                qspin_threshold=QSPIN_THRESHOLD, mayhalt_gap=MAYHALT_GAP)
            results[memory_model, latch, spurious] = r
            rows.append(dict(memory_model=memory_model, pv_unhalted_latch=latch,
                             spurious_wakeups=spurious, lost_wakeup=r.found,
                             trace_steps=len(r.trace), states=r.states_explored,
                             exhaustive=r.complete))
pd.DataFrame(rows)

# %% [markdown]
# ## Sequential consistency with KVM's PV-unhalted latch: safe
# Under SC the two-variable handshake works: if P's `pv_halt_check` reads
# `mayhalt == 0`, its earlier `qhead = 1` store is already visible, and B reads `qhead`
# after setting `mayhalt` and `cpustate`, so B aborts the halt. If P reads
# `mayhalt == 1`, its `smp_mb` orders the `cpustate` read after the `qhead` store.
#
# ## Without the latch: a kick between the re-check and the halt is lost
# `__queue_halt_cpu` re-checks `cpustate == PV_CPU_HALTED` and then halts. A vCPU can be
# preempted between the two; if the unlocker's `pv_kick_node` lands there, the kick
# finds a running vCPU and, without KVM's latch, evaporates:

# %%
r = results["sc", False, False]
r.trace

# %% [markdown]
# ## x86-TSO: the seed's timing assumption is exactly what fails
# `arch_mcs_spin_unlock_contended(&next->qhead)` is a plain store (a release on x86),
# and `pv_halt_check` then *loads* `next->mayhalt` with no fence between them. TSO lets
# the load complete while the store still sits in P's store buffer. If B then sets
# `mayhalt`, spins its last `0x10` iterations, sets `cpustate = HALTED`, fences and reads
# `qhead` — all before P's buffer drains — B halts although it is already the queue head,
# and nobody set `_Q_LOCKED_SLOWPATH`, so P's unlock takes the fast path and never
# kicks. The latch does not help (no kick is ever sent) and a spurious interrupt is the
# only rescue:

# %%
r = results["tso", True, False]
r.trace

# %%
replayed = pvqmodel.replay_v10_handshake(r.trace, "tso", qspin_threshold=QSPIN_THRESHOLD,
                                         mayhalt_gap=MAYHALT_GAP)
{k: replayed[k] for k in ("lock.locked", "B.qhead", "B.halted", "P.pc", "can_progress")}

# %% [markdown]
# The loss needs P's `qhead` store to stay invisible for the whole window between B's
# `mayhalt = 1` (plus its `smp_mb`) and B's final `qhead` read: `0x10` spin iterations of
# B. The x86 memory model allows it (a load may pass an earlier store to another
# address, even one on the same cache line, as `qhead` and `mayhalt` are); whether it
# happens is a question of timing: how long P's store waits for ownership of the line
# that B keeps re-reading, against 16 PAUSE iterations. That is why the author judged it
# "highly unlikely", and why only a timed model with a store-buffer drain delay can put
# a probability on it. The merged pvqspinlock (4.2+) replaced this handshake with
# `smp_store_mb(pn->state, vcpu_halted)` on the waiter's side, paired with a `cmpxchg`
# of the state on the waker's side, which needs no timing argument.

# %% [markdown]
# ## The timed hunt on the engine
# `pvqmodel.hunt` runs the *complete* locks on the engine (3 contending vCPUs sharing
# their pCPUs with background vCPUs, exponential quanta of mean 2 us so preemption falls
# between arbitrary steps, random wake latencies, thresholds scaled down to
# `QSPIN_THRESHOLD = 64` so waiters halt often, while `MAYHALT_GAP` keeps the seed's
# `0x10`) and reports every schedule that ends with all unfinished vCPUs halted and no
# kick or interrupt coming. Spurious wake-ups are off. Each schedule has its own seed, so
# a loss replays exactly. The PV ticket lock is the control. The twelve hunts take about
# a minute at the default budget; a progress bar per hunt shows where they are.

# %%
import os

from pvqmodel.figures.pv import fig_hunt_sweep
from pvqmodel.hunt import hunt, hunt_sweep
from pvqmodel.widgets import show

if os.environ.get("PVQ_FAST"):  # CI: small parameters
    HUNT_BUDGET, SWEEP_BUDGET = 30, 10

hunts = {}
rows = []
for lock in ("pv-qspinlock-v10", "pv-qspinlock-v10-unfair", "pv-ticket"):
    for memory_model in ("sc", "tso"):
        for latch in (True, False):
            h = hunt(lock, memory_model=memory_model, latch=latch, budget=HUNT_BUDGET,
                     seed=SEED, drain_ns=DRAIN_NS, progress=True)
            hunts[lock, memory_model, latch] = h
            rows.append(dict(lock=lock, memory_model=memory_model, latch=latch,
                             lost_wakeup=h.found, schedules=h.schedules_explored,
                             losses=h.losses, acquisitions=h.acquisitions,
                             p_per_acq=h.p_per_acquisition, p_hi_95=h.p_ci[1]))
pd.DataFrame(rows)

# %% [markdown]
# The timed hunt agrees with the exhaustive search: with the latch, sequential
# consistency is safe; without it a kick can land between the re-check and the HLT
# (both locks); under x86-TSO the v10 handshake loses a wake-up even with the latch,
# while the PV ticket lock, whose handshake uses only locked operations, does not.
# The minimal timed trace of the TSO loss (`pvqmodel hunt --memory-model tso --first`):
# the new holder's `PQ_NOTIFY` (the `qhead` store) drains late, its `PQ_HALTCHK` reads
# `mayhalt == 0`, the next node sets `mayhalt`, fences, spins its last 0x10 iterations,
# reads `qhead == 0` and halts; nobody is left to kick it.

# %%
h = hunts["pv-qspinlock-v10", "tso", True]
print(h)
h.trace if h.found else "no loss found at this budget"

# %% [markdown]
# ## How likely? Loss probability vs drain delay and preemption rate
# Per acquisition, with 95 % Clopper-Pearson intervals. With the store's RFO issued at
# once (drain 0) no loss appears; it needs the `qhead` store to lag for about the
# `0x10`-iteration window (16 x (hit + pause + PV checks) ~ 113 ns with the preset; at
# the hunt's default 50 ns mean drain that tail is rare: about 0.6 % of schedules, 95 %
# interval 0.22-1.3 % over 1000 schedules (README), so a small budget may well see no loss,
# hence `DRAIN_NS` above), which is exactly the seed's assumption.
# Shorter quanta (more preemption) raise the rate.

# %%
sweep = hunt_sweep("pv-qspinlock-v10", drain_ns=(0.0, 25.0, 50.0, 100.0, 200.0),
                   quantum_ns=(2000.0, 20000.0), budget=SWEEP_BUDGET, seed=SEED,
                   progress=True)
show(fig_hunt_sweep(sweep))

# %%
sweep
