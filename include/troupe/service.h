/** @file
 * troupe: the service, the one runtime object a user holds.
 *
 * A tr_service owns the worker pool that runs actors and endpoints, a timer
 * thread (ask deadlines, delayed runs, registry reclamation), the endpoint
 * registry and (for remote calls) the I/O thread. Two services in one
 * process share nothing. Create it from any thread; destroy it from a
 * thread that is not one of its workers. */
#ifndef TROUPE_SERVICE_H
#define TROUPE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/export.h"
#include "troupe/log.h"
#include "troupe/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A service (opaque): workers, timers, registry and network of one runtime. */
typedef struct tr_service tr_service;

/** How long an ask waits for its answer: 10 s (Flink's default). */
#define TR_DEFAULT_ASK_TIMEOUT_NS (10LL * 1000 * 1000 * 1000)
/** How long a connect waits for the endpoint to be found: 10 s. */
#define TR_DEFAULT_LOOKUP_TIMEOUT_NS (10LL * 1000 * 1000 * 1000)
/** The largest frame sent or accepted: 10 MiB (Flink's pekko.framesize). */
#define TR_DEFAULT_MAX_FRAME_SIZE ((size_t)10 * 1024 * 1024)
/** Where a listening service binds: loopback, any free port. */
#define TR_DEFAULT_BIND_ADDRESS "127.0.0.1:0"
/** A connection that owes us something and is silent this long gets a PING: 1 s. */
#define TR_DEFAULT_HEARTBEAT_INTERVAL_NS (1000LL * 1000 * 1000)
/** Silent this long in all, it is declared lost: 5 s. */
#define TR_DEFAULT_HEARTBEAT_TIMEOUT_NS (5000LL * 1000 * 1000)

/** Calls to one remote target not yet written before its callers are held
 * back: deep enough that the I/O thread writes large batches (at 1024 it
 * wrote 787 frames per write where an unbounded queue wrote 5,747, and
 * remote_throughput ran at 75% of the unbounded engine's). */
#define TR_DEFAULT_REMOTE_QUEUE_HIGH 16384u

/** Remote credit window in calls (tr_service_config.credit_calls): covers a
 * round trip of grants at full rate on a busy two-core machine
 * (remote_throughput against the pre-credit engine, medians of 5 in turns:
 * 512 calls 39%, 8192 calls 44%, 32768 calls 99%); a slow endpoint's
 * mailbox stays below its mark plus two windows, and the bytes window
 * bounds their memory. */
#define TR_DEFAULT_CREDIT_CALLS 32768u
/** Remote credit window in bytes (tr_service_config.credit_bytes): bounds
 * what one slot can have in flight whatever the payload; 4 MiB carried
 * remote_stream at 61-82% of raw TCP where 1 MiB held it to 39%. */
#define TR_DEFAULT_CREDIT_BYTES (4u << 20)

/** Told of each remote tell that was accepted and then not delivered (its
 * peer was down or lost, it was too large for the receiver's frames, the
 * service stopped first): the recipient's address (S30), the method, the
 * error and a sentence. Runs on the I/O thread: it must not block nor call
 * back into the service; copy what it keeps. */
typedef void tr_undelivered_fn(void *arg, const char *address, const char *method, int code,
                               const char *why);

/** Plain configuration; zero fields mean the default named beside them.
 * Initialise with tr_service_config_init() so later fields stay defaulted. */
typedef struct tr_service_config {
    unsigned workers;          /**< 0: one per online CPU */
    unsigned batch;            /**< messages per actor turn; 0: TR_DEFAULT_BATCH */
    tr_msg_alloc msg_alloc;    /**< 0: TR_MSG_ALLOC_DEFAULT */
    int64_t ask_timeout_ns;    /**< 0: 10 s (Flink's default) */
    int64_t lookup_timeout_ns; /**< 0: 10 s */
    size_t max_frame_size;     /**< 0: 10 MiB (Flink's pekko.framesize) */
    const char *bind_address;  /**< NULL: "127.0.0.1:0" (port 0: any free one); copied */
    bool force_serialization;  /**< diagnostic switch, off in production: encode
                                  and decode local calls too, as a remote call
                                  would (S22), to test a type's codec without a
                                  network; costs a copy and a decode per call */
    bool listen;               /**< accept remote calls on bind_address (remote.h);
                                  the bound address: tr_service_listen_address */
    /* Backpressure (README "Backpressure"). */
    uint32_t mailbox_high;     /**< the high-water mark of every endpoint's mailbox
                                    unless it says otherwise (plain actors opt in
                                    through tr_actor_opts) (0: TR_DEFAULT_MAILBOX_HIGH;
                                    TR_MAILBOX_UNBOUNDED: none) */
    uint32_t remote_queue_high; /**< the high-water mark of each remote target's calls
                                    not yet written (0: TR_DEFAULT_REMOTE_QUEUE_HIGH;
                                    TR_MAILBOX_UNBOUNDED: none) */
    int64_t send_timeout_ns;   /**< how long a thread outside the workers blocks in a
                                    send to a full mailbox before TR_EAGAIN (0:
                                    TR_DEFAULT_SEND_TIMEOUT_NS; negative: never blocks,
                                    sends go through) */
    uint32_t credit_calls;     /**< remote flow control, as a listener: calls a connection
                                    may send to one of our endpoints ahead of our grants
                                    (PROTOCOL.md "Credit"; 0: TR_DEFAULT_CREDIT_CALLS) */
    uint32_t credit_bytes;     /**< the same window in bytes of frames (0:
                                    TR_DEFAULT_CREDIT_BYTES); a call goes while both last */
    tr_log_level log_level;    /**< records below it are dropped; 0 (TR_LOG_DEFAULT):
                                  the TROUPE_LOG environment variable, else warn */
    tr_log_sink *log_sink;     /**< NULL: tr_log_stderr (log.h) */
    void *log_arg;             /**< passed to log_sink */
    tr_undelivered_fn *on_undelivered; /**< NULL: none; undelivered remote tells are still
                                            counted (tr_gateway_undelivered, remote stats) */
    void *undelivered_arg;     /**< passed to on_undelivered */
    bool introspection_off;    /**< with listen: no read-only introspection endpoint
                                  TR_INTROSPECT_ID (troupe/metrics.h; on by default) */
    /** Failure detection (remote): a connection that owes us something
     * (asks pending, watches on its peer) and has been silent for the
     * interval gets a PING; silent for the timeout in all, it is declared
     * lost once: its asks fail with TR_EUNREACHABLE naming the silence, its
     * watches fire. 0: 1 s and 5 s (README "Watching and supervising"). */
    int64_t heartbeat_interval_ns;
    int64_t heartbeat_timeout_ns; /**< see heartbeat_interval_ns */
    /** Remote watches whose connection is lost (reset, end of stream, a
     * failed reconnect) are held this long while the peer is dialled again
     * (reconnect backoff): back with the same incarnation, they are sent
     * again and stay armed; back as a new incarnation, they fire with
     * TR_ERESTARTED; not back in time, they fire once with TR_EUNREACHABLE.
     * A heartbeat timeout is not given it (the silence already lasted the
     * timeout). 0: heartbeat_timeout_ns, so one bound covers a crashed and a
     * silent peer alike; negative: none, a lost connection fires at once. */
    int64_t watch_grace_ns;
    /** A peer that cannot be reached is not dialled again before this has
     * passed: doubled (with jitter of up to a quarter) after each failed
     * attempt, up to reconnect_backoff_max_ns; meanwhile calls to it fail at
     * once with TR_EUNREACHABLE naming the next attempt. 0: 50 ms and 5 s. */
    int64_t reconnect_backoff_min_ns;
    int64_t reconnect_backoff_max_ns; /**< see reconnect_backoff_min_ns */
    /* Trust (remote.h "TLS and limits"). Strings are copied; NULL: unset. */
    const char *tls_ca_file;   /**< PEM: the CA every peer's certificate is signed by */
    const char *tls_cert_file; /**< PEM: this service's certificate (chain) */
    const char *tls_key_file;  /**< PEM: its private key */
    const char *tls_psk;       /**< instead of certificates: a pre-shared key, 32-128 hex digits */
    const char *tls_psk_identity; /**< NULL: "troupe" */
    bool allow_insecure;       /**< listen on a non-loopback address without TLS anyway */
    unsigned max_connections;  /**< inbound connections open at once; 0: 1024 */
    int64_t handshake_timeout_ns; /**< an inbound connection's HELLO within; 0: 10 s */
    unsigned max_inbound_asks; /**< asks in flight per inbound connection; 0: 100000 */
    size_t max_conn_buffer;    /**< unsent bytes per inbound connection; 0: 256 MiB */
} tr_service_config;

/** Fills `cfg` with the defaults. */
TR_API void tr_service_config_init(tr_service_config *cfg);

/** Creates a service and starts its workers, and with cfg->listen its I/O
 * thread listening on cfg->bind_address. `cfg` may be NULL (defaults).
 * On 0, *out holds a service the caller owns (free with tr_service_destroy).
 * Errors: TR_EINVAL (bad field), TR_ENOMEM, TR_EADDRINUSE (bind_address's
 * port is taken), TR_EIO (thread creation, or the address cannot be bound
 * for another reason), TR_EADDR (bind_address is not host:port or does not
 * resolve). On error, tr_service_create_error() says what failed. */
TR_API int tr_service_create(const tr_service_config *cfg, tr_service **out);

/** After a tr_service_create on this thread failed: a sentence saying what
 * failed and why (e.g. "cannot listen on 127.0.0.1:4711: Address already
 * in use"); "" after one that succeeded. Per thread, like errno and
 * tr_service_connect_error(); valid until this thread's next create. */
TR_API const char *tr_service_create_error(void);

/** Stops the service (S7): refuses new endpoints and connects, terminates
 * every endpoint and waits for them (each on_stop future too, up to the ask
 * timeout in all), fails every pending ask and call_async with TR_ESTOPPED
 * (remote ones too, and inbound remote asks still unanswered), drops
 * delayed runs, then stops the I/O thread (its connections get a CLOSE and
 * what can be written without waiting), the timer thread and the workers;
 * messages still queued are dropped and freed. Idempotent. Later calls that need a running
 * service fail with TR_ESTOPPED. Must not be called from one of the
 * service's own workers (returns TR_EDEADLK). */
TR_API int tr_service_shutdown(tr_service *svc);

/** Shuts down if needed, then frees the service and every actor and endpoint
 * it still holds; every tr_actor, tr_endpoint and tr_gateway handle of this
 * service becomes invalid (release gateways before). Futures stay valid
 * (completed) until released. */
TR_API void tr_service_destroy(tr_service *svc);

/** The effective configuration (defaults filled in; S23: max_frame_size is
 * 10 MiB unless set). bind_address points into the service: valid until
 * tr_service_destroy. Any thread. */
TR_API void tr_service_effective_config(const tr_service *svc, tr_service_config *out);

/** This service's incarnation id: random, never 0, made at create; remote
 * peers learn it in the handshake and tell a restarted process on the
 * same address by it (TR_ERESTARTED). Any thread. */
TR_API uint64_t tr_service_incarnation(const tr_service *svc);

/** The number of worker threads. */
TR_API unsigned tr_service_workers(const tr_service *svc);

/** Scheduler counters (troupe/sched.h). */
TR_API void tr_service_sched_stats(const tr_service *svc, tr_sched_stats *out);

/* ---- plain actors on a service (troupe/actor.h) ------------------------ */

/** Spawns an actor on `svc`. Any thread. Its state (state_size bytes, zeroed,
 * tr_actor_state()) may be initialised by the spawner before its first send.
 * On 0, *out holds one reference the caller owns (tr_actor_release).
 * Errors: TR_EINVAL, TR_ENOMEM, TR_ESTOPPED (service shut down). */
TR_API int tr_spawn(tr_service *svc, const tr_actor_opts *opts, tr_actor **out);

/** The service the actor belongs to. */
TR_API tr_service *tr_actor_service(tr_actor *a);

/** Live actor count of a service (spawned, not yet freed). */
TR_API uint64_t tr_service_live_actors(const tr_service *svc);

#ifdef __cplusplus
}
#endif

#endif
