"""Lock algorithms, one file each, written as integer-state step functions that read
like the kernel code they model (kernel identifiers in comments).

A step function ``<lock>_step(v, now, I, F, G, LP, P, n)`` runs the state at
``I[v, PC]`` of vCPU ``v`` until it needs the machine: it then requests one action
(``act_mem``, ``act_store``, ``act_spin``, ``act_delay`` from
:mod:`pvqmodel.engine.state`) and returns. Acquisition is reported by moving to the
workload state ``W_LOCKED``; an unlock ends with a release store continuing at
``W_UNLOCKED`` (or, for the PV locks, a locked RMW release followed by the unlock
slowpath). Program counters: ticket 100-199, qspinlock 200-299, tas 300-399, unfair
qspinlock 400-499, PV ticket 500-599, v10 PV qspinlock 600-699, its unfair variant
700-799, the merged PV qspinlock (every generation, ``pv_qspinlock.py``) 900-999.
"""
