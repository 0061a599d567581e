/* The README's worked example, compiled and run as a test: declare a
 * gateway, implement an endpoint, tell and ask it, wait for the future,
 * stop it. Keep it in step with the README section. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "troupe/troupe.h"

/* 1. Declare the gateway once: name, method, argument, result, kind. */
#define COUNTER_METHODS(M)                                                    \
    M(counter, add, tr_i64, tr_void, TELL)                                    \
    M(counter, total, tr_void, tr_i64, ASK)                                   \
    M(counter, greet, tr_str, tr_str, ASK)
TR_GATEWAY(counter, COUNTER_METHODS)        /* in a header */
TR_GATEWAY_DEFINE(counter, COUNTER_METHODS) /* in one .c file */

/* 2. Implement an endpoint: its state and one handler per method. Handlers
 *    run on the endpoint's main thread, one at a time. */
typedef struct counter_state {
    int64_t sum;
} counter_state;

static int on_add(tr_endpoint *self, void *state, const tr_i64 *n)
{
    (void)self;
    ((counter_state *)state)->sum += *n;
    return 0;
}

static int on_total(tr_endpoint *self, void *state, const tr_void *none, tr_reply *reply)
{
    (void)self, (void)none;
    tr_i64 sum = ((counter_state *)state)->sum;
    return counter_total_reply(reply, &sum);
}

static int on_greet(tr_endpoint *self, void *state, const tr_str *name, tr_reply *reply)
{
    (void)self, (void)state;
    if (!*name || !**name) /* the caller gets this code and message */
        return tr_reply_fail(reply, TR_EINVAL, "greet needs a name");
    char text[64];
    snprintf(text, sizeof text, "hello, %s", *name);
    return counter_greet_reply(reply, &(tr_str){text}); /* copied */
}

static const counter_handlers handlers = {.add = on_add, .total = on_total, .greet = on_greet};

Test(example, readme, .timeout = 30)
{
    /* 3. A service, the endpoint (registered, then started), a gateway. */
    tr_service *svc;
    cr_assert_eq(tr_service_create(NULL, &svc), 0);
    tr_endpoint_opts opts = {
        .id = "counter",
        .gateways = (tr_gateway_impl[]){counter_impl(&handlers)},
        .ngateways = 1,
        .state_size = sizeof(counter_state),
    };
    tr_endpoint *ep;
    cr_assert_eq(tr_endpoint_create(svc, &opts, &ep), 0);
    cr_assert_eq(tr_endpoint_start(ep), 0);
    tr_gateway *gw;
    cr_assert_eq(tr_service_connect(svc, "counter", &counter_gateway, &gw), 0);

    /* 4. Tell (no reply) and ask (a future; 0: the default 10 s timeout). */
    counter_add(gw, &(tr_i64){40});
    counter_add(gw, &(tr_i64){2});
    tr_future *f;
    cr_assert_eq(counter_total(gw, NULL, 0, &f), 0);

    /* 5. Wait for it (outside threads; inside an endpoint use
     *    counter_total_then or tr_future_then instead). */
    cr_assert_eq(tr_future_get(f, 1000000000), 0);
    printf("total = %lld\n", (long long)*counter_total_result(f)); /* 42 */
    cr_assert_eq(*counter_total_result(f), 42);
    tr_future_release(f);

    counter_greet(gw, &(tr_str){"troupe"}, 0, &f);
    cr_assert_eq(tr_future_get(f, 1000000000), 0);
    printf("%s\n", *counter_greet_result(f)); /* hello, troupe */
    cr_assert_str_eq(*counter_greet_result(f), "hello, troupe");
    tr_future_release(f);

    counter_greet(gw, &(tr_str){""}, 0, &f);
    int rv = tr_future_get(f, 1000000000);
    printf("%s: %s\n", tr_errname(rv), tr_future_error(f)); /* TR_EINVAL: greet needs a name */
    cr_assert_eq(rv, TR_EINVAL);
    cr_assert_str_eq(tr_future_error(f), "greet needs a name");
    tr_future_release(f);

    /* 6. Stop: terminate, wait for the termination, release, destroy. */
    tr_gateway_release(gw);
    tr_endpoint_terminate(ep);
    tr_endpoint_termination(ep, &f);
    cr_assert_eq(tr_future_get(f, -1), 0);
    tr_future_release(f);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}
