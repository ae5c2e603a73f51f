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
# # 07 · Overcommit: every lock on a 32-pCPU host
#
# The overcommit study (`studies/overcommit.toml`) runs every lock (native ticket,
# qspinlock, test-and-set, PV ticket, v10 and each merged PV qspinlock generation) in
# VMs of 16, 32, 48 and 64 vCPUs alone and 1-3 VMs of 32 vCPUs together on a 32-pCPU
# host (`current-6.13`: EEVDF, KVM of 6.13, halt polling on), PLE on and off, with two
# named workloads (`pvqmodel.workloads`: `microbench`, the seed benchmark with no think
# time, and `think-sleep`, a moderately contended lock with the guest idle in HLT
# between operations). `pvqmodel sweep` runs it on dask.distributed into a Parquet
# dataset; this notebook only **reads** that dataset (it never re-runs the sweep unless
# `run_sweep = True`). The headline is the **slowdown against fair share**: the VM's
# throughput alone on as many dedicated pCPUs as it has vCPUs, times `fair_pcpus /
# vcpus`, over its throughput on the shared host (1: it gets exactly what its share of
# the pCPUs is worth); definitions in `pvqmodel.overcommit`.

# %% tags=["parameters"]
RESULTS_DIR = None  # None: data/processed/overcommit if present, else .../overcommit-reduced
run_sweep = False  # True: run (or complete) SPEC's sweep into RESULTS_DIR first
SPEC = "overcommit-reduced"  # a shipped study's name or a TOML path (with run_sweep)
WORKERS = 2  # local dask workers for run_sweep

# %%
import os
import tempfile

from pvqmodel import overcommit_table, sweep, sweep_results
from pvqmodel.figures.overcommit import (
    fig_overcommit_counters,
    fig_overcommit_ranking,
    fig_overcommit_slowdown,
    overcommit_figure_table,
    study_title,
)
from pvqmodel.widgets import OVERCOMMIT_VIEW_COLUMNS, overcommit_widget, show

if os.environ.get("PVQ_FAST"):  # CI: a tiny sweep into a temporary folder, serially
    SPEC = dict(name="nb07-fast", root_seed=7, reps=2, duration_ms=0.3,
                host=dict(pcpus=4, ple=[True, False]),
                grid=dict(locks=["ticket", "pv-qspinlock"],
                          workloads=["microbench", "think-sleep"], layouts=[[2], [4, 4]]))
    RESULTS_DIR, run_sweep = tempfile.mkdtemp(prefix="pvq-nb07-"), True
if run_sweep:
    print(sweep(SPEC, out=RESULTS_DIR, workers=WORKERS,
                serial=bool(os.environ.get("PVQ_FAST"))))
if RESULTS_DIR is None:
    table = overcommit_figure_table()
else:
    table = overcommit_table(sweep_results(RESULTS_DIR))
TITLE = study_title(table)
print(TITLE)

# %% [markdown]
# ## Slowdown against overcommit
# One panel per workload and PLE setting; the x axis orders the layouts by overcommit
# (total vCPUs / pCPUs). Up to 1x every lock gets its share. Past it, the locks that
# hand the lock to a waiter in order (the ticket locks, the queued locks) stall behind a
# preempted waiter, and the PV hooks (halt, kick) and PLE's directed yields decide how
# much of that is lost. For `microbench` a slowdown below 1 is possible: a saturated
# lock's throughput falls with the number of contenders, and a VM whose vCPUs run only
# part of the time has fewer of them at once than its dedicated baseline.

# %%
show(fig_overcommit_slowdown(table, title=TITLE))

# %% [markdown]
# ## The locks ranked per layout
# Rank 1 is the smallest slowdown in that layout; each cell shows the slowdown.

# %%
show(fig_overcommit_ranking(table, title=TITLE))

# %% [markdown]
# ## Halts, kicks and PLE exits per operation

# %%
show(fig_overcommit_counters(table, title=TITLE))

# %% [markdown]
# ## Precision
# The study asks for 95 % intervals of ±5 % on the slowdown; `rel_halfwidth` is half
# the interval's width over the slowdown. Cells that miss it are listed (their
# replications disagree: often a cell where a few long lock-waiter preemptions decide
# the throughput).

# %%
print(f"{table['meets_target'].mean():.0%} of {len(table)} cells within +-5 %")
miss = table[~table["meets_target"]].sort_values("rel_halfwidth", ascending=False)
miss[["lock", "workload", "ple", "layout", "slowdown", "rel_halfwidth", "reps"]].head(15)

# %% [markdown]
# ## Filters
# Choose locks, workloads, PLE settings, layouts and a figure; the figure and the
# table below it are redrawn from the results (nothing is simulated).

# %%
try:
    filters = overcommit_widget(table)
except ImportError:  # widgets are an optional extra: the static figures above still stand
    filters = "ipywidgets not installed: pip install 'pvqmodel[notebooks]'"
filters

# %%
table[OVERCOMMIT_VIEW_COLUMNS].round(3)
