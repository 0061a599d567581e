/* TLS 1.3 under the frames (OpenSSL 3), driven non-blocking by the I/O
 * thread. PROTOCOL.md "TLS" is the reference.
 *
 * A service configured with tls_ca_file + tls_cert_file + tls_key_file
 * authenticates both ways by certificates (Flink's internal SSL: every
 * service of a deployment holds a certificate its CA signed, and trusts
 * exactly that CA; host names are not checked). One configured with
 * tls_psk uses TLS 1.3 with that pre-shared key instead (no PKI). Either
 * way the TLS handshake runs first on every connection, then HELLO.
 *
 * conn.c calls tri_tls_read / tri_tls_write where it would call read /
 * send: that is the whole hook. Failures are sentences naming the reason
 * (untrusted or expired certificate, a plaintext peer, keys that differ).
 *
 * The context: made once per service at net start (any thread, before the
 * I/O thread runs), then read-only. Connections: the I/O thread only. */
#ifndef TRI_REMOTE_TLS_H
#define TRI_REMOTE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "troupe/service.h"

typedef struct tri_tls_ctx tri_tls_ctx;
typedef struct tri_tls tri_tls;

/* True when cfg asks for TLS (certificates or a pre-shared key). */
bool tri_tls_configured(const tr_service_config *cfg);

/* The context for cfg: 0 with *out NULL when cfg asks for no TLS; else 0
 * and a context, or TR_EINVAL / TR_EAUTH / TR_ENOMEM with `why` naming the
 * file or the mismatch (a key that is not the certificate's, a PSK that
 * is not hex or shorter than 16 bytes). */
int tri_tls_ctx_new(const tr_service_config *cfg, tri_tls_ctx **out, char *why, size_t why_len);
void tri_tls_ctx_free(tri_tls_ctx *ctx);
/* "certificates" or "pre-shared key", for messages. */
const char *tri_tls_mode(const tri_tls_ctx *ctx);

/* A TLS session on connected socket fd (non-blocking), client or server
 * side; `name` is the other side, for messages. NULL when out of memory. */
tri_tls *tri_tls_new(tri_tls_ctx *ctx, int fd, bool client, const char *name);
void tri_tls_free(tri_tls *t);

/* Returned when the session failed: tri_tls_why says why. */
#define TRI_TLS_FAILED ((ssize_t)-2)

/* Like read(2): plaintext bytes (> 0), 0 at the end of the stream, -1
 * with errno EAGAIN when nothing is there yet (the handshake may be
 * under way), or TRI_TLS_FAILED. */
ssize_t tri_tls_read(tri_tls *t, void *buf, size_t len);
/* Like send(2): bytes taken (> 0), 0 when TLS must read first (the
 * handshake: retry after the next read), -1 with errno EAGAIN when the
 * socket is full, or TRI_TLS_FAILED. */
ssize_t tri_tls_write(tri_tls *t, const void *buf, size_t len);
/* Decrypted bytes waiting inside TLS (read them before the next epoll). */
bool tri_tls_pending(const tri_tls *t);
const char *tri_tls_why(const tri_tls *t);

#endif
