"""Engine state layout: register indices, integer codes and the lock-step action helpers.

Owns the *shape* of the simulation state shared between the event core, the
coherence model, the spin-parking code and the lock algorithms: which column of
the per-vCPU integer/float register arrays means what, the memory-operation and
action codes, and the small ``act_*`` helpers a lock step calls to say what it does
next (a memory operation, a buffered store, a spin on a word, a delay). Lock files
never touch the event set or the cache lines directly; they only set an action, so
a later layer (the PV hypervisor schedule) can postpone or interrupt any action
without the locks knowing. These are structural constants, not tunables: every
tunable is a kernel argument (a stale numba cache cannot freeze a parameter).
"""

from __future__ import annotations

from numba import njit

from .sigs import F2, I2, INNER, f8, i8, void

# ---- per-vCPU integer registers: I[v, ...] -------------------------------------------
PC = 0  # program counter: an integer state of the workload or of the lock algorithm
MODE = 1  # engine mode of the vCPU (M_* below)
RES = 2  # value returned by the last memory operation (whole word)
OK = 3  # 1 if the last cmpxchg succeeded / the spin condition held; 0 on timeout
ACT = 4  # action requested by the last step (A_* below)
A_OP = 5
A_WORD = 6
A_MASK = 7
A_VAL = 8
A_EXP = 9
A_NEXT = 10  # pc to continue at once the action completes
A_CMP = 11  # spin condition: CMP_EQ / CMP_NE on (word & mask) vs val
A_BUDGET = 12  # spin iteration budget (-1: unbounded)
A_REL = 13  # 1 if this store releases the lock (for the mutual-exclusion check)
ITERS = 14  # iterations spent in the current spin (exact at each re-read / timeout)
SB_REQ = 15  # outstanding buffered store request id, or -1
WATCH = 16  # line this vCPU is parked on, or -1
WSEQ_SEEN = 17  # line write-sequence seen by the last spin load
OPS_DONE = 18  # lock/unlock operations completed
IN_ACQ = 19  # 1 while between lock entry and acquisition
QSEQ = 20  # queue-entry sequence number (MCS xchg_tail order), or -1
PATH = 21  # how the lock was acquired (PATH_* below)
VSTATE = 22  # hypervisor state of the vCPU (VS_* below; 0 = running on its pCPU)
SOCKET = 23  # socket the vCPU is placed on
# lock-private scratch registers (each lock file documents its use)
R0 = 24
R1 = 25
R2 = 26
R3 = 27
R4 = 28
R5 = 29
# PV / hypervisor registers (hypervisor.py)
LATCH = 30  # KVM "PV-unhalted" latch: a kick arrived while not halted (next halt returns)
HALT_SITE = 31  # HALT_* site of the current/last halt
PCPU = 32  # pCPU the vCPU runs on (or last ran on)
ACQ_SEQ = 33  # acquisitions started by this vCPU (identifies "the" acquisition of a kick)
KICK_SEQ = 34  # ACQ_SEQ of the target when the pending kick was sent, or -1
WAKE_PENDING = 35  # 1 while a kick or an interrupt is on its way to this halted vCPU
R6 = 36
R7 = 37
# pause-loop exiting (hypervisor.py; per-vCPU statistics)
PLE_N = 38  # PLE exits this vCPU took
BOOSTED = 39  # times this vCPU was the target of a successful directed yield
DY_NEXT = 40  # 1: boosted while halted with its kick on its way: runs at once when woken
PLE_LOOP = 41  # 1: the vCPU's spin is in a PAUSE loop (the next PAUSE may continue it)
# several VMs, several lock instances (kernel.py, sim.build_run)
VM = 42  # VM of this vCPU: its row of P and LP
LOCK_ID = 43  # lock algorithm this vCPU runs (LOCK_*; the dispatch reads it)
LKW = 44  # word index of the lock the current operation takes (set at W_START)
LKI = 45  # global lock-instance index of the current operation (its check block in G)
NODEW = 46  # first word of this vCPU's per-CPU node (per_cpu_ptr: other vCPUs read it)
HELD = 47  # lock instance this vCPU holds now, or -1 (per-vCPU lock-holder test)
GUEST_PREEMPTED = 48  # the preempted byte of its steal-time area as the guest reads it
#                       (fair host schedulers: 1 clear, 2 set; 0 under the round robin,
#                       whose hv_vcpu_preempted derives it from the vCPU's state)
# synchronous IPIs (engine/ipi.py; hypervisor.hv_ipi_ack) and preemption statistics
IPI_WAIT = 49  # sender: targets whose ack time is not known yet (they were off their pCPU)
IPI_PEND = 50  # target: IPIs sent to it that it has not handled yet (it was off its pCPU)
IPI_MASK0 = 51  # sender: bitmap of those targets (global vCPU ids), 4 words IPI_MASK0..+3
IPI_N = 55  # IPIs (shootdowns) this vCPU sent
IPI_HIT_PRE = 56  # targets of its IPIs that read as preempted at send time
IPI_FLAGS = 57  # of them flagged for a flush at their next entry instead (PV TLB flush)
LHP_N = 58  # times this vCPU was preempted while holding a lock (lock-holder preemption)
LWP_N = 59  # times it was preempted while waiting for one (lock-waiter preemption)
SB_HEAD = 60  # multi-entry store buffer (coherence.py): index of the oldest entry
SB_LEN = 61  # its entries (SB_REQ is the oldest one's request row while it is not empty)
SB_ROW = 62  # the request row the last dispatch prepared for a buffered store
NI = 63
IPI_MASK_WORDS = 4  # 4 x 64 bits: one per vCPU of the run (sim.MAX_VCPUS = 256)

# ---- hypervisor states of a vCPU: I[v, VSTATE] ----------------------------------------
VS_RUNNING = 0  # on a pCPU: its timers run
VS_READY = 1  # runnable but waiting for a pCPU (preempted, or woken and queued)
VS_HALTED = 2  # halted (HLT / pv_wait): off its pCPU until a kick or an interrupt

# ---- halt sites (qstat-like counters G_HALT0 + HALT_*) --------------------------------
HALT_NODE = 0  # v10 PV_HALT_QNODE: a queued non-head node
HALT_HEAD = 1  # v10 PV_HALT_QHEAD: the queue head
HALT_TICKET = 2  # kvm_lock_spinning (PV ticket)
HALT_IDLE = 3  # the guest idles (HLT) through a sleeping think time (workload)
NHALT = 4

# ---- per-vCPU float registers: F[v, ...] --------------------------------------------
F_DELAY = 0  # delay of an A_DELAY action, ns
F_PARK_T0 = 1  # time the vCPU parked / last re-read (iteration accounting)
F_ACQ_START = 2  # time the current lock acquisition started
F_DONE_T = 3  # time the task completed its K operations
F_STASH = 4  # delay left on the vCPU's timer when it lost its pCPU (< 0: none pending)
F_OFF_T0 = 5  # time the vCPU lost its pCPU (preempted or halted)
F_KICK_T = 6  # time the pending kick was sent (wake-latency statistics)
F_PLE_WIN = 7  # this vCPU's current PLE window, ns (KVM's per-vCPU vmx->ple_window)
F_PLE_DL = 8  # PLE deadline of the current park (inf: the parked timer is the budget's)
F_PLE_T0 = 9  # first PAUSE of the current PAUSE loop (the PLE window counts from it)
F_WAIT_NS = 10  # total lock-wait time of this vCPU (lock entry -> acquired, summed), ns
F_ITER = 11  # one spin iteration of this vCPU (coherence.iter_ns of its VM's row), ns
F_IPI_H = 12  # the IPI handler time of this vCPU's VM (P_IPI_HANDLER of its row), ns
F_IPI_T0 = 13  # sender: time its current IPI was sent
F_IPI_DONE = 14  # sender: the latest ack time known so far of its current IPI
F_IPI_WAIT_NS = 15  # sender: total time from send to seeing the last ack, ns
NF = 16

# ---- engine modes --------------------------------------------------------------------
M_RUN = 0  # the next timer event runs the step at PC
M_WAITMEM = 1  # waiting for a memory result (timer set by the line service)
M_SPINLOAD = 2  # waiting for the result of a spin re-read
M_PARKED = 3  # parked as watcher of a line; timer = budget timeout (or none)
M_REREAD = 4  # invalidated while parked; timer = time of the next spin load
M_DRAIN = 5  # waiting for its buffered store to drain before a memory op
M_DONE = 6  # task finished
M_HALTED = 7  # halted (VSTATE == VS_HALTED); its timer, if set, is the wake-up
M_PLE = 8  # in a pause-loop exit (VM exit + kvm_vcpu_on_spin); timer = end of the exit

# ---- memory operations (one word, a mask selects the sub-word field) ----------------
OP_LOAD = 0
OP_STORE = 1  # plain store (buffered: the vCPU does not wait for ownership)
OP_XADD = 2  # lock xadd: word += val, returns old
OP_CMPXCHG = 3  # lock cmpxchg on the field: if (w & mask) == exp: field = val
OP_XCHG = 4  # lock xchg on the field: field = val, returns old word
OP_OR = 5  # lock or / lock bts: word |= val, returns old word
OP_AND = 6  # lock and / lock btr: word &= val, returns old word
OP_PREFW = 7  # a store buffer's early RFO for a younger store: ownership, no value change

# ---- actions a lock step may request ------------------------------------------------
A_NONE = 0
A_MEM = 1
A_STORE = 2
A_SPIN = 3
A_DELAY = 4
A_HALT = 5  # halt the vCPU (HLT after the caller's own re-check): hypervisor.py
A_KICK = 6  # kick a vCPU (KVM_HC_KICK_CPU hypercall): hypervisor.py
A_FENCE = 7  # smp_mb(): drain the store buffer before continuing
A_IPI = 8  # send a synchronous IPI to the VM's other vCPUs and wait for the acks: ipi.py

CMP_EQ = 0
CMP_NE = 1

# ---- workload program counters (< 100); each lock uses its own range -----------------
W_START = 0  # begin an operation: record arrival, go to the lock's entry
W_LOCKED = 1  # lock step reports acquisition
W_CS_DONE = 2  # critical section over: go to the lock's unlock entry
W_UNLOCKED = 3  # lock step reports the unlock was issued
W_LOOP_DONE = 4  # loop overhead over
W_THINK_DONE = 5  # think time over (computed, or idled in HLT)
W_IPI_DONE = 6  # the sender has seen the last ack of its synchronous IPI

# ---- acquisition paths (counters) ---------------------------------------------------
PATH_FAST = 0
PATH_PENDING = 1
PATH_QUEUE = 2
PATH_STEAL = 3  # unfair fast-path byte steal or queue-node steal
PATH_SPIN = 4  # ticket / test-and-set spin
NPATH = 5

# ---- lock ids (dispatch inside the kernel) -------------------------------------------
LOCK_TICKET = 0
LOCK_QSPINLOCK = 1
LOCK_TAS = 2
LOCK_UNFAIR_QSPINLOCK = 3
LOCK_PV_TICKET = 4
LOCK_PV_QSPINLOCK_V10 = 5
LOCK_PV_QSPINLOCK_V10_UNFAIR = 6
LOCK_QSPINLOCK_418 = 7  # native qspinlock, 4.18+ form (locks/qspinlock_418.py)
LOCK_PV_QSPINLOCK = 8  # merged PV qspinlock, every generation 4.2 .. 5.4 (LP_PVQ_VER)

# ---- status codes returned by the kernel ---------------------------------------------
ST_OK = 0
ST_MUTEX = 1  # two holders at once
ST_FIFO = 2  # a FIFO lock granted out of arrival order
ST_WATCHDOG = 3  # no acquisition for too long (livelock / deadlock)
ST_MAX_EVENTS = 4  # event budget exhausted
ST_NO_EVENT = 5  # nothing left to run but tasks unfinished (deadlock)
ST_BAD_STATE = 6  # a lock step reached an impossible state
# 7 was ST_HEAP_FULL, the overflow of a lazy-deletion heap long gone: not reused
ST_LOST_WAKEUP = 8  # every unfinished vCPU halted with no kick or interrupt coming
ST_PAUSED = 9  # not a failure: the event loop spent its chunk budget; call it again


@njit(void(I2, i8, i8, i8, i8, i8, i8, i8), **INNER)
def act_mem(I, v, op, word, mask, val, exp, nxt):
    """Request a blocking memory operation; continue at ``nxt`` with RES/OK set."""
    I[v, ACT] = A_MEM
    I[v, A_OP] = op
    I[v, A_WORD] = word
    I[v, A_MASK] = mask
    I[v, A_VAL] = val
    I[v, A_EXP] = exp
    I[v, A_REL] = 0
    I[v, A_NEXT] = nxt


@njit(void(I2, i8, i8, i8, i8, i8, i8, i8), **INNER)
def act_mem_release(I, v, op, word, mask, val, exp, nxt):
    """A locked RMW that releases the lock when it writes (PV unlock: ``cmpxchg`` of the
    locked byte, ``add_smp`` of the ticket head): marked for the mutual-exclusion check
    (a failed cmpxchg releases nothing)."""
    I[v, ACT] = A_MEM
    I[v, A_OP] = op
    I[v, A_WORD] = word
    I[v, A_MASK] = mask
    I[v, A_VAL] = val
    I[v, A_EXP] = exp
    I[v, A_REL] = 1
    I[v, A_NEXT] = nxt


@njit(void(I2, i8, i8, i8, i8, i8, i8), **INNER)
def act_store(I, v, word, mask, val, release, nxt):
    """Request a plain store through the store buffer; continue at ``nxt`` at once."""
    I[v, ACT] = A_STORE
    I[v, A_OP] = OP_STORE
    I[v, A_WORD] = word
    I[v, A_MASK] = mask
    I[v, A_VAL] = val
    I[v, A_REL] = release
    I[v, A_NEXT] = nxt


@njit(void(I2, i8, i8, i8, i8, i8, i8, i8), **INNER)
def act_spin(I, v, word, mask, cmp, val, budget, nxt):
    """Spin (load + PAUSE) until ``(word & mask) cmp val`` or ``budget`` iterations.

    Continue at ``nxt`` with OK=1 and RES = the satisfying value, or OK=0 on timeout.
    ITERS holds the iterations spent. The spin is parked, not iterated (spin.py).
    """
    I[v, ACT] = A_SPIN
    I[v, A_OP] = OP_LOAD
    I[v, A_WORD] = word
    I[v, A_MASK] = mask
    I[v, A_CMP] = cmp
    I[v, A_VAL] = val
    I[v, A_BUDGET] = budget
    I[v, A_NEXT] = nxt
    I[v, ITERS] = 0


@njit(void(I2, F2, i8, f8, i8), **INNER)
def act_delay(I, F, v, ns, nxt):
    """Spend ``ns`` of local work (no shared memory), then continue at ``nxt``."""
    I[v, ACT] = A_DELAY
    F[v, F_DELAY] = ns
    I[v, A_NEXT] = nxt


@njit(void(I2, i8, i8, i8), **INNER)
def act_halt(I, v, site, nxt):
    """Halt (``halt()`` / ``__queue_halt_cpu``'s HLT) and continue at ``nxt`` once
    woken by a kick or an interrupt. The lock code does its own re-check first, as the
    kernel does; with the PV-unhalted latch a kick that came before the HLT makes it
    return at once (hypervisor.py)."""
    I[v, ACT] = A_HALT
    I[v, A_VAL] = site
    I[v, A_NEXT] = nxt


@njit(void(I2, i8, i8, i8), **INNER)
def act_kick(I, v, target, nxt):
    """Kick vCPU ``target`` (``kvm_kick_cpu``: the KVM_HC_KICK_CPU hypercall); the
    kicker spends the kick cost, then continues at ``nxt``."""
    I[v, ACT] = A_KICK
    I[v, A_VAL] = target
    I[v, A_NEXT] = nxt


@njit(void(I2, i8, i8), **INNER)
def act_fence(I, v, nxt):
    """``smp_mb()``: wait until the store buffer has drained, then continue."""
    I[v, ACT] = A_FENCE
    I[v, A_NEXT] = nxt

# ---- float parameters P[vm, ...] (hardware + workload; a kernel argument) -------------
# P is (nvm, NP) and LP (nvm, NLP): row k holds VM k's workload and lock tunables; the
# hardware values are the same in every row. **Host-wide values live in row 0**: the
# schedule, PLE, watchdog, store-buffer drain, memory model and the hardware costs the
# coherence model, the spin code and the hypervisor read (they get the row-0 views
# P[0], LP[0]); the workload and lock steps of vCPU v get its VM's row P[I[v, VM]].
# The spin iteration time is per vCPU (F_ITER, from its VM's row: a PV VM beside a native
# one spins at its own rate).
P_HIT = 0  # L1 hit of a load or plain store, ns
P_RMW = 1  # extra cost of a locked read-modify-write (locks the line in L1), ns
P_PAUSE = 2  # PAUSE (cpu_relax) latency, ns
P_SERVICE = 3  # per-request occupancy of a line's home/directory, ns
P_XSAME = 4  # transfer latency of a line owned by a core on the same socket, ns
P_XCROSS = 5  # transfer latency of a line owned by a core on another socket, ns
P_SHARED = 6  # latency of a read of a line held shared (served by the LLC), ns
P_OVERLAP = 7  # fraction of an ownership transfer that overlaps the next request [0, 1]
P_CS = 8  # critical-section length, ns (mean if exponential)
P_LOOP = 9  # benchmark loop overhead between unlock and the next lock, ns
P_CS_EXP = 10  # 1.0 if the critical section is exponential, 0.0 deterministic
P_LOOP_EXP = 11  # 1.0 if the loop overhead is exponential
P_WATCHDOG = 12  # no acquisition for this long while tasks wait -> ST_WATCHDOG, ns
# PV code-path costs (bare metal; only the PV locks use them)
P_PV_CALL = 13  # a paravirt hook taken on a lock/unlock path (call + static-key test), ns
P_PV_ITER = 14  # extra cost per spin iteration of the PV checks in the loop, ns
# hypervisor schedule (hypervisor.py; inert when LP_HV == 0 except halt/kick costs)
P_QUANTUM = 15  # scheduler quantum of a pCPU, ns (mean if exponential)
P_QUANTUM_EXP = 16  # 1.0: exponential quanta; 0.0: fixed
P_HALT_NS = 17  # cost of the HLT exit for the halting vCPU, ns
P_KICK_NS = 18  # time the kicker spends in the kick hypercall, ns
P_WAKE_NS = 19  # kick -> halted vCPU runnable again, ns (mean if exponential)
P_WAKE_EXP = 20  # 1.0: exponential wake latency
P_SPURIOUS_NS = 21  # mean time between interrupts that wake a halted vCPU (0: none), ns
P_DRAIN_NS = 22  # x86-TSO: extra time a plain store sits in the store buffer, ns (mean, exp)
P_SC = 23  # 1.0: sequentially consistent plain stores (the vCPU waits for each store)
# pause-loop exiting (hypervisor.py; P_PLE_WINDOW == 0: off)
P_PLE_WINDOW = 24  # base PLE window (ple_window), ns of parked time on the pCPU
P_PLE_EXIT = 25  # cost of a PLE exit: VM exit + kvm_vcpu_on_spin + VM entry, ns
P_PLE_GROW = 26  # window multiplier per exit (ple_window_grow); 1.0: fixed window
P_PLE_MAX = 27  # window cap (ple_window_max), ns
P_PLE_GAP = 28  # ple_gap: a longer PAUSE-to-PAUSE gap starts a new PAUSE loop, ns
P_THINK_SLEEP = 29  # 1.0: the think time is spent idle in HLT (the guest idles), not computing
P_THINK = 30  # think time after the loop overhead, ns (mean; 0: none, the seed benchmark)
P_THINK_DIST = 31  # 0: deterministic, 1: exponential, 2: lognormal(P_THINK_MU, P_THINK_SIGMA)
P_THINK_MU = 32  # lognormal think time: mean of ln(ns)
P_THINK_SIGMA = 33  # lognormal think time: sd of ln(ns)
# P_CS_EXP == 2.0: a lognormal critical section (mean P_CS) with these parameters
P_CS_MU = 34  # lognormal critical section: mean of ln(ns)
P_CS_SIGMA = 35  # lognormal critical section: sd of ln(ns)
# synchronous IPIs (engine/ipi.py; 0: none, the seed benchmark)
P_IPI_PER_OP = 36  # probability that an operation ends with a synchronous IPI [0, 1]
P_IPI_HANDLER = 37  # a target's handler time (flush_tlb_func and the interrupt), ns
P_PV_TLB_FLUSH = 38  # 1.0: KVM_FEATURE_PV_TLB_FLUSH: preempted targets are flagged
# a remote resched_curr (a directed yield's target on another pCPU's queue): the
# reschedule IPI until the vCPU running there has exited and its pCPU switches, ns
P_RESCHED = 39
# coherence mechanisms of issue 16 (coherence.py; each value below gives the older model)
P_THREE_CLASS = 40  # 1.0: an RFO of a line held Shared costs P_UPGRADE (the "U" class)
P_UPGRADE = 41  # U: RFO invalidating Shared copies (incl. an upgrade of one's own), ns
P_READ_SERIAL = 42  # home occupancy of a read served Shared by the LLC (S), ns; 0: none
P_SNOOP_FRAC = 43  # the snoop reaches the holders this fraction of the latency after the
#                    home's lookup [0, 1]; 0: at the lookup
P_JITTER = 44  # relative half-width of a uniform jitter on each transaction's latency; 0: none
P_LOCKED_GAP = 45  # a locked op that waited for its store buffer starts this long after
#                    the drain, ns
P_RMW_HOME = 46  # 1.0: a locked RMW's time occupies the line's home (the older model);
#                 0.0: the home serves the next request while the new owner's RMW runs
P_SB_ENTRIES = 47  # x86-TSO store-buffer entries (1: the older one-entry model)
NP = 48

# ---- integer lock tunables LP[...] (kernel argument) ---------------------------------
LP_PENDING_RETRY = 0  # v10 trylock_pending retry budget when both locked and pending (1)
LP_LSTEAL_MIN_MASK = 1  # v10 unfair LSTEAL_MIN_MASK (7)
LP_LSTEAL_MAX_MASK = 2  # v10 unfair LSTEAL_MAX_MASK (1023)
LP_SPIN_THRESHOLD = 3  # PV ticket SPIN_THRESHOLD (1 << 15)
LP_QSPIN_THRESHOLD = 4  # v10 QSPIN_THRESHOLD (1U << 14)
LP_HEAD_MULT = 5  # v10 queue head spins HEAD_MULT * QSPIN_THRESHOLD (2)
LP_MAYHALT_GAP = 6  # v10 MAYHALT_THRESHOLD = QSPIN_THRESHOLD - MAYHALT_GAP (0x10)
LP_PSPIN_THRESHOLD = 7  # v10 PV pending-bit spin limit PSPIN_THRESHOLD (1 << 10)
LP_HV = 8  # 1: a hypervisor schedule is active (pCPUs, quanta, background vCPUs)
LP_NPCPU = 9  # pCPUs
LP_NBG = 10  # background vCPUs of other VMs (always runnable, never lock)
LP_PINNED = 11  # 1: each vCPU pinned to pCPU (id % pCPUs); 0: one global run queue
LP_LATCH = 12  # 1: KVM's PV-unhalted latch (a kick before HLT makes HLT return at once)
LP_WAKEUP_PREEMPT = 13  # 1: a woken vCPU preempts the entity on its pCPU (check_preempt_wakeup)
LP_PENDING_LOOPS = 14  # 4.18+ _Q_PENDING_LOOPS: bounded pending->locked hand-over wait (x86 1 << 9)
# merged PV qspinlock (locks/pv_qspinlock.py): generation and its switchable behaviours
LP_PVQ_VER = 15  # kernel version of the generation: 402, 403, 404, 405, 411, 415, 504
LP_PVQ_STEAL = 16  # 0: queued_spin_trylock; 1: pv_queued_spin_steal_lock; 2: hybrid loop
LP_PVQ_WAIT_EARLY = 17  # 1: pv_wait_node's wait-early check of prev->state (4.5+)
LP_PVQ_PREEMPTED = 18  # 1: pv_wait_early also tests vcpu_is_preempted(prev->cpu) (4.11-5.3)
LP_PV_PREV_CHECK_MASK = 19  # PV_PREV_CHECK_MASK (0xff)
LP_PVH_BITS = 20  # pv_lock_hash_bits
# one VM's place in the run (sim.build_run); NODE_W0 / NODE_STRIDE are host-wide
LP_LOCK_ID = 21  # lock algorithm of the VM's vCPUs (LOCK_*)
LP_K = 22  # lock/unlock operations per vCPU of this VM
LP_LOCK0 = 23  # first lock instance of the VM (instances LOCK0 .. LOCK0 + NLOCKS - 1)
LP_NLOCKS = 24  # lock instances of the VM (an operation takes one, uniformly at random)
LP_VCPU0 = 25  # first (global) vCPU id of the VM: its vCPUs are VCPU0 .. VCPU0 + NVCPU - 1
LP_NVCPU = 26  # vCPUs of the VM (its guest's nr_cpu_ids)
LP_GLOBAL_W0 = 27  # first word of the VM's lock-global words (pv_lock_hash, waiting_cpus)
LP_NODE_W0 = 28  # first per-CPU node word (= lock instances of the run; host-wide)
LP_NODE_STRIDE = 29  # words per vCPU node block (the largest N_WORDS_PER_CPU; host-wide)
LP_LOCK_CHOICE = 30  # 0: an operation's lock uniformly among NLOCKS; 1: Zipf (GL_CDF)
NLP = 31

# ---- lock-instance table LK[k, ...] (init_replication copies it into G) --------------
LK_VM = 0  # VM owning instance k (the lock word of instance k is word k, on line k)
LK_PVH_HASH = 1  # hash_ptr(lock, pv_lock_hash_bits) of the instance's address
LK_CDF = 2  # Zipf lock choice: P(rank <= this instance's) within its VM, x CDF_ONE
NLK = 3
CDF_ONE = 1 << 53  # fixed-point 1.0 of LK_CDF (a uniform double has 53 bits)

# ---- global integer counters G[...] --------------------------------------------------
G_STATUS = 0
G_EVENTS = 1
G_HOLDER = 2  # the last acquirer, -1 after a release: exact for one lock instance (the
#               hypervisor's lock-holder test); with several, use I[v, HELD]
G_OPS = 3
G_XFER_SAME = 4  # ownership transfers / snoops served from a core on the same socket
G_XFER_CROSS = 5  # ... from another socket
G_SHARED_READS = 6  # misses served from a shared copy
G_REQS = 7  # line requests (misses)
G_HITS = 8
G_RMW = 9  # locked RMW operations
G_WAKES = 10  # parked spinners woken by an invalidation
G_ACQS = 11
G_WAITERS = 12  # tasks currently waiting for a lock (all instances: the watchdog's)
G_REL_WAITERS = 13  # waiters at the last release (coherence.py; instances: GL_REL_WAITERS)
G_DONE = 14
G_TRACE_POS = 15
G_TIMEOUTS = 16  # spin budgets exhausted
G_FAILED_CAS = 17
G_STEALS = 18
G_PATH0 = 19  # acquisitions by path: G_PATH0 + PATH_*
G_HALT0 = G_PATH0 + NPATH  # halts by site: G_HALT0 + HALT_*
G_KICKS = G_HALT0 + NHALT  # kick hypercalls
G_KICK_NOHALT = G_KICKS + 1  # kicks (or v10 pv_kick_node) to a vCPU that was not halted
G_KICK_STALE = G_KICKS + 2  # kicks reaching a vCPU no longer in the acquisition kicked for
G_SPURIOUS = G_KICKS + 3  # halted vCPUs woken by an interrupt
G_WAKE_KICKED = G_KICKS + 4  # halted vCPUs woken by a kick
G_LATCH_HITS = G_KICKS + 5  # halts that returned at once because of the latch
G_PREEMPTS = G_KICKS + 6  # vCPUs descheduled involuntarily (quantum end, wake-up
#                            preemption, a directed yield's resched of another pCPU)
G_LHP = G_KICKS + 7  # ... of them while holding the lock (lock-holder preemption)
G_SLOW_UNLOCKS = G_KICKS + 8  # unlocks that took the PV slowpath
G_BLOCKED = G_KICKS + 9  # halted vCPUs with no wake-up coming (liveness check)
G_CS_PREEMPT_NS = G_KICKS + 10  # off-CPU time of lock holders (sum, ns, rounded)
G_PV_KICK_NOHALT = G_KICKS + 11  # v10 pv_kick_node found the node not HALTED: no hypercall
G_PLE_EXITS = G_KICKS + 12  # pause-loop exits
G_DYIELDS = G_KICKS + 13  # successful directed yields (kvm_vcpu_on_spin found a target)
G_DY_KICKED = G_KICKS + 14  # ... of them to a halted vCPU with its kick on its way
G_WAKE_PREEMPTS = G_KICKS + 15  # wake-ups that preempted the entity on a pCPU (wake-up
#                                 preemption, or a directed yield's next buddy)
G_LAST_BOOSTED = G_KICKS + 16  # kvm->last_boosted_vcpu (a register, starts at 0 as in KVM)
G_SLOW_OPEN = G_KICKS + 17  # PV unlock slowpaths entered and not yet left: each has
#                             subtracted its start time from GF_SLOW_UNLOCK_NS; a run that
#                             stops adds GF_NOW once per open slowpath (sim.py)
# merged PV qspinlock (locks/pv_qspinlock.py): the kernel's qstat / lock_events counters
G_PV_HASH_HOPS = G_KICKS + 18  # hash entries probed by pv_hash (qstat_hop)
G_PV_KICK_NODE = G_KICKS + 19  # pv_kick_node found the next node halted (4.2: kicked it)
G_PV_KICK_UNLOCK = G_KICKS + 20  # kicks issued by the unlock slowpath
G_PV_LOCK_STEALING = G_KICKS + 21
G_PV_SPURIOUS_WAKEUP = G_KICKS + 22
G_PV_WAIT_AGAIN = G_KICKS + 23
G_PV_WAIT_EARLY = G_KICKS + 24
G_PV_WAIT_HEAD = G_KICKS + 25
G_PV_WAIT_NODE = G_KICKS + 26
G_LOCK_SLOWPATH = G_KICKS + 27  # locking ops through the MCS queue (head reached)
G_PV_HASH_CALLS = G_KICKS + 28  # pv_hash calls (hops per call = G_PV_HASH_HOPS / this)
# ... and the authors' invariants (kernel-locks.md §2.5), read by the tests
G_PVQ_UNHASH_MISS = G_KICKS + 29  # pv_unhash found no entry (the kernel's BUG())
G_PVQ_REL_HASHED = G_KICKS + 30  # slowpath releases with an entry still in the table
G_PVQ_MULTI_KICK = G_KICKS + 31  # acquisitions whose vCPU was kicked more than once
G_PVQ_HALTED_ACQS = G_KICKS + 32  # acquisitions whose vCPU halted at least once
G_PVQ_UNLOCK_NOKICK = G_KICKS + 33  # slowpath unlocks whose state test skipped the kick
G_LWP = G_KICKS + 34  # vCPUs descheduled involuntarily while waiting for a lock
G_IPIS = G_KICKS + 35  # synchronous IPIs sent (engine/ipi.py)
G_IPI_PREEMPTED = G_KICKS + 36  # IPI targets that read as preempted at send time
G_IPI_FLAGGED = G_KICKS + 37  # ... of them flagged instead of waited for (PV TLB flush)
NG = G_KICKS + 38

# per lock instance k: a block of check state G[NG + k * NGL + GL_*] (gl(k))
GL_HOLDER = 0  # vCPU holding instance k, or -1 (mutual exclusion is per instance)
GL_WAITERS = 1  # tasks waiting for instance k
GL_REL_WAITERS = 2  # ... at its last release (handoff statistics)
GL_TICKET_NEXT = 3  # ticket FIFO check: next ticket to be granted
GL_QLAST = 4  # MCS FIFO check: the last queue-path acquirer, or -1
GL_PVQ_ENTRIES = 5  # hash entries holding the lock now (kernel-locks.md §2.5)
GL_PVQ_ENTRIES_MAX = 6  # most entries the lock ever held at once (must be <= 1)
GL_PVH_HASH = 7  # hash_ptr(lock, pv_lock_hash_bits) (copied from LK at init)
GL_CDF = 8  # Zipf lock choice: LK_CDF (copied from LK at init)
GL_ACQS = 9  # acquisitions of instance k
NGL = 10


@njit(i8(i8), cache=True, _nrt=False)
def gl(k):
    """First index of lock instance k's check block in G (``G[gl(k) + GL_*]``)."""
    return NG + k * NGL


# global floats live in the extra last row of F: F[n, GF_*] (one array fewer to pass)
GF_LAST_REL = 0  # last release of any instance (coherence.py)
GF_LAST_ACQ = 1  # last acquisition of any instance (the watchdog: "no acquisition
#                  anywhere for P_WATCHDOG while some task waits")
GF_NOW = 2
GF_WAKE_LAT = 3  # sum of kick -> running latencies, ns
GF_SLOW_UNLOCK_NS = 4  # time spent in PV unlock slowpaths, ns
GF_BLOCKED_NS = 5  # time halted vCPUs spent halted, ns
GF_PV_KICK_NS = 6  # time spent in the unlock's pv_kick (qstat pv_latency_kick), ns
NGF = 7
# per lock instance k: F[2 * n + k, FL_*] (after the 2n request rows of coherence.py)
FL_LAST_REL = 0  # last release of instance k
FL_LAST_ACQ = 1  # last acquisition of instance k

# trace ring columns: what fired (TR_KIND, its own index TR_SLOT) and a snapshot of it
TR_EVENT = 0
TR_WHO = 1  # vCPU id for a vCPU step, else -(TR_SLOT + 1)
TR_PC = 2  # vCPU step / drain: the vCPU's PC; line: the request in service (L_CUR: v, or
#            n + v for v's buffered store; -1 none); quantum: the entity on the pCPU
#            whose quantum ends (-1 idle)
TR_MODE = 3  # vCPU step / drain: the vCPU's MODE; line: its queue length; quantum: 0
TR_RES = 4  # vCPU step: its RES; the others: the lock word (word 0)
TR_KIND = 5  # TK_* below
TR_SLOT = 6  # index within the kind: vCPU, line, pCPU, or the vCPU whose store drains
NTR = 7

# kinds of timer slot (trace column TR_KIND); slots are laid out in this order
TK_VCPU = 0  # a vCPU step (timer slots 0..n-1)
TK_LINE = 1  # a cache line's service completion (next n_lines slots)
TK_QUANTUM = 2  # a pCPU's quantum end (next npcpu slots, with a schedule)
TK_DRAIN = 3  # x86-TSO: a buffered store's drain delay is over (last n slots, drain_ns > 0)
