"""The merged PV qspinlock (``kernel/locking/qspinlock_paravirt.h`` and the
``CONFIG_PARAVIRT_SPINLOCKS`` paths of ``kernel/locking/qspinlock.c``), every generation
from 4.2 to 5.4 in one slowpath, the way the kernel shares it: the version's behaviours
are integer kernel arguments (``LP_PVQ_VER`` and the user-switchable ``LP_PVQ_STEAL``,
``LP_PVQ_WAIT_EARLY``, ``LP_PVQ_PREEMPTED``), and each step's comment says which
versions take it (``[4.2]``, ``[4.3]``, ``[4.2-4.4]``, ``[4.5+]`` ...). The hash table
``pv_lock_hash`` is memory: shared words on their own cache lines, probed through the
coherence model.

Sources read (kernel-locks.md §2 gives the trees; what I read myself):
- 4.4 intermediate form (qstat, split unlock, no steal) and the 4.14 form with the hybrid
  trylock: ``kernel/locking/qspinlock_paravirt.h`` in the code index (a 4.4-era tree,
  and 0wnerDied/Neptune_kernel_sm8150_oneplus @ e00eed82, an Android 4.14 tree);
  the 5.19-era merged form in N. Piggin's 2022 patch "locking/qspinlock: merge
  qspinlock_paravirt.h into qspinlock.c" (identical PV algorithm to 5.10);
- 4.2 (``mlpzaq9998/linux-4.2`` @ 7df6e3ae), 4.3.3 (``adhi1234/linux-4.3.3-parrot`` @
  a9506d92), 4.4.60 (``zyp2015/Linu_Kernel4.4.60``) and the 4.5/4.11 forms as
  kernel-locks.md §2.4 quotes them, with the 4.5 series messages (1c4941fd steal,
  cd0272fa wait-early, d7804530 split unlock, 45e898b7 qstat) and 75437bb304b2 /
  89340d0935c9 (``vcpu_is_preempted`` in ``pv_wait_early``, and its revert).
- 4.11-4.14 form: torvalds/linux ``kernel/locking/qspinlock_paravirt.h`` @ baf9c8c1
  (read in full): one ``pv_queued_spin_steal_lock`` attempt, ``pv_wait_early`` with
  ``|| vcpu_is_preempted(prev->cpu)``, no hybrid, the counter spelled
  ``qstat_pv_lock_slowpath`` (``lock_slowpath`` in 5.2+ ``lock_events``; both columns).
- **Hybrid merge version**: 11752adb ("locking/pvqspinlock: Implement hybrid PV
  queued/unfair locks"). No vanilla 4.15/4.16 tree is in the index. Lower bound from
  source: the baf9c8c1 file above already has the SPDX header (added in 4.14-rc8) and
  no hybrid, so the hybrid came after 4.14-rc8, i.e. 4.15 at the earliest. Upper bound
  from a downstream cherry-pick list (a 4.4 Android tree's changelog) that carries it
  among 4.15-cycle locking commits (``locking: Remove smp_read_barrier_depends() from
  queued_spin_lock_slowpath()``, ``locking/core: Remove break_lock field``,
  ``locking/lockdep: Remove the cross-release locking checks``); an Android 4.14 tree
  (Neptune, above) has it as a backport. So ``pv-qspinlock-4.15``; 4.16 is not ruled
  out from source.

Generations (``GENERATIONS``) and what each step does:

- fast path ``queued_spin_lock``: ``atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL)``;
  on failure the pv-op ``queued_spin_lock_slowpath`` (one ``P_PV_CALL``), where
  ``if (pv_enabled()) goto queue;`` skips ``virt_spin_lock`` and the pending path;
- ``queue:`` node 0 (the benchmark never nests): ``node->locked = 0; node->next =
  NULL;`` ``pv_init_node``: ``pn->cpu = smp_processor_id(); pn->state = vcpu_running``;
- the cold-cacheline trylock: [4.2-4.4] ``queued_spin_trylock`` (whole word 0 ->
  cmpxchg); [4.5-4.14] ``pv_queued_spin_steal_lock``: if locked and pending are both 0,
  ``cmpxchg(&l->locked, 0, _Q_LOCKED_VAL)`` on the byte (``pv_lock_stealing``);
  [4.15+] ``pv_hybrid_queued_unfair_trylock``: that steal in a loop that stays while a
  tail is queued and pending is clear (the re-read is a spin until the word changes,
  which observes exactly what the kernel's read-relax loop observes);
- ``xchg_tail`` (16-bit xchg); with a predecessor ``WRITE_ONCE(prev->next, node)`` and
  ``pv_wait_node``: spin ``SPIN_THRESHOLD`` reads of ``node->locked``; [4.5+] with the
  loop count running down from ``SPIN_THRESHOLD``, ``pv_wait_early(prev, loop)`` reads
  ``prev->state`` when ``(loop & PV_PREV_CHECK_MASK) == 0`` (the first iteration, then
  every 256th) and breaks out if it is not ``vcpu_running`` [4.11-5.3: or
  ``vcpu_is_preempted(prev->cpu)``]; then ``smp_store_mb(pn->state, vcpu_halted)``,
  ``if (!READ_ONCE(node->locked)) pv_wait(&pn->state, vcpu_halted)`` (``kvm_wait``:
  re-read, halt only if still equal), then [4.2] ``WRITE_ONCE(pn->state,
  vcpu_running)`` / [4.3+] ``cmpxchg(&pn->state, vcpu_halted, vcpu_running)`` (keeps
  ``vcpu_hashed``), [4.5+] the qstat ``!READ_ONCE(node->locked)`` load
  (``pv_spurious_wakeup``), and loop. [4.5+] Then ``next = READ_ONCE(node->next)``
  (the ``prefetchw(next)`` is not modelled: a prefetch has no place in the engine);
- queue head, [4.2-4.4] ``pv_wait_head``: [4.3+] ``lp = 1`` if our state reads
  ``vcpu_hashed``; loop: spin ``SPIN_THRESHOLD`` reads of ``l->locked`` (return at 0);
  [4.2] ``WRITE_ONCE(pn->state, vcpu_halted)`` on every pass; [4.3] on the first pass
  ``WRITE_ONCE(pn->state, vcpu_hashed)``; first pass only ``lp = pv_hash(lock, pn)``
  and ``if (!cmpxchg(&l->locked, _Q_LOCKED_VAL, _Q_SLOW_VAL)) { WRITE_ONCE(*lp, NULL);
  return; }``; ``pv_wait(&l->locked, _Q_SLOW_VAL)``. Then the generic head wait
  ``while ((val = smp_load_acquire(&lock->val)) & _Q_LOCKED_PENDING_MASK)`` and the
  claim ``if (val != tail) set_locked(lock)`` else ``atomic_cmpxchg(&lock->val, val,
  _Q_LOCKED_VAL)`` retried;
- queue head, [4.5+] ``pv_wait_head_or_lock``: ``lp = 1`` if ``vcpu_hashed``; count
  ``lock_slowpath``; loop: ``WRITE_ONCE(pn->state, vcpu_running)``, ``set_pending``
  (byte store), ``SPIN_THRESHOLD`` iterations of ``trylock_clear_pending`` (read the
  locked byte; if 0, ``cmpxchg(&l->locked_pending, _Q_PENDING_VAL, _Q_LOCKED_VAL)``),
  ``clear_pending``; first pass ``lp = pv_hash(lock, pn)`` then ``if (xchg(&l->locked,
  _Q_SLOW_VAL) == 0) { WRITE_ONCE(l->locked, _Q_LOCKED_VAL); WRITE_ONCE(*lp, NULL);
  goto gotlock; }``; ``WRITE_ONCE(pn->state, vcpu_hashed)``; ``pv_wait_head``,
  ``pv_wait_again`` counts; ``pv_wait(&l->locked, _Q_SLOW_VAL)``. ``gotlock``: return
  ``atomic_read(&lock->val) | _Q_LOCKED_VAL``, and the claim ``if ((val &
  _Q_TAIL_MASK) != tail) set_locked`` else the cmpxchg;
- pass the MCS lock: wait for ``node->next`` (unless read above),
  ``arch_mcs_spin_unlock_contended(&next->locked)`` (store-release), then
  ``pv_kick_node``: [4.2] ``if (xchg(&pn->state, vcpu_running) == vcpu_halted)
  pv_kick(pn->cpu)`` (the hand-over kick); [4.3+] ``if (cmpxchg(&pn->state,
  vcpu_halted, vcpu_hashed) == vcpu_halted) { WRITE_ONCE(l->locked, _Q_SLOW_VAL);
  pv_hash(lock, pn); }`` (no kick);
- unlock (the pv-op, one ``P_PV_CALL``): ``cmpxchg(&l->locked, _Q_LOCKED_VAL, 0)`` (a
  locked RMW that releases); if it saw ``_Q_SLOW_VAL``: [4.5+] the asm fast path calls
  ``__pv_queued_spin_unlock_slowpath`` (one more ``P_PV_CALL``; 4.2-4.4 is one C
  function); ``node = pv_unhash(lock)`` (read ``he->lock`` along the probe, then
  ``he->node``, ``WRITE_ONCE(he->lock, NULL)``); ``smp_store_release(&l->locked, 0)``;
  [4.2] ``if (READ_ONCE(node->state) == vcpu_halted) pv_kick(node->cpu)``; [4.3] ``...
  == vcpu_hashed``; [4.4+] ``pv_kick(node->cpu)`` unconditionally (``pv_kick_unlock``).
  Any other byte value: the kernel WARNs and returns; here ``ST_BAD_STATE``.

``pv_hash(lock, node)``: from ``hash_ptr(lock, pv_lock_hash_bits) & ~(PV_HE_PER_LINE -
1)``, probe entry after entry (wrapping) with ``cmpxchg(&he->lock, NULL, lock)``; on
success ``WRITE_ONCE(he->node, node)``. The table has ``2^pv_lock_hash_bits`` entries
of two words (lock, node), four per 64-byte line, sized as ``__pv_init_lock_hash``
sizes it (``sim.py``: ``ALIGN(4 * num_possible_cpus(), PV_HE_PER_LINE)``, at least
``PV_HE_MIN`` = 256; ``alloc_large_system_hash`` keeps ``ilog2`` of that many). The
hash of the lock's address is computed in the front-end (``hash_ptr``: multiplicative,
``GOLDEN_RATIO_PRIME_64`` = 0x9e37fffffffc0001 before 4.7 (``hash_64`` by shifts and
adds, equal to that product), ``GOLDEN_RATIO_64`` = 0x61C8864680B583EB from 4.7; both
read in copies of ``include/linux/hash.h`` found by the code search (the pre-4.7 header
with its "bit-sparse ... shifts and additions" comment, and the 4.7+ one; an out-of-tree
compat header defines ``GOLDEN_RATIO_64`` only for ``LINUX_VERSION_CODE <
KERNEL_VERSION(4,7,0)``, which dates the change). With one lock and the table otherwise empty a
probe takes one hop; the unlocker's ``pv_unhash`` still pays the transfer of the line
the head wrote.

qstat (``G_PV_*``, ``G_LOCK_SLOWPATH``; ``summary`` columns named as the kernel's) is
counted in every generation (4.2-4.4 had no qstat), except ``pv_spurious_wakeup``,
whose ``READ_ONCE`` exists only from 4.5. ``pv_kick_node`` is this model's count of
``pv_kick_node`` calls that found the next node halted (not a kernel counter).
Invariant counters (``G_PVQ_*``) check kernel-locks.md §2.5: entries per lock, the
owner unhashing before it releases, ``pv_unhash`` always finding the entry, kicks per
acquisition.

**A 4.2 lost wake-up under x86-TSO** (found by ``pvqmodel.hunt``; my reading, not
a documented kernel bug): a queue head halted in ``pv_wait_head`` can be woken by its
predecessor's late hand-over kick (``pv_kick_node``'s ``xchg(&pn->state,
vcpu_running)`` lands after the head hashed itself), which also resets its state to
``vcpu_running``. On its next pass (``lp`` set, so no cmpxchg) the head stores
``vcpu_halted`` and ``kvm_wait`` reads ``l->locked`` with no barrier between them; the
unlocker does ``smp_store_release(&l->locked, 0)`` then ``READ_ONCE(node->state)``,
with none either. Under TSO both loads may pass the stores: the head halts on
``_Q_SLOW_VAL`` and the unlock, reading ``vcpu_running``, does not kick; only an
interrupt wakes it. SC never shows it; 4.3 (75d22702) removed the hand-over kick and
writes ``vcpu_hashed`` only before the ``cmpxchg``, and 4.4 kicks unconditionally.

Not modelled: ``in_nmi()``, the IRQ flags of ``kvm_wait`` (the HLT is a ``safe_halt``:
an interrupt wakes it, the engine's spurious wake-ups), nesting (idx 0 only),
``prefetchw``, the cost of reading the steal-time flag.

Node words (one line per CPU, ``qw(I, cpu, F_*)``): ``mcs.locked``, ``mcs.next`` (cpu + 1,
0 = NULL), ``pn->cpu``, ``pn->state``. Hash entry e of the VM's table: words
``he_word(LPa, e)`` (lock: 0 or ``lock word + LOCK_TOKEN``) and the next (node: cpu + 1).
Each lock instance has its own ``hash_ptr(lock)`` (``lock_hash``: instance j of a VM is
``j`` cache lines after the modelled address; [derived], the model's own choice).

Registers: R0 = val (and the return pc during ``pv_hash``), R1 = my tail, R2 = prev
cpu (-1: none), R3 = next cpu (-1: not known) / in unlock the unhashed node's cpu,
R4 = iterations of the current ``SPIN_THRESHOLD`` loop, R5 = hash probe offset, R6 =
``lp`` (0 NULL, 1 "already hashed", 2 + e entry e), R7 = flags (``FL_*``) and, from bit
8, kicks received in this acquisition (written by the kicker).
"""

from __future__ import annotations

from numba import njit

from ..engine.hypervisor import hv_vcpu_preempted
from ..engine.sigs import I1, I2, INNER, i8
from ..engine.state import (
    CMP_EQ,
    CMP_NE,
    G_LOCK_SLOWPATH,
    G_PV_HASH_CALLS,
    G_PV_HASH_HOPS,
    G_PV_KICK_NODE,
    G_PV_KICK_UNLOCK,
    G_PV_LOCK_STEALING,
    G_PV_SPURIOUS_WAKEUP,
    G_PV_WAIT_AGAIN,
    G_PV_WAIT_EARLY,
    G_PV_WAIT_HEAD,
    G_PV_WAIT_NODE,
    G_PVQ_HALTED_ACQS,
    G_PVQ_MULTI_KICK,
    G_PVQ_REL_HASHED,
    G_PVQ_UNHASH_MISS,
    G_PVQ_UNLOCK_NOKICK,
    G_SLOW_OPEN,
    G_SLOW_UNLOCKS,
    G_STATUS,
    GF_PV_KICK_NS,
    GF_SLOW_UNLOCK_NS,
    GL_PVH_HASH,
    GL_PVQ_ENTRIES,
    GL_PVQ_ENTRIES_MAX,
    GL_QLAST,
    HALT_HEAD,
    HALT_NODE,
    IN_ACQ,
    ITERS,
    LKI,
    LKW,
    LP_GLOBAL_W0,
    LP_PV_PREV_CHECK_MASK,
    LP_PVH_BITS,
    LP_PVQ_PREEMPTED,
    LP_PVQ_STEAL,
    LP_PVQ_VER,
    LP_PVQ_WAIT_EARLY,
    LP_SPIN_THRESHOLD,
    NODEW,
    OK,
    OP_CMPXCHG,
    OP_LOAD,
    OP_XCHG,
    P_PAUSE,
    P_PV_CALL,
    PATH,
    PATH_FAST,
    PATH_QUEUE,
    PATH_STEAL,
    PC,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    RES,
    ST_BAD_STATE,
    ST_FIFO,
    W_LOCKED,
    W_UNLOCKED,
    act_delay,
    act_halt,
    act_kick,
    act_mem,
    act_mem_release,
    act_spin,
    act_store,
    gl,
)
from .pv_generations import ALIAS, GENERATIONS  # noqa: F401 (re-exported)
from .qspinlock import (
    _Q_LOCKED_MASK,
    _Q_LOCKED_PENDING_MASK,
    _Q_LOCKED_VAL,
    _Q_PENDING_MASK,
    _Q_PENDING_VAL,
    _Q_TAIL_MASK,
    _Q_VAL_MASK,
    decode_tail_cpu,
    encode_tail,
)

W_LOCK = 0  # the lock word of a one-lock run (the steps take I[v, LKW])
N_WORDS_PER_CPU = 4
F_LOCKED = 0  # mcs.locked
F_NEXT = 1  # mcs.next (cpu + 1, 0 = NULL)
F_CPU = 2  # pv_node.cpu
F_STATE = 3  # pv_node.state
_WORD = -1

PV_HE_PER_LINE = 4  # SMP_CACHE_BYTES / sizeof(struct pv_hash_entry) = 64 / 16
_PV_HE_MIN = 256  # PAGE_SIZE / sizeof(struct pv_hash_entry)
GLOBAL_WORDS_PER_LINE = 2 * PV_HE_PER_LINE  # sim.memory_layout: one line per 4 entries
LOCK_TOKEN = 1  # he->lock holds the lock's address: its word + LOCK_TOKEN (0 = NULL)
#: The modelled lock's address (a direct-map address; only its hash matters).
_PV_LOCK_ADDR = 0xFFFF88807C3D5A40

# enum vcpu_state
VCPU_RUNNING = 0
VCPU_HALTED = 1
VCPU_HASHED = 2  # 4.3+
_Q_SLOW_VAL = 3

# R7 flags; kicks received counted from bit 8 (the kicker adds _KICK_UNIT)
FL_WAIT_EARLY = 1
FL_WAITCNT = 2  # pv_wait_head_or_lock's waitcnt > 0
FL_HALTED = 4  # halted at least once in this acquisition
_KICK_UNIT = 256

PV_LOCK = 900  # queued_spin_lock (fast path)
PV_FAST_DONE = 901
PV_NODE_INIT = 902  # queue: node->locked = 0;
PV_NODE_INIT2 = 903
PV_INIT_CPU = 904  # pv_init_node
PV_INIT_STATE = 905
PV_TRYLOCK = 906  # queued_spin_trylock / pv_queued_spin_steal_lock / hybrid
PV_TRYLOCK_READ = 907
PV_TRYLOCK_CAS = 908
PV_HYB_SPUN = 909
PV_XCHG_TAIL = 910
PV_XCHG_DONE = 911
PV_WAIT_NODE = 912  # pv_wait_node: for (;;)
PV_NODE_SPUN = 913
PV_WAIT_EARLY = 914  # pv_wait_early
PV_NODE_HALT = 915  # smp_store_mb(pn->state, vcpu_halted)
PV_NODE_LOCKED_RD = 917
PV_NODE_LOCKED_DONE = 918
PV_NODE_WAIT_RD = 919  # pv_wait: kvm_wait's re-check
PV_NODE_RESET = 920
PV_NODE_SPURIOUS = 921
PV_NODE_SPUR_RD = 922
PV_NODE_NEXT = 923
PV_NODE_SPIN = 924
PV_HEAD = 930  # pv_wait_head / pv_wait_head_or_lock
PV_HEAD_STATE = 931
PV_HEAD_PASS = 932  # for (;; waitcnt++)
PV_HEAD_SPUN = 933
PV_HASH_ONCE = 935  # if (!lp) { lp = pv_hash(lock, pn); ...
PV_HEAD_SLOW = 936
PV_HEAD_SLOW_DONE = 937
PV_HEAD_UNHASH = 938
PV_HEAD_HASHED = 939
PV_HEAD_WAIT = 940  # pv_wait(&l->locked, _Q_SLOW_VAL)
PV_HEAD_WAIT_RD = 941
PV_HEAD_WOKEN = 942
PV_HOL_PENDING = 944  # [4.5+] set_pending
PV_HOL_SPIN = 945  # trylock_clear_pending loop
PV_HOL_SPUN = 946
PV_HOL_CAS = 947
PV_HOL_CLEAR = 948  # clear_pending
PV_HOL_GOT = 949  # gotlock: atomic_read(&lock->val) | _Q_LOCKED_VAL
PV_HOL_GOT_RD = 950
PV_HEAD_CLAIM_WAIT = 955  # [4.2-4.4] while (val & _Q_LOCKED_PENDING_MASK)
PV_HEAD_CLAIM_SEEN = 956
PV_CLAIM = 957
PV_CLAIM_CAS = 958
PV_WAIT_NEXT = 960
PV_NOTIFY = 961
PV_NOTIFY_STORE = 962  # arch_mcs_spin_unlock_contended
PV_KICK_NODE = 963  # pv_kick_node
PV_KICK_NODE_DONE = 964
PV_KICK_NODE_CPU = 965
PV_KICK_NODE_SLOW = 966
PV_ACQUIRED = 967
PV_HASH_PROBE = 970  # pv_hash: for_each_hash_entry
PV_HASH_CAS = 971
PV_UNLOCK = 980  # the pv-op queued_spin_unlock
PV_UNLOCK_CAS = 981
PV_UNLOCK_DONE = 982
PV_UNHASH = 983  # pv_unhash
PV_UNHASH_RD = 984
PV_UNHASH_NODE = 985
PV_UNLOCK_REL = 987  # smp_store_release(&l->locked, 0)
PV_UNLOCK_STATE = 988
PV_UNLOCK_KICK = 989
PV_UNLOCK_KICK_GO = 990
PV_UNLOCK_CPU = 991
PV_UNLOCK_KICKED = 992
PV_UNLOCK_END = 993


def hash_entries(n: int) -> int:
    """Entries of ``pv_lock_hash`` with ``n`` possible CPUs: ``__pv_init_lock_hash``
    asks for ``ALIGN(4 * num_possible_cpus(), PV_HE_PER_LINE)``, at least ``PV_HE_MIN``;
    ``alloc_large_system_hash`` keeps ``1 << ilog2(numentries)`` (its ``log2qty``)."""
    want = max(-(-4 * n // PV_HE_PER_LINE) * PV_HE_PER_LINE, _PV_HE_MIN)
    return 1 << (want.bit_length() - 1)


def global_words(n: int) -> int:
    """Shared words of the lock beyond its node lines: the hash table (sim.py)."""
    return 2 * hash_entries(n)


def hash_ptr(addr: int, bits: int, ver: int) -> int:
    """``hash_ptr(lock, bits)`` on x86-64 (``hash_64``): the 64-bit product with the
    golden-ratio constant, top ``bits`` bits. ``GOLDEN_RATIO_PRIME_64`` before 4.7,
    ``GOLDEN_RATIO_64`` from 4.7 (commit ef703f49a6c5)."""
    mult = 0x9E37FFFFFFFC0001 if ver < 407 else 0x61C8864680B583EB
    return ((addr * mult) & (2**64 - 1)) >> (64 - bits)


def fill_lp(LP, lock: str, n: int, steal=None, wait_early=None, preempted=None) -> None:
    """Write the generation's switches (``LockTunables`` overrides where not None) and
    the hash geometry into the ``LP`` kernel-argument row (each lock instance's hash is
    :func:`lock_hash`)."""
    from ..engine import state as st

    g = GENERATIONS[ALIAS.get(lock, lock)]
    ver = g["ver"]
    s = g["steal"] if steal is None else int(steal)
    if s != 0 and ver < 405:
        raise ValueError(f"pv_steal must be 0 for {lock} (stealing needs the 4.5+ head, "
                         f"which acquires with a cmpxchg and holds pending), got {s}")
    bits = hash_entries(n).bit_length() - 1
    LP[st.LP_PVQ_VER] = ver
    LP[st.LP_PVQ_STEAL] = s
    LP[st.LP_PVQ_WAIT_EARLY] = g["wait_early"] if wait_early is None else int(wait_early)
    LP[st.LP_PVQ_PREEMPTED] = g["preempted"] if preempted is None else int(preempted)
    LP[st.LP_PVH_BITS] = bits


def lock_hash(bits: int, ver: int, j: int) -> int:
    """``hash_ptr(lock, pv_lock_hash_bits)`` of a VM's lock instance ``j`` (``LP_PVH_BITS``,
    ``LP_PVQ_VER`` of its row): instance j sits ``j`` cache lines after the modelled
    address (each lock on its own line, as ``sim.memory_layout`` puts them)."""
    return hash_ptr(_PV_LOCK_ADDR + 64 * j, bits, ver)


@njit(i8(I2, i8, i8), **INNER)
def qw(I, cpu, field):
    """Word index of a field of cpu's qnode (node 0): ``per_cpu_ptr`` is the cpu's node
    base ``I[cpu, NODEW]``."""
    return I[cpu, NODEW] + field


@njit(i8(I1, i8), **INNER)
def he_word(LPa, e):
    """Word index of hash entry e's ``lock`` field (``node`` is the next word) in the
    VM's table (its global words)."""
    return LPa[LP_GLOBAL_W0] + 2 * e


@njit(i8(I1, i8, i8), **INNER)
def he_entry(LPa, hash, offset):
    """for_each_hash_entry: entry ``offset`` hops from the line start of ``hash`` (the
    lock's ``hash_ptr``)."""
    mask = (1 << LPa[LP_PVH_BITS]) - 1
    start = hash & ~(PV_HE_PER_LINE - 1)
    return (start + offset) & mask


@njit(**INNER)
def pv_qspinlock_step(v, now, I, F, G, LPa, P, n):
    pc = I[v, PC]
    lock = I[v, LKW]  # the lock this operation takes (its word)
    lk = gl(I[v, LKI])  # ... and its instance's block in G (checks, hash_ptr(lock))
    ver = LPa[LP_PVQ_VER]
    if pc == PV_LOCK:
        I[v, R7] = 0  # a new acquisition: no flags, no kicks received
        # queued_spin_lock: if (likely(atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL) == 0))
        act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0, PV_FAST_DONE)
    elif pc == PV_FAST_DONE:
        if I[v, OK] != 0:
            I[v, PATH] = PATH_FAST
            I[v, PC] = W_LOCKED
            return
        # [all] pv-op queued_spin_lock_slowpath -> __pv_queued_spin_lock_slowpath;
        # if (pv_enabled()) goto queue;  node->locked = 0;
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        I[v, R1] = encode_tail(v)
        I[v, R2] = -1
        I[v, R3] = -1
        I[v, R6] = 0
        if P[P_PV_CALL] > 0.0:
            act_delay(I, F, v, P[P_PV_CALL], PV_NODE_INIT)
        else:
            act_store(I, v, qw(I, v, F_LOCKED), _WORD, 0, 0, PV_NODE_INIT2)
    elif pc == PV_NODE_INIT:
        act_store(I, v, qw(I, v, F_LOCKED), _WORD, 0, 0, PV_NODE_INIT2)
    elif pc == PV_NODE_INIT2:
        act_store(I, v, qw(I, v, F_NEXT), _WORD, 0, 0, PV_INIT_CPU)  # node->next = NULL;
    elif pc == PV_INIT_CPU:
        # pv_init_node: pn->cpu = smp_processor_id(); pn->state = vcpu_running;
        act_store(I, v, qw(I, v, F_CPU), _WORD, v, 0, PV_INIT_STATE)
    elif pc == PV_INIT_STATE:
        act_store(I, v, qw(I, v, F_STATE), _WORD, VCPU_RUNNING, 0, PV_TRYLOCK)
    elif pc == PV_TRYLOCK:
        # if (queued_spin_trylock(lock)) goto release;  (each form starts with a read)
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, PV_TRYLOCK_READ)
    elif pc == PV_TRYLOCK_READ or pc == PV_HYB_SPUN:
        val = I[v, RES] & _Q_VAL_MASK
        I[v, R0] = val
        steal = LPa[LP_PVQ_STEAL]
        if steal == 0:
            # [4.2-4.4] queued_spin_trylock: if (!atomic_read(&lock->val) &&
            #           (atomic_cmpxchg(&lock->val, 0, _Q_LOCKED_VAL) == 0))
            if val == 0:
                act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, 0,
                        PV_TRYLOCK_CAS)
            else:
                _xchg_tail(v, I)
        elif (val & _Q_LOCKED_PENDING_MASK) == 0:
            # [4.5+] pv_queued_spin_steal_lock / [4.15+] pv_hybrid_queued_unfair_trylock:
            # !(val & _Q_LOCKED_PENDING_MASK) && cmpxchg(&l->locked, 0, _Q_LOCKED_VAL) == 0
            act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0,
                    PV_TRYLOCK_CAS)
        elif steal == 1 or (val & _Q_TAIL_MASK) == 0 or (val & _Q_PENDING_MASK) != 0:
            _xchg_tail(v, I)  # [4.15+] if (!(val & _Q_TAIL_MASK) || (val & _Q_PENDING_MASK)) break;
        else:
            # [4.15+] cpu_relax(); val = atomic_read(&lock->val): re-read until it changes
            act_spin(I, v, lock, _Q_VAL_MASK, CMP_NE, val, -1, PV_HYB_SPUN)
    elif pc == PV_TRYLOCK_CAS:
        steal = LPa[LP_PVQ_STEAL]
        if I[v, OK] != 0:
            if steal == 0:
                I[v, PATH] = PATH_FAST  # the cold-cacheline trylock: a fair acquisition
            else:
                G[G_PV_LOCK_STEALING] += 1
                I[v, PATH] = PATH_STEAL
            _acquired(v, I, G)  # goto release; (this_cpu_dec(qnodes[0].count))
            return
        val = I[v, R0]
        if steal == 2 and (val & _Q_TAIL_MASK) != 0 and (val & _Q_PENDING_MASK) == 0:
            act_delay(I, F, v, P[P_PAUSE], PV_TRYLOCK)  # [4.15+] cpu_relax(); loop
        else:
            _xchg_tail(v, I)
    elif pc == PV_XCHG_TAIL:
        _xchg_tail(v, I)
    elif pc == PV_XCHG_DONE:
        old = I[v, RES]
        if old & _Q_TAIL_MASK:
            prev = decode_tail_cpu(old)
            I[v, R2] = prev
            # prev = decode_tail(old); WRITE_ONCE(prev->next, node); pv_wait_node(node, prev)
            act_store(I, v, qw(I, prev, F_NEXT), _WORD, v + 1, 0, PV_WAIT_NODE)
        else:
            _head(v, I, G, ver)
    elif pc == PV_WAIT_NODE:
        # pv_wait_node: for (;;) { for (wait_early = false, loop = SPIN_THRESHOLD; ...
        I[v, R4] = 0
        I[v, R7] &= ~FL_WAIT_EARLY
        _node_spin(v, I, LPa)
    elif pc == PV_NODE_SPIN:
        _node_spin(v, I, LPa)
    elif pc == PV_NODE_SPUN:
        I[v, R4] += I[v, ITERS]
        if I[v, OK] != 0:
            # if (READ_ONCE(node->locked)) return;  we are the queue head
            if ver >= 405:
                # [4.5+] next = READ_ONCE(node->next); if (next) prefetchw(next);
                act_mem(I, v, OP_LOAD, qw(I, v, F_NEXT), _WORD, 0, 0, PV_NODE_NEXT)
            else:
                _head(v, I, G, ver)
        elif I[v, R4] >= LPa[LP_SPIN_THRESHOLD]:
            I[v, PC] = PV_NODE_HALT  # the spin loop ran out
        else:
            # [4.5+] pv_wait_early(pp, loop): (loop & PV_PREV_CHECK_MASK) == 0 here;
            # READ_ONCE(prev->state) != vcpu_running
            act_mem(I, v, OP_LOAD, qw(I, I[v, R2], F_STATE), _WORD, 0, 0, PV_WAIT_EARLY)
    elif pc == PV_WAIT_EARLY:
        if I[v, RES] != VCPU_RUNNING or (LPa[LP_PVQ_PREEMPTED] != 0
                                         and hv_vcpu_preempted(I[v, R2], I, F)):
            # [4.11-5.3] ... || vcpu_is_preempted(prev->cpu)
            I[v, R7] |= FL_WAIT_EARLY  # wait_early = true; break;
            I[v, PC] = PV_NODE_HALT
        else:
            act_delay(I, F, v, P[P_PAUSE], PV_NODE_SPIN)  # cpu_relax(); next iterations
    elif pc == PV_NODE_HALT:
        # smp_store_mb(pn->state, vcpu_halted): on x86 an xchg (store + full barrier)
        act_mem(I, v, OP_XCHG, qw(I, v, F_STATE), _WORD, VCPU_HALTED, 0, PV_NODE_LOCKED_RD)
    elif pc == PV_NODE_LOCKED_RD:
        act_mem(I, v, OP_LOAD, qw(I, v, F_LOCKED), _WORD, 0, 0, PV_NODE_LOCKED_DONE)
    elif pc == PV_NODE_LOCKED_DONE:
        if I[v, RES] == 0:
            # if (!READ_ONCE(node->locked)) { pv_wait_node, pv_wait_early counts;
            G[G_PV_WAIT_NODE] += 1
            if I[v, R7] & FL_WAIT_EARLY:
                G[G_PV_WAIT_EARLY] += 1
            # pv_wait(&pn->state, vcpu_halted): kvm_wait re-reads, halts if still equal
            act_mem(I, v, OP_LOAD, qw(I, v, F_STATE), _WORD, 0, 0, PV_NODE_WAIT_RD)
        else:
            I[v, PC] = PV_NODE_RESET
    elif pc == PV_NODE_WAIT_RD:
        if I[v, RES] == VCPU_HALTED:
            I[v, R7] |= FL_HALTED
            act_halt(I, v, HALT_NODE, PV_NODE_RESET)
        else:
            I[v, PC] = PV_NODE_RESET
    elif pc == PV_NODE_RESET:
        if ver < 403:
            # [4.2] WRITE_ONCE(pn->state, vcpu_running);
            act_store(I, v, qw(I, v, F_STATE), _WORD, VCPU_RUNNING, 0, PV_NODE_SPURIOUS)
        else:
            # [4.3+] cmpxchg(&pn->state, vcpu_halted, vcpu_running): keep vcpu_hashed
            act_mem(I, v, OP_CMPXCHG, qw(I, v, F_STATE), _WORD, VCPU_RUNNING, VCPU_HALTED,
                    PV_NODE_SPURIOUS)
    elif pc == PV_NODE_SPURIOUS:
        if ver >= 405:
            # [4.5+] qstat_inc(qstat_pv_spurious_wakeup, !READ_ONCE(node->locked));
            act_mem(I, v, OP_LOAD, qw(I, v, F_LOCKED), _WORD, 0, 0, PV_NODE_SPUR_RD)
        else:
            I[v, PC] = PV_WAIT_NODE
    elif pc == PV_NODE_SPUR_RD:
        if I[v, RES] == 0:
            G[G_PV_SPURIOUS_WAKEUP] += 1
        I[v, PC] = PV_WAIT_NODE
    elif pc == PV_NODE_NEXT:
        # [4.5+] next = READ_ONCE(node->next); (prefetchw(next) not modelled)
        I[v, R3] = I[v, RES] - 1
        _head(v, I, G, ver)
    elif pc == PV_HEAD:
        act_mem(I, v, OP_LOAD, qw(I, v, F_STATE), _WORD, 0, 0, PV_HEAD_STATE)
    elif pc == PV_HEAD_STATE:
        # if (READ_ONCE(pn->state) == vcpu_hashed) lp = (struct qspinlock **)1;
        I[v, R6] = 1 if I[v, RES] == VCPU_HASHED else 0
        I[v, PC] = PV_HEAD_PASS
    elif pc == PV_HEAD_PASS:
        if ver >= 405:
            # [4.5+] WRITE_ONCE(pn->state, vcpu_running); for pv_wait_early of followers
            act_store(I, v, qw(I, v, F_STATE), _WORD, VCPU_RUNNING, 0, PV_HOL_PENDING)
        else:
            # [4.2-4.4] for (loop = SPIN_THRESHOLD; loop; loop--)
            #               if (!READ_ONCE(l->locked)) return;
            act_spin(I, v, lock, _Q_LOCKED_MASK, CMP_EQ, 0, LPa[LP_SPIN_THRESHOLD],
                     PV_HEAD_SPUN)
    elif pc == PV_HEAD_SPUN:
        if I[v, OK] != 0:
            I[v, PC] = PV_HEAD_CLAIM_WAIT  # the lock is free: the generic code claims it
        elif ver < 403:
            # [4.2] WRITE_ONCE(pn->state, vcpu_halted); (every pass)
            act_store(I, v, qw(I, v, F_STATE), _WORD, VCPU_HALTED, 0, PV_HASH_ONCE)
        elif ver == 403 and I[v, R6] == 0:
            # [4.3] first pass: WRITE_ONCE(pn->state, vcpu_hashed); before pv_hash
            act_store(I, v, qw(I, v, F_STATE), _WORD, VCPU_HASHED, 0, PV_HASH_ONCE)
        else:
            I[v, PC] = PV_HASH_ONCE
    elif pc == PV_HOL_PENDING:
        # [4.5+] set_pending(lock): WRITE_ONCE(lock->pending, 1);
        I[v, R4] = 0
        act_store(I, v, lock, _Q_PENDING_MASK, _Q_PENDING_VAL, 0, PV_HOL_SPIN)
    elif pc == PV_HOL_SPIN:
        # for (loop = SPIN_THRESHOLD; loop; loop--) { if (trylock_clear_pending(lock))
        #     goto gotlock; cpu_relax(); }   trylock_clear_pending: !READ_ONCE(lock->locked)
        act_spin(I, v, lock, _Q_LOCKED_MASK, CMP_EQ, 0,
                 LPa[LP_SPIN_THRESHOLD] - I[v, R4], PV_HOL_SPUN)
    elif pc == PV_HOL_SPUN:
        I[v, R4] += I[v, ITERS]
        if I[v, OK] != 0:
            # && cmpxchg(&lock->locked_pending, _Q_PENDING_VAL, _Q_LOCKED_VAL) == _Q_PENDING_VAL
            act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL,
                    _Q_PENDING_VAL, PV_HOL_CAS)
        else:
            I[v, PC] = PV_HOL_CLEAR
    elif pc == PV_HOL_CAS:
        if I[v, OK] != 0:
            I[v, PC] = PV_HOL_GOT
        elif I[v, R4] >= LPa[LP_SPIN_THRESHOLD]:
            I[v, PC] = PV_HOL_CLEAR
        else:
            I[v, PC] = PV_HOL_SPIN
    elif pc == PV_HOL_CLEAR:
        # clear_pending(lock): WRITE_ONCE(lock->pending, 0);
        act_store(I, v, lock, _Q_PENDING_MASK, 0, 0, PV_HASH_ONCE)
    elif pc == PV_HASH_ONCE:
        if I[v, R6] != 0:
            # hashed (by us, or by pv_kick_node): [4.5+] state = vcpu_hashed; pv_wait
            I[v, PC] = PV_HEAD_HASHED if ver >= 405 else PV_HEAD_WAIT
        else:
            # if (!lp) { /* ONCE */ lp = pv_hash(lock, pn);
            I[v, R0] = PV_HEAD_SLOW
            _hash_start(v, I, G)
    elif pc == PV_HEAD_SLOW:
        if ver < 405:
            # [4.2-4.4] if (!cmpxchg(&l->locked, _Q_LOCKED_VAL, _Q_SLOW_VAL))
            act_mem(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, _Q_SLOW_VAL, _Q_LOCKED_VAL,
                    PV_HEAD_SLOW_DONE)
        else:
            # [4.5+] if (xchg(&lock->locked, _Q_SLOW_VAL) == 0)
            act_mem(I, v, OP_XCHG, lock, _Q_LOCKED_MASK, _Q_SLOW_VAL, 0,
                    PV_HEAD_SLOW_DONE)
    elif pc == PV_HEAD_SLOW_DONE:
        if (I[v, RES] & _Q_LOCKED_MASK) != 0:
            I[v, PC] = PV_HEAD_HASHED if ver >= 405 else PV_HEAD_WAIT
        elif ver < 405:
            # [4.2-4.4] the lock is free and _Q_SLOW_VAL never set: WRITE_ONCE(*lp, NULL);
            # return;  (then the generic head wait claims it)
            G[lk + GL_PVQ_ENTRIES] -= 1
            act_store(I, v, he_word(LPa, I[v, R6] - 2), _WORD, 0, 0, PV_HEAD_CLAIM_WAIT)
        else:
            # [4.5+] we own the lock: WRITE_ONCE(lock->locked, _Q_LOCKED_VAL);
            act_store(I, v, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, PV_HEAD_UNHASH)
    elif pc == PV_HEAD_UNHASH:
        # [4.5+] WRITE_ONCE(*lp, NULL); goto gotlock;
        G[lk + GL_PVQ_ENTRIES] -= 1
        act_store(I, v, he_word(LPa, I[v, R6] - 2), _WORD, 0, 0, PV_HOL_GOT)
    elif pc == PV_HEAD_HASHED:
        # [4.5+] WRITE_ONCE(pn->state, vcpu_hashed);
        act_store(I, v, qw(I, v, F_STATE), _WORD, VCPU_HASHED, 0, PV_HEAD_WAIT)
    elif pc == PV_HEAD_WAIT:
        G[G_PV_WAIT_HEAD] += 1
        if I[v, R7] & FL_WAITCNT:
            G[G_PV_WAIT_AGAIN] += 1
        # pv_wait(&l->locked, _Q_SLOW_VAL): kvm_wait re-reads the byte first
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, PV_HEAD_WAIT_RD)
    elif pc == PV_HEAD_WAIT_RD:
        if (I[v, RES] & _Q_LOCKED_MASK) == _Q_SLOW_VAL:
            I[v, R7] |= FL_HALTED
            act_halt(I, v, HALT_HEAD, PV_HEAD_WOKEN)
        else:
            I[v, PC] = PV_HEAD_WOKEN
    elif pc == PV_HEAD_WOKEN:
        I[v, R7] |= FL_WAITCNT  # waitcnt++
        I[v, PC] = PV_HEAD_PASS
    elif pc == PV_HOL_GOT:
        # gotlock: return (u32)(atomic_read(&lock->val) | _Q_LOCKED_VAL);
        act_mem(I, v, OP_LOAD, lock, _Q_VAL_MASK, 0, 0, PV_HOL_GOT_RD)
    elif pc == PV_HOL_GOT_RD:
        I[v, R0] = (I[v, RES] & _Q_VAL_MASK) | _Q_LOCKED_VAL
        I[v, PC] = PV_CLAIM
    elif pc == PV_HEAD_CLAIM_WAIT:
        # [4.2-4.4] while ((val = smp_load_acquire(&lock->val.counter))
        #                  & _Q_LOCKED_PENDING_MASK) cpu_relax();
        act_spin(I, v, lock, _Q_LOCKED_PENDING_MASK, CMP_EQ, 0, -1, PV_HEAD_CLAIM_SEEN)
    elif pc == PV_HEAD_CLAIM_SEEN:
        I[v, R0] = I[v, RES] & _Q_VAL_MASK
        I[v, PC] = PV_CLAIM
    elif pc == PV_CLAIM:
        val = I[v, R0]
        # [4.2-4.4] if (val != tail); [4.5+] if ((val & _Q_TAIL_MASK) != tail)
        other = val != I[v, R1] if ver < 405 else (val & _Q_TAIL_MASK) != I[v, R1]
        if other:
            # set_locked(lock): WRITE_ONCE(l->locked, _Q_LOCKED_VAL); then wait for next
            act_store(I, v, lock, _Q_LOCKED_MASK, _Q_LOCKED_VAL, 0, PV_WAIT_NEXT)
        else:
            # old = atomic_cmpxchg(&lock->val, val, _Q_LOCKED_VAL);
            act_mem(I, v, OP_CMPXCHG, lock, _Q_VAL_MASK, _Q_LOCKED_VAL, val, PV_CLAIM_CAS)
    elif pc == PV_CLAIM_CAS:
        if I[v, OK] != 0:
            _queue_granted(v, I, G)  # if (old == val) goto release; /* No contention */
        else:
            I[v, R0] = I[v, RES] & _Q_VAL_MASK  # val = old;
            I[v, PC] = PV_CLAIM
    elif pc == PV_WAIT_NEXT:
        if I[v, R3] >= 0:
            I[v, PC] = PV_NOTIFY_STORE  # [4.5+] next was read after pv_wait_node
        else:
            # while (!(next = READ_ONCE(node->next))) cpu_relax();
            act_spin(I, v, qw(I, v, F_NEXT), _WORD, CMP_NE, 0, -1, PV_NOTIFY)
    elif pc == PV_NOTIFY:
        I[v, R3] = I[v, RES] - 1
        I[v, PC] = PV_NOTIFY_STORE
    elif pc == PV_NOTIFY_STORE:
        # arch_mcs_spin_unlock_contended(&next->locked): smp_store_release(..., 1)
        act_store(I, v, qw(I, I[v, R3], F_LOCKED), _WORD, 1, 0, PV_KICK_NODE)
    elif pc == PV_KICK_NODE:
        if ver < 403:
            # [4.2] if (xchg(&pn->state, vcpu_running) == vcpu_halted) pv_kick(pn->cpu);
            act_mem(I, v, OP_XCHG, qw(I, I[v, R3], F_STATE), _WORD, VCPU_RUNNING, 0,
                    PV_KICK_NODE_DONE)
        else:
            # [4.3+] if (cmpxchg(&pn->state, vcpu_halted, vcpu_hashed) != vcpu_halted)
            #            return;   ([4.5+]: smp_mb__before_atomic(); cmpxchg_relaxed)
            act_mem(I, v, OP_CMPXCHG, qw(I, I[v, R3], F_STATE), _WORD, VCPU_HASHED,
                    VCPU_HALTED, PV_KICK_NODE_DONE)
    elif pc == PV_KICK_NODE_DONE:
        if I[v, RES] != VCPU_HALTED:
            _queue_granted(v, I, G)
        elif ver < 403:
            G[G_PV_KICK_NODE] += 1
            act_mem(I, v, OP_LOAD, qw(I, I[v, R3], F_CPU), _WORD, 0, 0, PV_KICK_NODE_CPU)
        else:
            G[G_PV_KICK_NODE] += 1
            # [4.3+] WRITE_ONCE(l->locked, _Q_SLOW_VAL); (void)pv_hash(lock, pn);
            act_store(I, v, lock, _Q_LOCKED_MASK, _Q_SLOW_VAL, 0, PV_KICK_NODE_SLOW)
    elif pc == PV_KICK_NODE_CPU:
        _kick(v, I, I[v, RES], PV_ACQUIRED)  # [4.2] pv_kick(pn->cpu)
    elif pc == PV_KICK_NODE_SLOW:
        I[v, R0] = PV_ACQUIRED
        _hash_start(v, I, G)
    elif pc == PV_ACQUIRED:
        _queue_granted(v, I, G)
    elif pc == PV_HASH_PROBE:
        # for_each_hash_entry(he, offset, hash) { hopcnt++;
        #     if (!cmpxchg(&he->lock, NULL, lock)) {
        G[G_PV_HASH_HOPS] += 1
        act_mem(I, v, OP_CMPXCHG, he_word(LPa, he_entry(LPa, G[lk + GL_PVH_HASH], I[v, R5])),
                _WORD, lock + LOCK_TOKEN, 0, PV_HASH_CAS)
    elif pc == PV_HASH_CAS:
        e = he_entry(LPa, G[lk + GL_PVH_HASH], I[v, R5])
        if I[v, OK] != 0:
            G[lk + GL_PVQ_ENTRIES] += 1
            if G[lk + GL_PVQ_ENTRIES] > G[lk + GL_PVQ_ENTRIES_MAX]:
                G[lk + GL_PVQ_ENTRIES_MAX] = G[lk + GL_PVQ_ENTRIES]
            I[v, R6] = 2 + e if I[v, R0] == PV_HEAD_SLOW else I[v, R6]
            # WRITE_ONCE(he->node, node); return &he->lock;  (our node, or next's)
            node = v if I[v, R0] == PV_HEAD_SLOW else I[v, R3]
            act_store(I, v, he_word(LPa, e) + 1, _WORD, node + 1, 0, I[v, R0])
        else:
            I[v, R5] += 1
            if I[v, R5] >= (1 << LPa[LP_PVH_BITS]):
                G[G_STATUS] = ST_BAD_STATE  # BUG(): no free entry
                return
            I[v, PC] = PV_HASH_PROBE
    elif pc == PV_UNLOCK:
        # the pv-op queued_spin_unlock: [4.2-4.4] __pv_queued_spin_unlock behind the
        # callee-save thunk, [4.5+] the asm __raw_callee_save___pv_queued_spin_unlock
        if P[P_PV_CALL] > 0.0:
            act_delay(I, F, v, P[P_PV_CALL], PV_UNLOCK_CAS)
        else:
            I[v, PC] = PV_UNLOCK_CAS
    elif pc == PV_UNLOCK_CAS:
        # locked = cmpxchg(&l->locked, _Q_LOCKED_VAL, 0);  (the release if it was 1)
        act_mem_release(I, v, OP_CMPXCHG, lock, _Q_LOCKED_MASK, 0, _Q_LOCKED_VAL,
                        PV_UNLOCK_DONE)
    elif pc == PV_UNLOCK_DONE:
        if I[v, OK] != 0:
            I[v, PC] = W_UNLOCKED  # if (likely(locked == _Q_LOCKED_VAL)) return;
            return
        if (I[v, RES] & _Q_LOCKED_MASK) != _Q_SLOW_VAL:
            G[G_STATUS] = ST_BAD_STATE  # WARN "pvqspinlock: lock ... has corrupted value"
            return
        G[G_SLOW_UNLOCKS] += 1
        F[n, GF_SLOW_UNLOCK_NS] -= now
        G[G_SLOW_OPEN] += 1  # closed at the end, or by sim.py if the run stops first
        I[v, R5] = 0
        if ver >= 405 and P[P_PV_CALL] > 0.0:
            # [4.5+] __pv_queued_spin_unlock_slowpath(lock, locked) through its thunk
            act_delay(I, F, v, P[P_PV_CALL], PV_UNHASH)
        else:
            I[v, PC] = PV_UNHASH  # smp_rmb() (a compiler barrier on x86); pv_unhash
    elif pc == PV_UNHASH:
        # pv_unhash: for_each_hash_entry: if (READ_ONCE(he->lock) == lock)
        w = he_word(LPa, he_entry(LPa, G[lk + GL_PVH_HASH], I[v, R5]))
        act_mem(I, v, OP_LOAD, w, _WORD, 0, 0,
                PV_UNHASH_RD)
    elif pc == PV_UNHASH_RD:
        if I[v, RES] == lock + LOCK_TOKEN:
            # node = READ_ONCE(he->node);
            w = he_word(LPa, he_entry(LPa, G[lk + GL_PVH_HASH], I[v, R5]))
            act_mem(I, v, OP_LOAD, w + 1, _WORD, 0, 0,
                    PV_UNHASH_NODE)
        else:
            I[v, R5] += 1
            if I[v, R5] >= (1 << LPa[LP_PVH_BITS]):
                G[G_PVQ_UNHASH_MISS] += 1  # BUG(): SLOW seen, no entry
                G[G_STATUS] = ST_BAD_STATE
                return
            I[v, PC] = PV_UNHASH
    elif pc == PV_UNHASH_NODE:
        I[v, R3] = I[v, RES] - 1
        # WRITE_ONCE(he->lock, NULL); return node;
        G[lk + GL_PVQ_ENTRIES] -= 1
        w = he_word(LPa, he_entry(LPa, G[lk + GL_PVH_HASH], I[v, R5]))
        act_store(I, v, w, _WORD, 0, 0, PV_UNLOCK_REL)
    elif pc == PV_UNLOCK_REL:
        if G[lk + GL_PVQ_ENTRIES] != 0:
            G[G_PVQ_REL_HASHED] += 1  # the owner must have unhashed before releasing
        # smp_store_release(&l->locked, 0);
        act_store(I, v, lock, _Q_LOCKED_MASK, 0, 1, PV_UNLOCK_STATE)
    elif pc == PV_UNLOCK_STATE:
        if ver < 404:
            # [4.2] if (READ_ONCE(node->state) == vcpu_halted) / [4.3] == vcpu_hashed
            act_mem(I, v, OP_LOAD, qw(I, I[v, R3], F_STATE), _WORD, 0, 0, PV_UNLOCK_KICK)
        else:
            I[v, PC] = PV_UNLOCK_KICK_GO  # [4.4+] pv_kick(node->cpu) unconditionally
    elif pc == PV_UNLOCK_KICK:
        if I[v, RES] == (VCPU_HALTED if ver < 403 else VCPU_HASHED):
            I[v, PC] = PV_UNLOCK_KICK_GO
        else:
            G[G_PVQ_UNLOCK_NOKICK] += 1
            I[v, PC] = PV_UNLOCK_END
    elif pc == PV_UNLOCK_KICK_GO:
        G[G_PV_KICK_UNLOCK] += 1
        # pv_kick(node->cpu): read node->cpu
        act_mem(I, v, OP_LOAD, qw(I, I[v, R3], F_CPU), _WORD, 0, 0, PV_UNLOCK_CPU)
    elif pc == PV_UNLOCK_CPU:
        F[n, GF_PV_KICK_NS] -= now
        _kick(v, I, I[v, RES], PV_UNLOCK_KICKED)
    elif pc == PV_UNLOCK_KICKED:
        F[n, GF_PV_KICK_NS] += now
        I[v, PC] = PV_UNLOCK_END
    elif pc == PV_UNLOCK_END:
        F[n, GF_SLOW_UNLOCK_NS] += now
        G[G_SLOW_OPEN] -= 1
        I[v, PC] = W_UNLOCKED
    else:
        G[G_STATUS] = ST_BAD_STATE


@njit(**INNER)
def _xchg_tail(v, I):
    lock = I[v, LKW]  # the lock this operation takes (its word)
    # old = xchg_tail(lock, tail): 16-bit xchg on the tail half-word
    I[v, PC] = PV_XCHG_TAIL
    act_mem(I, v, OP_XCHG, lock, _Q_TAIL_MASK, I[v, R1], 0, PV_XCHG_DONE)


@njit(**INNER)
def _node_spin(v, I, LPa):
    """Spin on ``node->locked`` up to the next iteration where ``pv_wait_early`` reads
    ``prev->state`` (``loop`` counts down from ``SPIN_THRESHOLD``; the check is at
    ``(loop & PV_PREV_CHECK_MASK) == 0``), or to the end of the loop."""
    T = LPa[LP_SPIN_THRESHOLD]
    done = I[v, R4]
    end = T
    if LPa[LP_PVQ_WAIT_EARLY] != 0:
        step = LPa[LP_PV_PREV_CHECK_MASK] + 1
        m = ((T - done) // step) * step  # largest loop value <= T - done with no low bits
        if m > 0:
            end = T + 1 - m  # the iteration (1-based) whose loop value is m
    I[v, PC] = PV_NODE_SPIN
    act_spin(I, v, qw(I, v, F_LOCKED), _WORD, CMP_NE, 0, end - done, PV_NODE_SPUN)


@njit(**INNER)
def _head(v, I, G, ver):
    """Queue head: pv_wait_head ([4.2-4.4]) or pv_wait_head_or_lock ([4.5+]). The
    kernel counts lock_slowpath in the latter; counted here for every generation."""
    G[G_LOCK_SLOWPATH] += 1
    I[v, R6] = 0
    I[v, R7] &= ~FL_WAITCNT
    if ver < 403:
        I[v, PC] = PV_HEAD_PASS  # [4.2] lp = NULL: nobody hashes on our behalf
        return
    # [4.3+] if (READ_ONCE(pn->state) == vcpu_hashed) lp = (struct qspinlock **)1;
    I[v, PC] = PV_HEAD
    act_mem(I, v, OP_LOAD, qw(I, v, F_STATE), _WORD, 0, 0, PV_HEAD_STATE)


@njit(**INNER, forceinline=True)
def _hash_start(v, I, G):
    """pv_hash(lock, node): probe from the hash's line start; returns to the pc in R0."""
    G[G_PV_HASH_CALLS] += 1
    I[v, R5] = 0
    I[v, PC] = PV_HASH_PROBE


@njit(**INNER, forceinline=True)
def _kick(v, I, target, nxt):
    """pv_kick(cpu) -> kvm_kick_cpu; counts the kick against the target's acquisition."""
    if I[target, IN_ACQ] != 0:
        I[target, R7] += _KICK_UNIT
    act_kick(I, v, target, nxt)


@njit(**INNER)
def _acquired(v, I, G):
    """Every acquisition of the slowpath: the kick/halt invariant counters."""
    if I[v, R7] >= 2 * _KICK_UNIT:
        G[G_PVQ_MULTI_KICK] += 1
    if I[v, R7] & FL_HALTED:
        G[G_PVQ_HALTED_ACQS] += 1
    I[v, PC] = W_LOCKED


@njit(**INNER)
def _queue_granted(v, I, G):
    """A queue-path acquisition. FIFO check: the MCS queue grants in ``xchg_tail``
    order, so our predecessor must be the previous queue-path acquirer (stealers and
    hybrid arrivals take the lock outside the queue and are not in this order)."""
    prev = I[v, R2]
    if prev >= 0 and G[gl(I[v, LKI]) + GL_QLAST] != prev:
        G[G_STATUS] = ST_FIFO
    G[gl(I[v, LKI]) + GL_QLAST] = v
    I[v, PATH] = PATH_QUEUE
    _acquired(v, I, G)
