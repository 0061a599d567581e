/* troupe-ckbench: the engine's hand-written concurrency pieces against
 * their Concurrency Kit equivalents, case by case (issue 7, item 6).
 *
 *   troupe-ckbench CASE [threads=T] [n=N] [reps=R] [outside=K] [deadline_ms=D] [aa=1]
 *
 *   aa=1 runs the hand-written code in every variant's slot (spinlock,
 *   trylock, stack): an A/A run that shows how much the slot's position
 *   alone moves the figures.
 *
 *   spinlock  the timer shard lock (rpc/timer.c: test-and-test-and-set,
 *             pause, sched_yield after 128 spins) vs ck_spinlock_fas,
 *             ck_spinlock_ticket, ck_spinlock_mcs. T threads each take the
 *             lock n times around a small wheel-like update, then do
 *             `outside` iterations of private work.
 *   trylock   the inject queue's consumer try-lock (core/sched.c: one
 *             exchange) vs ck_spinlock_fas_trylock: T threads try n times.
 *   stack     the remote-free / deferred-release stacks (core/msgpool.c,
 *             rpc/timer.c: CAS push, exchange pop-all) vs ck_stack
 *             push_upmc / batch_pop_upmc: T producers push n nodes each,
 *             the main thread pops everything.
 *   bitmap    the timer wheel's slot bitmap (core/timer_wheel.c: plain
 *             words, ctz scan) vs ck_bitmap (set/reset are lock or/and,
 *             ck_bitmap_next scan): one thread, n set+scan+clear rounds.
 *   park      two threads hand a token back and forth, sleeping in the
 *             kernel each time: the scheduler's permits futex (sleepers
 *             count + futex, core/sched.c) vs ck_ec32 with futex ops.
 *   hash      the registry's FNV-1a (rpc/registry.c) vs ck_ht_hash
 *             (MurmurHash64A) on 16-byte endpoint ids.
 *
 * Every repetition runs every variant (the order rotates), checks its own
 * counts and exits 1 on a mismatch. One line per variant on stdout:
 *   CKBENCH case=.. variant=.. threads=.. unit=.. median=.. min=.. max=.. runs=..
 * Every loop is bounded by n; a run also stops at a deadline (deadline_ms=,
 * default 10 s): the rate then counts what was done and the line says
 * deadline=hit. bench/ck/run.sh runs the configurations the note quotes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ck_bitmap.h>
#include <ck_ec.h>
#include <ck_ht.h>
#include <ck_spinlock.h>
#include <ck_stack.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
#define MAX_REPS 31
#define MAX_VARIANTS 4

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static long nthreads = 2, n = 2000000, reps = 7, outside = 0;
static int64_t DEADLINE_NS = 10000000000ll; /* deadline_ms= */
static bool aa; /* aa=1: every slot runs the hand-written code (position bias check) */
static bool deadline_hit;

static void fail(const char *what)
{
    fprintf(stderr, "troupe-ckbench: count mismatch: %s\n", what);
    exit(1);
}

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

/* Private work between critical sections; the result is kept. */
static uint64_t private_work(long k, uint64_t x)
{
    for (long i = 0; i < k; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

/* ---- spinlock ------------------------------------------------------------ */

typedef struct {
    alignas(64) _Atomic uint32_t hand;
    alignas(64) ck_spinlock_fas_t fas;
    alignas(64) ck_spinlock_ticket_t ticket;
    alignas(64) ck_spinlock_mcs_t mcs;
    alignas(64) uint64_t slots[64]; /* the "wheel" the lock guards */
    uint64_t count;
} lockset;

static lockset L;
static pthread_barrier_t bar;

static void hand_lock(_Atomic uint32_t *l) /* rpc/timer.c shard_lock, verbatim */
{
    for (unsigned spins = 0; atomic_exchange_explicit(l, 1, memory_order_acquire);) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
            if (++spins > 128)
                sched_yield();
            else
                cpu_relax();
        }
    }
}
static void hand_unlock(_Atomic uint32_t *l) { atomic_store_explicit(l, 0, memory_order_release); }

static inline void critical(long i)
{
    unsigned s = (unsigned)(i * 2654435761u) & 63;
    L.slots[s] += (uint64_t)i;
    L.slots[(s + 1) & 63] ^= (uint64_t)i;
    L.count++;
}

typedef struct {
    pthread_t th;
    int variant;
    long done;
    uint64_t sink;
    int64_t t0, t1; /* its own start and end: the span is min(t0)..max(t1) */
} worker;

static double span_rate(const worker *ws, long nw, long total)
{
    int64_t a = ws[0].t0, b = ws[0].t1;
    for (long t = 1; t < nw; t++) {
        if (ws[t].t0 < a) a = ws[t].t0;
        if (ws[t].t1 > b) b = ws[t].t1;
    }
    return (double)total * 1e9 / (double)(b - a);
}

static void *lock_thread(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&bar);
    w->t0 = now_ns();
    int64_t end = w->t0 + DEADLINE_NS;
    uint64_t x = (uint64_t)(uintptr_t)w;
    long i = 0;
    for (; i < n; i++) {
        if ((i & 4095) == 0 && now_ns() > end) {
            deadline_hit = true;
            break;
        }
        switch (aa ? 0 : w->variant) {
        case 0: hand_lock(&L.hand); critical(i); hand_unlock(&L.hand); break;
        case 1: ck_spinlock_fas_lock(&L.fas); critical(i); ck_spinlock_fas_unlock(&L.fas); break;
        case 2: ck_spinlock_ticket_lock(&L.ticket); critical(i); ck_spinlock_ticket_unlock(&L.ticket); break;
        default: {
            ck_spinlock_mcs_context_t me;
            ck_spinlock_mcs_lock(&L.mcs, &me);
            critical(i);
            ck_spinlock_mcs_unlock(&L.mcs, &me);
        }
        }
        x = private_work(outside, x);
    }
    w->t1 = now_ns();
    w->done = i;
    w->sink = x;
    return NULL;
}

/* Runs T threads of `variant` through `fn`; returns ops/s and checks that
 * L.count equals the operations done (for lock cases). */
static double run_threads(void *(*fn)(void *), int variant, bool check_count)
{
    worker ws[MAX_THREADS];
    memset(&L, 0, sizeof L);
    ck_spinlock_fas_init(&L.fas);
    ck_spinlock_ticket_init(&L.ticket);
    ck_spinlock_mcs_init(&L.mcs);
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
    for (long t = 0; t < nthreads; t++) {
        ws[t] = (worker){.variant = variant};
        if (pthread_create(&ws[t].th, NULL, fn, &ws[t]))
            fail("pthread_create");
    }
    pthread_barrier_wait(&bar);
    long total = 0;
    for (long t = 0; t < nthreads; t++) {
        pthread_join(ws[t].th, NULL);
        total += ws[t].done;
    }
    pthread_barrier_destroy(&bar);
    if (check_count && L.count != (uint64_t)total)
        fail("lock: increments lost");
    return span_rate(ws, nthreads, total);
}

/* ---- trylock ------------------------------------------------------------- */

static _Atomic long try_wins;

static void *try_thread(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&bar);
    w->t0 = now_ns();
    long wins = 0, i = 0;
    for (; i < n; i++) {
        bool got;
        if (aa || w->variant == 0) /* core/sched.c inject_pop */
            got = !atomic_exchange_explicit(&L.hand, 1, memory_order_acquire);
        else
            got = ck_spinlock_fas_trylock(&L.fas);
        if (got) {
            critical(i);
            wins++;
            if (aa || w->variant == 0)
                atomic_store_explicit(&L.hand, 0, memory_order_release);
            else
                ck_spinlock_fas_unlock(&L.fas);
        }
        w->sink = private_work(outside, w->sink);
    }
    w->t1 = now_ns();
    w->done = i;
    atomic_fetch_add(&try_wins, wins);
    return NULL;
}

/* ---- stack --------------------------------------------------------------- */

typedef struct snode {
    union {
        _Atomic(struct snode *) next; /* hand */
        ck_stack_entry_t entry;       /* ck: entry first, so the casts hold */
    };
    uint64_t payload;
} snode;

static struct {
    alignas(64) _Atomic(snode *) head;
    alignas(64) ck_stack_t ck;
    alignas(64) _Atomic long producers_left;
} S;
static snode *nodes;

static void hand_push(snode *nd) /* core/msgpool.c push_remote, one node */
{
    snode *old = atomic_load_explicit(&S.head, memory_order_relaxed);
    do
        atomic_store_explicit(&nd->next, old, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&S.head, &old, nd, memory_order_release,
                                                  memory_order_relaxed));
}

static void *push_thread(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&bar);
    w->t0 = now_ns();
    snode *mine = nodes + w->done * n; /* w->done holds the index on entry */
    for (long i = 0; i < n; i++) {
        if (aa || w->variant == 0)
            hand_push(&mine[i]);
        else
            ck_stack_push_upmc(&S.ck, &mine[i].entry);
    }
    w->t1 = now_ns();
    atomic_fetch_sub_explicit(&S.producers_left, 1, memory_order_release);
    return NULL;
}

static double run_stack(int variant)
{
    if (aa)
        variant = 0;
    worker ws[MAX_THREADS];
    long total = nthreads * n;
    uint64_t want = 0;
    for (long i = 0; i < total; i++) {
        nodes[i].payload = (uint64_t)i * 7 + 1;
        want += nodes[i].payload;
    }
    atomic_store(&S.head, NULL);
    ck_stack_init(&S.ck);
    atomic_store(&S.producers_left, nthreads);
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
    for (long t = 0; t < nthreads; t++) {
        ws[t] = (worker){.variant = variant, .done = t};
        if (pthread_create(&ws[t].th, NULL, push_thread, &ws[t]))
            fail("pthread_create");
    }
    pthread_barrier_wait(&bar);
    int64_t t0 = now_ns(), end = t0 + DEADLINE_NS;
    long got = 0;
    uint64_t sum = 0;
    /* Bounded: stops when every node is seen, or at the deadline. */
    while (got < total && now_ns() < end) {
        bool last = atomic_load_explicit(&S.producers_left, memory_order_acquire) == 0;
        snode *s;
        if (variant == 0)
            s = atomic_exchange_explicit(&S.head, NULL, memory_order_acquire);
        else
            s = (snode *)ck_stack_batch_pop_upmc(&S.ck);
        for (; s; got++) {
            sum += s->payload;
            s = variant == 0 ? atomic_load_explicit(&s->next, memory_order_relaxed)
                             : (snode *)s->entry.next;
        }
        if (last && got < total)
            fail("stack: nodes missing after the producers finished");
    }
    int64_t t1 = now_ns(); /* the consumer's last pop */
    for (long t = 0; t < nthreads; t++)
        pthread_join(ws[t].th, NULL);
    pthread_barrier_destroy(&bar);
    if (got != total || sum != want)
        fail("stack: sum or count");
    int64_t a = t1;
    for (long t = 0; t < nthreads; t++)
        if (ws[t].t0 < a) a = ws[t].t0;
    return (double)total * 1e9 / (double)(t1 - a);
}

/* ---- bitmap -------------------------------------------------------------- */

#define NBITS 4096 /* TRI_TIMER_SLOTS */
static uint64_t hbits[NBITS / 64];
static CK_BITMAP_INSTANCE(NBITS) cbits;

/* One round: set 8 pseudo-random bits, then visit and clear every set bit
 * in a 512-slot window (a tick's worth of expiry), as the wheel does. */
static double run_bitmap(int variant)
{
    uint64_t x = 12345, visited = 0, setcount = 0;
    memset(hbits, 0, sizeof hbits);
    CK_BITMAP_INIT(&cbits, NBITS, false);
    int64_t t0 = now_ns();
    for (long r = 0; r < n; r++) {
        unsigned win = (unsigned)(r & 7) * 512;
        for (int k = 0; k < 8; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            unsigned b = win + (unsigned)(x >> 55); /* 0..511 inside the window */
            setcount++;
            if (variant == 0)
                hbits[b >> 6] |= 1ull << (b & 63);
            else
                CK_BITMAP_SET(&cbits, b);
        }
        if (variant == 0) {
            for (unsigned wd = win / 64; wd < (win + 512) / 64; wd++) {
                uint64_t bits = hbits[wd];
                while (bits) {
                    unsigned b = wd * 64 + (unsigned)__builtin_ctzll(bits);
                    bits &= bits - 1;
                    hbits[b >> 6] &= ~(1ull << (b & 63));
                    visited++;
                }
            }
        } else {
            /* ck's iterator walks the whole map; stop at the window's end. */
            ck_bitmap_iterator_t it;
            unsigned b;
            CK_BITMAP_ITERATOR_INIT(&it, &cbits);
            while (CK_BITMAP_NEXT(&cbits, &it, &b)) {
                if (b >= win + 512)
                    break;
                CK_BITMAP_RESET(&cbits, b);
                visited++;
            }
        }
    }
    int64_t el = now_ns() - t0;
    /* duplicates within a round collapse: visited <= set, and > 0 */
    if (visited == 0 || visited > setcount)
        fail("bitmap: visits");
    printf("# bitmap variant=%d visited=%llu\n", variant, (unsigned long long)visited);
    return (double)n * 1e9 / (double)el;
}

/* ---- park ---------------------------------------------------------------- */

static int ec_gettime(const struct ck_ec_ops *o, struct timespec *t)
{
    (void)o;
    return clock_gettime(CLOCK_MONOTONIC, t);
}
static void ec_wait32(const struct ck_ec_wait_state *s, const uint32_t *a, uint32_t exp,
                      const struct timespec *dl)
{
    (void)s;
    syscall(SYS_futex, a, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, exp, dl, NULL,
            FUTEX_BITSET_MATCH_ANY);
}
static void ec_wait64(const struct ck_ec_wait_state *s, const uint64_t *a, uint64_t exp,
                      const struct timespec *dl)
{
    ec_wait32(s, (const uint32_t *)a, (uint32_t)exp, dl);
}
static void ec_wake32(const struct ck_ec_ops *o, const uint32_t *a)
{
    (void)o;
    syscall(SYS_futex, a, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, 0);
}
static void ec_wake64(const struct ck_ec_ops *o, const uint64_t *a)
{
    ec_wake32(o, (const uint32_t *)a);
}
/* busy_loop_iter 1: sleep at once, as the hand variant does; 0 means ck's
 * default of 100 spins first (compared with hand_spin100). */
static const struct ck_ec_ops ec_ops = {.gettime = ec_gettime, .wait32 = ec_wait32,
                                        .wait64 = ec_wait64, .wake32 = ec_wake32,
                                        .wake64 = ec_wake64, .busy_loop_iter = 1};
static const struct ck_ec_ops ec_ops_spin = {.gettime = ec_gettime, .wait32 = ec_wait32,
                                             .wait64 = ec_wait64, .wake32 = ec_wake32,
                                             .wake64 = ec_wake64};
static const struct ck_ec_mode ec_mp = {.ops = &ec_ops, .single_producer = false};
static const struct ck_ec_mode ec_mp_spin = {.ops = &ec_ops_spin, .single_producer = false};

/* One direction of the hand-off: the engine's scheme (core/sched.c park /
 * notify / wake_one) or an event count. */
typedef struct {
    alignas(64) _Atomic uint64_t token; /* the value handed over */
    _Atomic uint32_t permits, sleepers;
    struct ck_ec32 ec;
} chan;
static chan ch[2];
static int park_variant;

static void chan_post(chan *c, uint64_t v)
{
    atomic_store_explicit(&c->token, v, memory_order_release);
    if (park_variant == 0 || park_variant == 2) {
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&c->sleepers, memory_order_relaxed) > 0) {
            atomic_fetch_add_explicit(&c->permits, 1, memory_order_release);
            syscall(SYS_futex, &c->permits, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        }
    } else {
        ck_ec32_inc(&c->ec, park_variant == 1 ? &ec_mp : &ec_mp_spin);
    }
}

/* Waits until c->token == v. Bounded by the deadline. */
static void chan_wait(chan *c, uint64_t v, int64_t end)
{
    if (park_variant == 2) /* spin 100 pauses first, as ck_ec does by default */
        for (int k = 0; k < 100 && atomic_load_explicit(&c->token, memory_order_acquire) != v; k++)
            cpu_relax();
    while (atomic_load_explicit(&c->token, memory_order_acquire) != v) {
        if (now_ns() > end) {
            deadline_hit = true;
            return;
        }
        if (park_variant == 0 || park_variant == 2) {
            atomic_fetch_add_explicit(&c->sleepers, 1, memory_order_seq_cst);
            atomic_thread_fence(memory_order_seq_cst);
            if (atomic_load_explicit(&c->token, memory_order_acquire) != v) {
                uint32_t p = atomic_load_explicit(&c->permits, memory_order_relaxed);
                if (!p) {
                    struct timespec rel = {0, 100000000};
                    syscall(SYS_futex, &c->permits, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
                }
            }
            atomic_fetch_sub_explicit(&c->sleepers, 1, memory_order_relaxed);
            uint32_t p = atomic_load_explicit(&c->permits, memory_order_relaxed);
            while (p && !atomic_compare_exchange_weak_explicit(&c->permits, &p, p - 1,
                                                               memory_order_acquire,
                                                               memory_order_relaxed)) {
            }
        } else {
            uint32_t snap = ck_ec32_value(&c->ec);
            if (atomic_load_explicit(&c->token, memory_order_acquire) != v) {
                struct timespec dl;
                clock_gettime(CLOCK_MONOTONIC, &dl);
                dl.tv_nsec += 100000000;
                if (dl.tv_nsec >= 1000000000) {
                    dl.tv_sec++;
                    dl.tv_nsec -= 1000000000;
                }
                ck_ec32_wait(&c->ec, park_variant == 1 ? &ec_mp : &ec_mp_spin, snap, &dl);
            }
        }
    }
}

static long park_done[2];
static int64_t park_t[2][2];

static void *park_thread(void *arg)
{
    int me = (int)(intptr_t)arg;
    pthread_barrier_wait(&bar);
    park_t[me][0] = now_ns();
    int64_t end = park_t[me][0] + DEADLINE_NS;
    long i = 1;
    for (; i <= n && !deadline_hit; i++) {
        if (me == 0) {
            chan_post(&ch[1], (uint64_t)i);
            chan_wait(&ch[0], (uint64_t)i, end);
        } else {
            chan_wait(&ch[1], (uint64_t)i, end);
            chan_post(&ch[0], (uint64_t)i);
        }
    }
    park_t[me][1] = now_ns();
    park_done[me] = i - 1;
    return NULL;
}

static double run_park(int variant)
{
    park_variant = variant;
    memset(ch, 0, sizeof ch);
    ck_ec32_init(&ch[0].ec, 0);
    ck_ec32_init(&ch[1].ec, 0);
    pthread_t th[2];
    pthread_barrier_init(&bar, NULL, 3);
    for (intptr_t t = 0; t < 2; t++)
        if (pthread_create(&th[t], NULL, park_thread, (void *)t))
            fail("pthread_create");
    pthread_barrier_wait(&bar);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    int64_t el = (park_t[0][1] > park_t[1][1] ? park_t[0][1] : park_t[1][1]) -
                 (park_t[0][0] < park_t[1][0] ? park_t[0][0] : park_t[1][0]);
    pthread_barrier_destroy(&bar);
    if (!deadline_hit && (park_done[0] != n || park_done[1] != n))
        fail("park: round trips");
    return (double)park_done[0] * 1e9 / (double)el;
}

/* ---- hash ---------------------------------------------------------------- */

static uint64_t fnv1a(const char *id, size_t len) /* rpc/registry.c */
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)id[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void *ck_m(size_t s) { return malloc(s); }
static void ck_f(void *p, size_t s, bool d)
{
    (void)s;
    (void)d;
    free(p);
}
static void *ck_r(void *p, size_t o, size_t s, bool d)
{
    (void)o;
    (void)d;
    return realloc(p, s);
}
static struct ck_malloc ck_alloc = {.malloc = ck_m, .realloc = ck_r, .free = ck_f};

static double run_hash(int variant)
{
    static ck_ht_t ht;
    static bool ht_ready;
    if (!ht_ready) {
        if (!ck_ht_init(&ht, CK_HT_MODE_BYTESTRING, NULL, &ck_alloc, 8, 0x5eed))
            fail("ck_ht_init");
        ht_ready = true;
    }
    static char ids[1024][17];
    for (unsigned i = 0; i < 1024; i++)
        snprintf(ids[i], sizeof ids[i], "shard-%010u", i * 7919u);
    uint64_t acc = 0;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        const char *id = ids[i & 1023];
        if (variant == 0) {
            acc += fnv1a(id, 16);
        } else {
            ck_ht_hash_t h;
            ck_ht_hash(&h, &ht, id, 16);
            acc += h.value;
        }
    }
    int64_t el = now_ns() - t0;
    if (acc == 0)
        fail("hash: zero");
    return (double)n * 1e9 / (double)el;
}

/* ---- driver -------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: troupe-ckbench spinlock|trylock|stack|bitmap|park|hash "
                        "[threads=T] [n=N] [reps=R] [outside=K] [deadline_ms=D] [aa=1]\n");
        return 2;
    }
    const char *cs = argv[1];
    for (int i = 2; i < argc; i++) {
        long v;
        if (sscanf(argv[i], "threads=%ld", &v) == 1) nthreads = v;
        else if (sscanf(argv[i], "n=%ld", &v) == 1) n = v;
        else if (sscanf(argv[i], "reps=%ld", &v) == 1) reps = v;
        else if (sscanf(argv[i], "outside=%ld", &v) == 1) outside = v;
        else if (sscanf(argv[i], "deadline_ms=%ld", &v) == 1 && v > 0) DEADLINE_NS = v * 1000000ll;
        else if (sscanf(argv[i], "aa=%ld", &v) == 1) aa = v != 0;
        else {
            fprintf(stderr, "troupe-ckbench: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > MAX_THREADS || reps < 1 || reps > MAX_REPS || n < 1) {
        fprintf(stderr, "troupe-ckbench: threads 1..%d, reps 1..%d, n >= 1\n", MAX_THREADS, MAX_REPS);
        return 2;
    }
    const char *names[MAX_VARIANTS];
    int nv = 2;
    const char *unit = "ops/s";
    if (!strcmp(cs, "spinlock")) {
        nv = 4;
        names[0] = "hand_ttas_yield", names[1] = "ck_spinlock_fas", names[2] = "ck_spinlock_ticket",
        names[3] = "ck_spinlock_mcs";
        unit = "locks/s";
    } else if (!strcmp(cs, "trylock")) {
        names[0] = "hand_exchange", names[1] = "ck_spinlock_fas_trylock";
        unit = "tries/s";
    } else if (!strcmp(cs, "stack")) {
        names[0] = "hand_treiber", names[1] = "ck_stack_upmc";
        unit = "pushes/s";
        nodes = calloc((size_t)(nthreads * n), sizeof *nodes);
        if (!nodes)
            fail("calloc");
    } else if (!strcmp(cs, "bitmap")) {
        names[0] = "hand_words_ctz", names[1] = "ck_bitmap";
        unit = "rounds/s";
        nthreads = 1;
    } else if (!strcmp(cs, "park")) {
        nv = 4;
        names[0] = "hand_permits_futex", names[1] = "ck_ec32_nospin",
        names[2] = "hand_spin100_futex", names[3] = "ck_ec32_spin100";
        unit = "roundtrips/s";
        nthreads = 2;
    } else if (!strcmp(cs, "hash")) {
        names[0] = "hand_fnv1a", names[1] = "ck_ht_hash_murmur64a";
        unit = "hashes/s";
        nthreads = 1;
    } else {
        fprintf(stderr, "troupe-ckbench: unknown case %s\n", cs);
        return 2;
    }
    double res[MAX_VARIANTS][MAX_REPS];
    bool hit[MAX_VARIANTS] = {0};
    for (long r = 0; r < reps; r++) {
        for (int k = 0; k < nv; k++) {
            int v = (int)((k + r) % nv); /* rotate the order */
            deadline_hit = false;
            double x;
            if (!strcmp(cs, "spinlock"))
                x = run_threads(lock_thread, v, true);
            else if (!strcmp(cs, "trylock")) {
                atomic_store(&try_wins, 0);
                x = run_threads(try_thread, v, false);
                if (L.count != (uint64_t)atomic_load(&try_wins))
                    fail("trylock: increments lost");
            } else if (!strcmp(cs, "stack"))
                x = run_stack(v);
            else if (!strcmp(cs, "bitmap"))
                x = run_bitmap(v);
            else if (!strcmp(cs, "park"))
                x = run_park(v);
            else
                x = run_hash(v);
            hit[v] |= deadline_hit;
            res[v][r] = x;
        }
    }
    for (int v = 0; v < nv; v++) {
        qsort(res[v], (size_t)reps, sizeof(double), cmp_d);
        printf("CKBENCH case=%s variant=%s%s threads=%ld n=%ld outside=%ld unit=%s median=%.4g "
               "min=%.4g max=%.4g runs=%ld%s\n",
               cs, names[v], aa ? "(as_hand)" : "", nthreads, n, outside, unit, res[v][reps / 2], res[v][0],
               res[v][reps - 1], reps, hit[v] ? " deadline=hit" : "");
    }
    return 0;
}
