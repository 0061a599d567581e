/* Stress (TSan): destroying services with messages in flight, repeatedly.
 *
 * Each round: a service with 2 workers, pairs of actors bouncing tokens
 * endlessly, slow sinks with long mailboxes fed by external threads, and
 * sometimes an actor stopping itself mid-stream. After a random delay the
 * external threads stop (or keep going through tr_service_shutdown), then
 * the service is destroyed. Checked per round: every accepted message is
 * processed or dropped exactly once, every token ends exactly once (freed,
 * dropped, or refused), on_stop runs once per actor. */
#define TC_PLAIN
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "common/check.h"
#include "troupe/troupe.h"

enum { TAG_EXT = 1, TAG_TOKEN, TAG_STOP };
enum { EXT = 3, MAX_SINKS = 4, MAX_PAIRS = 3 };

static _Atomic uint64_t g_processed, g_dropped, g_tok_created, g_tok_gone, g_on_stop, g_errors;

typedef struct node_state {
    tr_actor *peer;
    uint64_t turns;     /* plain: turns are ordered */
    uint32_t stops;
    bool stopped_self;
} node_state;

static void node_behavior(tr_actor *self, void *state, tr_msg *m)
{
    node_state *st = state;
    if (st->stopped_self)
        atomic_fetch_add(&g_errors, 1); /* a turn after tr_actor_stop */
    st->turns++;
    if (m->tag == TAG_TOKEN) {
        if (tr_send(st->peer, m) != 0) {
            tr_msg_free(m);
            atomic_fetch_add(&g_tok_gone, 1);
        }
        return;
    }
    if (m->tag == TAG_STOP) {
        st->stopped_self = true;
        tr_actor_stop(self);
    }
    tr_msg_free(m);
    atomic_fetch_add(&g_processed, 1);
}

static void node_on_drop(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    (void)state;
    if (m->tag == TAG_TOKEN)
        atomic_fetch_add(&g_tok_gone, 1);
    else
        atomic_fetch_add(&g_dropped, 1);
    tr_msg_free(m);
}

static void node_on_stop(tr_actor *self, void *state)
{
    (void)self;
    node_state *st = state;
    if (st->stops++)
        atomic_fetch_add(&g_errors, 1);
    atomic_fetch_add(&g_on_stop, 1);
}

static const tr_actor_opts opts = {
    .behavior = node_behavior,
    .on_stop = node_on_stop,
    .on_drop = node_on_drop,
    .state_size = sizeof(node_state),
};

typedef struct ext_arg {
    tr_actor **sinks;
    unsigned nsinks;
    _Atomic int *stop;
    uint64_t seed;
    uint64_t accepted;
} ext_arg;

static void *ext_sender(void *p)
{
    ext_arg *a = p;
    tc_rng rng;
    tc_rng_seed(&rng, a->seed);
    /* Bounded even if nobody says stop. */
    for (int i = 0; i < 2000000 && !atomic_load_explicit(a->stop, memory_order_relaxed); i++) {
        uint32_t tag = tc_rng_below(&rng, 5000) == 0 ? TAG_STOP : TAG_EXT;
        tr_msg *m = tr_msg_new(tag, 8 + tc_rng_below(&rng, 100));
        if (tr_send(a->sinks[tc_rng_below(&rng, a->nsinks)], m) == 0)
            a->accepted++;
        else
            tr_msg_free(m);
    }
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *count)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.batch = (unsigned)tc_rng_below(rng, 4) * 16;
    cfg.msg_alloc = (tr_msg_alloc)tc_rng_below(rng, 3);
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    atomic_store(&g_processed, 0);
    atomic_store(&g_dropped, 0);
    atomic_store(&g_tok_created, 0);
    atomic_store(&g_tok_gone, 0);
    atomic_store(&g_on_stop, 0);

    unsigned nsinks = 1 + (unsigned)tc_rng_below(rng, MAX_SINKS);
    unsigned npairs = (unsigned)tc_rng_below(rng, MAX_PAIRS + 1);
    tr_actor *sinks[MAX_SINKS], *pairs[2 * MAX_PAIRS];
    for (unsigned i = 0; i < nsinks; i++)
        TC_OK(tr_spawn(svc, &opts, &sinks[i]));
    for (unsigned i = 0; i < 2 * npairs; i++)
        TC_OK(tr_spawn(svc, &opts, &pairs[i]));
    for (unsigned i = 0; i < npairs; i++) {
        ((node_state *)tr_actor_state(pairs[2 * i]))->peer = pairs[2 * i + 1];
        ((node_state *)tr_actor_state(pairs[2 * i + 1]))->peer = pairs[2 * i];
        unsigned tokens = 1 + (unsigned)tc_rng_below(rng, 16);
        for (unsigned t = 0; t < tokens; t++) {
            tr_msg *m = tr_msg_new(TAG_TOKEN, 8);
            atomic_fetch_add(&g_tok_created, 1);
            TC_OK(tr_send(pairs[2 * i + (t & 1)], m));
        }
    }
    uint64_t actors = nsinks + 2 * npairs;

    _Atomic int stop = 0;
    pthread_t th[EXT];
    ext_arg args[EXT];
    for (int i = 0; i < EXT; i++) {
        args[i] = (ext_arg){sinks, nsinks, &stop, tc_rng_next(rng), 0};
        TC_ASSERT(pthread_create(&th[i], NULL, ext_sender, &args[i]) == 0);
    }
    tc_sleep_us((unsigned)tc_rng_below(rng, 20000));
    bool shutdown_first = tc_rng_below(rng, 2);
    if (shutdown_first)
        TC_OK(tr_service_shutdown(svc)); /* senders still running */
    atomic_store(&stop, 1);
    uint64_t accepted = 0;
    for (int i = 0; i < EXT; i++) {
        pthread_join(th[i], NULL);
        accepted += args[i].accepted;
    }
    /* Sometimes give the handles back first (senders are gone now);
     * otherwise destroy frees the actors it still holds. */
    if (tc_rng_below(rng, 2)) {
        for (unsigned i = 0; i < nsinks; i++)
            tr_actor_release(sinks[i]);
        for (unsigned i = 0; i < 2 * npairs; i++)
            tr_actor_release(pairs[i]);
    }
    tr_service_destroy(svc);

    int fail = 0;
    uint64_t proc = atomic_load(&g_processed), drop = atomic_load(&g_dropped);
    if (proc + drop != accepted) {
        fprintf(stderr, "FAIL: processed %llu + dropped %llu != accepted %llu\n",
                (unsigned long long)proc, (unsigned long long)drop, (unsigned long long)accepted);
        fail = 1;
    }
    if (atomic_load(&g_tok_gone) != atomic_load(&g_tok_created)) {
        fprintf(stderr, "FAIL: tokens created %llu, gone %llu\n",
                (unsigned long long)atomic_load(&g_tok_created),
                (unsigned long long)atomic_load(&g_tok_gone));
        fail = 1;
    }
    if (atomic_load(&g_on_stop) != actors) {
        fprintf(stderr, "FAIL: on_stop ran %llu times for %llu actors\n",
                (unsigned long long)atomic_load(&g_on_stop), (unsigned long long)actors);
        fail = 1;
    }
    if (atomic_load(&g_errors)) {
        fprintf(stderr, "FAIL: %llu errors (turn after stop, on_stop twice)\n",
                (unsigned long long)atomic_load(&g_errors));
        fail = 1;
    }
    if (fail)
        fprintf(stderr, "round: batch %u alloc %d sinks %u pairs %u shutdown_first %d\n", cfg.batch,
                (int)cfg.msg_alloc, nsinks, npairs, shutdown_first);
    *count += accepted;
    return fail;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "stress_shutdown", "messages", run_round);
}
