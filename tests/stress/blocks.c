/* Stress (TSan): remote tells' block ring (remote/blocks.h).
 *
 * Rounds of 2-4 taker threads and one giver, as callers and the I/O
 * thread use it: a taker takes a block (or makes one when none is kept),
 * writes its own signature through the whole payload, and hands it to the
 * giver through an MPSC queue; the giver checks the signature and gives
 * the block back. A block handed to two takers at once is a race TSan
 * reports and a signature that does not match. Checked: every block made
 * is freed exactly once (kept blocks by destroy), signatures intact, the
 * ring never holds more than TRI_BLOCKS. */
#define TC_PLAIN
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "core/mpsc.h"
#include "remote/blocks.h"

enum { MAX_TAKERS = 4 };

typedef struct round_ctx {
    tri_blocks *b;
    tri_mpsc *to_giver;
    uint32_t takers, per;
    _Atomic int start;
    _Atomic uint32_t takers_done;
    _Atomic uint64_t made, reused, bad;
} round_ctx;

typedef struct taker_arg {
    round_ctx *c;
    uint32_t id;
} taker_arg;

static void sign(tr_msg *m, uint32_t id, uint32_t seq)
{
    uint32_t *p = tr_msg_data(m);
    for (size_t i = 0; i < TRI_BLOCK_PAYLOAD / 4; i++)
        p[i] = id << 24 ^ seq ^ (uint32_t)i;
}

static bool signed_by(tr_msg *m)
{
    const uint32_t *p = tr_msg_data(m);
    uint32_t k = p[0]; /* id << 24 ^ seq */
    for (size_t i = 1; i < TRI_BLOCK_PAYLOAD / 4; i++)
        if (p[i] != (k ^ (uint32_t)i))
            return false;
    return true;
}

static void *taker(void *arg)
{
    taker_arg *a = arg;
    round_ctx *c = a->c;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    for (uint32_t seq = 0; seq < c->per; seq++) {
        tr_msg *m = tri_blocks_take(c->b);
        if (m) {
            atomic_fetch_add_explicit(&c->reused, 1, memory_order_relaxed);
        } else {
            m = tr_msg_new(1, TRI_BLOCK_PAYLOAD);
            TC_ASSERT(m != NULL);
            atomic_fetch_add_explicit(&c->made, 1, memory_order_relaxed);
        }
        sign(m, a->id, seq);
        (void)tri_mpsc_push(c->to_giver, tri_msg_link(m)); /* never marked: the giver polls */
        if ((seq & 63) == 0)
            sched_yield();
    }
    atomic_fetch_add_explicit(&c->takers_done, 1, memory_order_release);
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *count)
{
    round_ctx *c = calloc(1, sizeof *c);
    c->b = aligned_alloc(64, sizeof(tri_blocks));
    c->to_giver = aligned_alloc(64, sizeof(tri_mpsc));
    TC_ASSERT(c->b && c->to_giver);
    tri_blocks_init(c->b);
    tri_mpsc_init(c->to_giver, false);
    c->takers = 2 + (uint32_t)tc_rng_below(rng, MAX_TAKERS - 1);
    c->per = 1000 + (uint32_t)tc_rng_below(rng, 20000);
    pthread_t th[MAX_TAKERS];
    taker_arg args[MAX_TAKERS];
    for (uint32_t i = 0; i < c->takers; i++) {
        args[i] = (taker_arg){c, i};
        TC_ASSERT(pthread_create(&th[i], NULL, taker, &args[i]) == 0);
    }
    atomic_store_explicit(&c->start, 1, memory_order_release);
    /* The giver (this thread): checks and gives back what the takers
     * hand over, until they are done and the queue is empty. */
    uint64_t given = 0, total = (uint64_t)c->takers * c->per, deadline = tc_deadline_ms(60000);
    while (given < total) {
        tri_node *n = tri_mpsc_pop(c->to_giver);
        if (!n || n == TRI_MPSC_BUSY) {
            if (tc_now_ns() > deadline) {
                fprintf(stderr, "stress_blocks: giver starved at %llu of %llu\n",
                        (unsigned long long)given, (unsigned long long)total);
                exit(1);
            }
            sched_yield();
            continue;
        }
        tr_msg *m = tri_msg_of_link(n);
        if (!signed_by(m))
            atomic_fetch_add_explicit(&c->bad, 1, memory_order_relaxed);
        tri_blocks_give(c->b, m);
        given++;
    }
    for (uint32_t i = 0; i < c->takers; i++)
        pthread_join(th[i], NULL);
    int fail = 0;
    if (atomic_load(&c->bad)) {
        fprintf(stderr, "stress_blocks: %llu blocks with a foreign signature\n",
                (unsigned long long)atomic_load(&c->bad));
        fail = 1;
    }
    if (atomic_load(&c->made) + atomic_load(&c->reused) != total) {
        fprintf(stderr, "stress_blocks: %llu made + %llu reused != %llu\n",
                (unsigned long long)atomic_load(&c->made),
                (unsigned long long)atomic_load(&c->reused), (unsigned long long)total);
        fail = 1;
    }
    tri_blocks_destroy(c->b); /* frees the kept ones: LeakSanitizer counts the rest */
    *count += total;
    free(c->b);
    free(c->to_giver);
    free(c);
    return fail;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "stress_blocks", "blocks", run_round);
}
