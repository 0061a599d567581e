/* A consumer of the installed troupe: sends strings of several sizes
 * (empty, short, 64 KiB) to an actor that checks every byte, and checks
 * that the library's version is the headers' one. Exit 0 when all agree. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <troupe/troupe.h>

enum { NMSG = 3, BIG = 65536 };

typedef struct {
    int seen, bad;
} checker;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stopped;

static size_t size_of(uint32_t tag) { return tag == 0 ? 0 : tag == 1 ? 5 : BIG; }
static char byte_at(uint32_t tag, size_t i) { return (char)('a' + (tag * 7 + i) % 26); }

static void check(tr_actor *self, void *state, tr_msg *m)
{
    checker *c = state;
    const char *d = tr_msg_data(m);
    if (m->size != size_of(m->tag))
        c->bad++;
    for (size_t i = 0; i < m->size; i++)
        c->bad += d[i] != byte_at(m->tag, i);
    tr_msg_free(m);
    if (++c->seen == NMSG)
        tr_actor_stop(self);
}

static void on_stop(tr_actor *self, void *state)
{
    (void)self;
    checker *c = state;
    pthread_mutex_lock(&lock);
    stopped = c->seen == NMSG && c->bad == 0 ? 1 : -1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

int main(void)
{
    if (tr_version() != TROUPE_VERSION_HEX || strcmp(tr_version_string(), TROUPE_VERSION_STRING)) {
        fprintf(stderr, "version mismatch: library %s, headers %s\n", tr_version_string(),
                TROUPE_VERSION_STRING);
        return 1;
    }
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc;
    int rv = tr_service_create(&cfg, &svc);
    if (rv) {
        fprintf(stderr, "tr_service_create: %s (%s)\n", tr_strerror(rv), tr_errname(rv));
        return 1;
    }
    tr_actor_opts opts = {.behavior = check, .on_stop = on_stop, .state_size = sizeof(checker)};
    tr_actor *a;
    if ((rv = tr_spawn(svc, &opts, &a))) {
        fprintf(stderr, "tr_spawn: %s\n", tr_strerror(rv));
        return 1;
    }
    for (uint32_t tag = 0; tag < NMSG; tag++) {
        tr_msg *m = tr_msg_new(tag, size_of(tag));
        for (size_t i = 0; i < size_of(tag); i++)
            ((char *)tr_msg_data(m))[i] = byte_at(tag, i);
        if (tr_send(a, m)) {
            tr_msg_free(m);
            return 1;
        }
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&lock);
    while (!stopped && pthread_cond_timedwait(&cond, &lock, &deadline) == 0)
        ;
    int result = stopped;
    pthread_mutex_unlock(&lock);
    tr_actor_release(a);
    tr_service_destroy(svc);
    printf("troupe %s: %s\n", tr_version_string(), result == 1 ? "ok" : "FAILED");
    return result == 1 ? 0 : 1;
}
