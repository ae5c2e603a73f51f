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
# # 02 · The Monte Carlo engine against the seed table (PV off)
#
# The numba engine executes the ticket lock and the v10 qspinlock step by step on
# simulated CPUs with a cache-coherence cost model (per-line home queue served in random
# order, same/cross-socket transfers, locked RMW, PAUSE, a store buffer). One hardware
# parameter set, calibrated by `pvqmodel.calibrate()`, serves all 16 PV-off cells. This
# notebook shows the calibration result, the engine beside the table and the analytical
# fits, the residuals, and a look inside: handoff time vs spinners and line transfers per
# operation. All logic is in the package.

# %% tags=["parameters"]
OPS_PER_TASK = 20_000  # K per task in each engine run (the table used 5M; ns/op is K-invariant)
REPS = 4  # replications per cell
SEED = 1  # root seed
RECALIBRATE = False  # True: re-run the calibration (minutes) instead of using the preset

# %%
import json
import os

import pandas as pd

import pvqmodel
from pvqmodel.calibrate import calibrate, engine_table
from pvqmodel.figures.engine import (
    fig_engine_residuals,
    fig_engine_vs_table,
    fig_handoff,
    fig_transfers,
)
from pvqmodel.params import Hardware, Workload, load_preset
from pvqmodel.sim import simulate
from pvqmodel.widgets import show

if os.environ.get("PVQ_FAST"):  # CI: small parameters
    OPS_PER_TASK, REPS, RECALIBRATE = 1500, 2, False

# %% [markdown]
# ## Calibration: one parameter set, with its physical bounds

# %%
if RECALIBRATE:
    report = calibrate(progress=True)
else:
    report = load_preset("westmere-ex")["fit_report"]
hw, wl = Hardware.preset("westmere-ex"), Workload.seed_benchmark("westmere-ex")
print(json.dumps({k: report[k] for k in ("median_abs_rel_err", "max_abs_rel_err",
                                         "by_lock", "min_task_share")}, indent=1))
pd.DataFrame({"value": {**hw.to_dict(), "loop_ns": wl.loop_ns, "placement": wl.placement},
              "bounds": {k: v[:2] for k, v in report["bounds"].items()}})

# %% [markdown]
# ## The engine beside the table (and the analytical fits)

# %%
table = engine_table(hardware=hw, workload=wl, ops_per_task=OPS_PER_TASK, reps=REPS,
                     seed=SEED, progress=False)
analytic = pvqmodel.fit_analytic().points
show(fig_engine_vs_table(table, analytic, reps=REPS))

# %%
show(fig_engine_residuals(table, reps=REPS))

# %%
err = table["rel_err"].abs()
print(f"median |rel err| {err.median():.1%}, max {err.max():.1%}; "
      f"smallest task share {table['min_share'].min():.3f}")
table.round(3)

# %% [markdown]
# ## A look inside: why the ticket lock grows and the queue lock does not

# %%
handoff = pd.concat([simulate(lock, n, OPS_PER_TASK // 4, hardware=hw, workload=wl, reps=1,
                              seed=SEED).handoff
                     for lock in ("ticket", "qspinlock") for n in range(2, 9)])
show(fig_handoff(handoff))

# %%
show(fig_transfers(table))
