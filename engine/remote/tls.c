/* TLS 1.3 sessions over the I/O thread's non-blocking sockets (tls.h). */
#include "remote/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/alloc.h"
#include "remote/frame.h"
#include "troupe/error.h"

#define PSK_MAX 64
#define TLS_RECORD_MAX 16384 /* plaintext bytes in one record */

struct tri_tls_ctx {
    SSL_CTX *ctx;
    bool psk;
    unsigned char key[PSK_MAX];
    size_t key_len;
    char identity[128];
};

struct tri_tls {
    SSL *ssl;
    tri_tls_ctx *x;
    int fd;
    bool client;
    bool first_byte_seen; /* the other side's first byte was checked */
    bool rx_app;          /* application bytes have arrived */
    char name[64];
    char why[360];
};

bool tri_tls_configured(const tr_service_config *cfg)
{
    return cfg->tls_psk || cfg->tls_cert_file || cfg->tls_key_file || cfg->tls_ca_file;
}

const char *tri_tls_mode(const tri_tls_ctx *x) { return x->psk ? "pre-shared key" : "certificates"; }

static const char *last_ssl_error(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown reason";
}

/* ---- pre-shared keys (TLS 1.3 through OpenSSL's PSK callbacks) ------------------------- */

static tri_tls_ctx *ctx_of(SSL *ssl) { return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)); }

static unsigned psk_client(SSL *ssl, const char *hint, char *identity, unsigned max_identity,
                           unsigned char *psk, unsigned max_psk)
{
    (void)hint;
    tri_tls_ctx *x = ctx_of(ssl);
    if (strlen(x->identity) + 1 > max_identity || x->key_len > max_psk)
        return 0;
    memcpy(identity, x->identity, strlen(x->identity) + 1);
    memcpy(psk, x->key, x->key_len);
    return (unsigned)x->key_len;
}

static unsigned psk_server(SSL *ssl, const char *identity, unsigned char *psk, unsigned max_psk)
{
    tri_tls_ctx *x = ctx_of(ssl);
    if (!identity || strcmp(identity, x->identity) || x->key_len > max_psk)
        return 0;
    memcpy(psk, x->key, x->key_len);
    return (unsigned)x->key_len;
}

static int parse_hex(const char *s, unsigned char *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -1;
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

/* ---- the context ------------------------------------------------------------------------ */

int tri_tls_ctx_new(const tr_service_config *cfg, tri_tls_ctx **out, char *why, size_t why_len)
{
    *out = NULL;
    if (!tri_tls_configured(cfg))
        return 0;
    bool certs = cfg->tls_cert_file || cfg->tls_key_file || cfg->tls_ca_file;
    if (certs && cfg->tls_psk) {
        snprintf(why, why_len, "TLS: configure certificates (tls_ca_file, tls_cert_file, "
                               "tls_key_file) or a pre-shared key (tls_psk), not both");
        return TR_EINVAL;
    }
    if (certs && !(cfg->tls_cert_file && cfg->tls_key_file && cfg->tls_ca_file)) {
        snprintf(why, why_len, "TLS by certificates needs all three of tls_ca_file, "
                               "tls_cert_file and tls_key_file (%s is missing)",
                 !cfg->tls_ca_file ? "tls_ca_file" : !cfg->tls_cert_file ? "tls_cert_file"
                                                                       : "tls_key_file");
        return TR_EINVAL;
    }
    tri_tls_ctx *x = tri_zalloc(sizeof *x);
    if (!x)
        return TR_ENOMEM;
    int rv = TR_EAUTH;
    ERR_clear_error();
    x->ctx = SSL_CTX_new(TLS_method());
    if (!x->ctx) {
        snprintf(why, why_len, "TLS: cannot make a context: %s", last_ssl_error());
        goto fail;
    }
    SSL_CTX_set_app_data(x->ctx, x);
    SSL_CTX_set_min_proto_version(x->ctx, TLS1_3_VERSION);
    /* conn.c's write buffer may move between a short write and its retry,
     * and one call takes what the socket takes. */
    SSL_CTX_set_mode(x->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_num_tickets(x->ctx, 0); /* no resumption: one connection per peer */
    /* One read() takes what the socket holds, not a record header and
     * then its body (two system calls a record otherwise). */
    SSL_CTX_set_read_ahead(x->ctx, 1);
    if (cfg->tls_psk) {
        x->psk = true;
        if (parse_hex(cfg->tls_psk, x->key, sizeof x->key, &x->key_len) || x->key_len < 16) {
            snprintf(why, why_len, "TLS: tls_psk must be 32 to 128 hex digits (16 to 64 bytes)");
            rv = TR_EINVAL;
            goto fail;
        }
        snprintf(x->identity, sizeof x->identity, "%s",
                 cfg->tls_psk_identity ? cfg->tls_psk_identity : "troupe");
        SSL_CTX_set_psk_client_callback(x->ctx, psk_client);
        SSL_CTX_set_psk_server_callback(x->ctx, psk_server);
        /* PSK-only: the SHA-256 suites (a legacy-callback key is SHA-256). */
        SSL_CTX_set_ciphersuites(x->ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256");
    } else {
        if (SSL_CTX_use_certificate_chain_file(x->ctx, cfg->tls_cert_file) != 1) {
            snprintf(why, why_len, "TLS: cannot load the certificate tls_cert_file %s: %s",
                     cfg->tls_cert_file, last_ssl_error());
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(x->ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1) {
            snprintf(why, why_len, "TLS: cannot use the key tls_key_file %s: %s (the wrong key "
                     "for tls_cert_file %s?)", cfg->tls_key_file, last_ssl_error(),
                     cfg->tls_cert_file);
            goto fail;
        }
        if (SSL_CTX_check_private_key(x->ctx) != 1) {
            snprintf(why, why_len, "TLS: the key in %s is not the key of the certificate in %s "
                                   "(wrong key)", cfg->tls_key_file, cfg->tls_cert_file);
            goto fail;
        }
        if (SSL_CTX_load_verify_locations(x->ctx, cfg->tls_ca_file, NULL) != 1) {
            snprintf(why, why_len, "TLS: cannot load the CA certificate tls_ca_file %s: %s",
                     cfg->tls_ca_file, last_ssl_error());
            goto fail;
        }
        /* Mutual: each side must present a certificate the CA signed. */
        SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    *out = x;
    return 0;
fail:
    ERR_clear_error();
    tri_tls_ctx_free(x);
    return rv;
}

void tri_tls_ctx_free(tri_tls_ctx *x)
{
    if (!x)
        return;
    SSL_CTX_free(x->ctx);
    OPENSSL_cleanse(x->key, sizeof x->key);
    tri_free(x, sizeof *x);
}

/* ---- sessions --------------------------------------------------------------------------- */

tri_tls *tri_tls_new(tri_tls_ctx *x, int fd, bool client, const char *name)
{
    tri_tls *t = tri_zalloc(sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(x->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        tri_free(t, sizeof *t);
        ERR_clear_error();
        return NULL;
    }
    t->x = x;
    t->fd = fd;
    t->client = client;
    snprintf(t->name, sizeof t->name, "%s", name);
    if (client)
        SSL_set_connect_state(t->ssl);
    else
        SSL_set_accept_state(t->ssl);
    return t;
}

void tri_tls_free(tri_tls *t)
{
    if (!t)
        return;
    if (SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl); /* one close_notify, best effort (non-blocking) */
    SSL_free(t->ssl);
    ERR_clear_error();
    tri_free(t, sizeof *t);
}

const char *tri_tls_why(const tri_tls *t) { return t->why; }

bool tri_tls_pending(const tri_tls *t) { return SSL_has_pending(t->ssl); }

/* Before the handshake: is the other side's first byte a TLS record?
 * A plaintext troupe peer starts with a frame length instead. 0: go on;
 * TRI_TLS_FAILED: it is a plaintext peer (a listener tells it so, in
 * plaintext: a CLOSE frame it can read). */
static ssize_t check_first_byte(tri_tls *t)
{
    unsigned char b[2];
    ssize_t n = recv(t->fd, b, 2, MSG_PEEK | MSG_DONTWAIT);
    if (n != 2)
        return 0;
    t->first_byte_seen = true;
    /* A record: change_cipher_spec, alert, handshake or application data,
     * then the major version 3. A troupe frame starts with its length. */
    if (b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 3)
        return 0;
    if (t->client) {
        snprintf(t->why, sizeof t->why, "TLS: %s answered in plaintext: that listener does not use "
                 "TLS (configure the same TLS there, or connect without TLS)", t->name);
        return TRI_TLS_FAILED;
    }
    static const char msg[] = "this listener requires TLS: configure the client with "
                              "tls_ca_file, tls_cert_file and tls_key_file, or tls_psk";
    uint8_t f[TRI_FRAME_HDR + 8 + sizeof msg];
    /* What it sent is read first: closing on unread bytes would reset the
     * connection, and the client would lose the CLOSE. */
    for (int i = 0; i < 16 && recv(t->fd, f, sizeof f, MSG_DONTWAIT) > 0; i++)
        ;
    size_t body = tri_error_size(sizeof msg - 1);
    tri_frame_put_hdr(f, TRI_F_CLOSE, 0, 0, 0, 0, body);
    tri_error_put(f + TRI_FRAME_HDR, TR_EAUTH, msg, sizeof msg - 1);
    ssize_t w = send(t->fd, f, TRI_FRAME_HDR + body, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* best effort: it is going anyway */
    snprintf(t->why, sizeof t->why, "TLS: %s is a plaintext client at a TLS listener", t->name);
    return TRI_TLS_FAILED;
}

/* The sentence for a failed SSL call; returns TRI_TLS_FAILED, or -1/0 for
 * the retryable cases. */
static ssize_t failed(tri_tls *t, int ret, bool writing)
{
    int err = SSL_get_error(t->ssl, ret);
    if (err == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        if (writing)
            return 0; /* nothing to wait for on output: the next read drives it */
        errno = EAGAIN;
        return -1;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        errno = EAGAIN;
        return -1;
    }
    bool handshake = !SSL_is_init_finished(t->ssl);
    if (err == SSL_ERROR_ZERO_RETURN && !handshake) {
        ERR_clear_error();
        return 0; /* close_notify: the end of the stream */
    }
    long vr = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);
    const char *who = t->client ? "this service's" : "the client's";
    if (vr != X509_V_OK && handshake && err == SSL_ERROR_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        snprintf(t->why, sizeof t->why, "TLS: the certificate %s presented is not accepted: %s%s",
                 t->name, X509_verify_cert_error_string(vr),
                 vr == X509_V_ERR_CERT_HAS_EXPIRED ? "" : " (tls_ca_file must hold the CA that signed it)");
    } else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA) {
        snprintf(t->why, sizeof t->why, "TLS: %s does not trust %s certificate (unknown CA: it "
                 "was not signed by the CA in that side's tls_ca_file)", t->name, who);
    } else if (reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED) {
        snprintf(t->why, sizeof t->why, "TLS: %s refused %s certificate: it has expired", t->name,
                 who);
    } else if (reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
               reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR ||
               reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER || reason == SSL_R_BAD_SIGNATURE ||
               reason == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC ||
               reason == SSL_R_TLSV1_ALERT_DECODE_ERROR ||
               reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE) {
        snprintf(t->why, sizeof t->why, "TLS: %s refused the handshake (%s)%s", t->name,
                 ERR_reason_error_string(e),
                 t->x->psk ? ": the pre-shared keys or identities differ" : "");
    } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        snprintf(t->why, sizeof t->why, "TLS: %s presented no certificate", t->name);
    } else if (handshake && (reason == SSL_R_WRONG_VERSION_NUMBER ||
                             reason == SSL_R_PACKET_LENGTH_TOO_LONG)) {
        /* What came was no TLS record: TLS read it before our peek did. */
        snprintf(t->why, sizeof t->why, "TLS: %s answered in plaintext (%s): that listener does "
                 "not use TLS (configure the same TLS there, or connect without TLS)", t->name,
                 ERR_reason_error_string(e));
    } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL) {
        snprintf(t->why, sizeof t->why, "TLS: %s does not speak TLS 1.3 (%s)", t->name,
                 ERR_reason_error_string(e));
    } else if (handshake && (err == SSL_ERROR_SYSCALL || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        snprintf(t->why, sizeof t->why, "TLS: %s closed the connection during the TLS handshake%s",
                 t->name, t->x->psk ? " (the pre-shared keys or identities may differ)" : "");
    } else if (t->client && !t->rx_app &&
               (err == SSL_ERROR_SYSCALL || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        /* TLS 1.3: the client is done before the server has checked its
         * certificate; a server that refuses it closes, maybe before its
         * alert could be read. */
        snprintf(t->why, sizeof t->why, "TLS: %s closed the connection right after the TLS "
                 "handshake, before any answer: it refused this service's %s (an unknown CA or "
                 "an expired certificate; its log says which)", t->name,
                 t->x->psk ? "pre-shared key" : "certificate");
    } else if (err == SSL_ERROR_SYSCALL || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        if (errno == 0 || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return 0; /* the stream ended without close_notify: an end all the same */
        return -3;    /* a socket error: errno says it */
    } else {
        snprintf(t->why, sizeof t->why, "TLS with %s failed%s: %s", t->name,
                 handshake ? " in the handshake" : "", e ? ERR_reason_error_string(e) : "unknown");
    }
    ERR_clear_error();
    return TRI_TLS_FAILED;
}

ssize_t tri_tls_read(tri_tls *t, void *buf, size_t len)
{
    if (!t->first_byte_seen && !SSL_is_init_finished(t->ssl)) {
        ssize_t r = check_first_byte(t);
        if (r)
            return r;
    }
    /* Records while TLS holds bytes (read ahead) and there is room for
     * one: what is left inside TLS, epoll cannot announce
     * (tri_tls_pending); what is left in the socket, it can. */
    size_t got = 0;
    while (got < len) {
        errno = 0;
        int n = SSL_read(t->ssl, (char *)buf + got, (int)(len - got > INT32_MAX ? INT32_MAX : len - got));
        if (n > 0) {
            t->rx_app = true;
            got += (size_t)n;
            if (len - got < TLS_RECORD_MAX || !SSL_has_pending(t->ssl))
                break;
            continue;
        }
        ssize_t r = failed(t, n, false);
        if (got && r != TRI_TLS_FAILED)
            return (ssize_t)got; /* the rest (or the end) at the next call */
        if (r == -3) {
            return -1; /* errno from the socket */
        }
        return r;
    }
    return (ssize_t)got;
}

ssize_t tri_tls_write(tri_tls *t, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        errno = 0;
        int n = SSL_write(t->ssl, (const char *)buf + put,
                          (int)(len - put > INT32_MAX ? INT32_MAX : len - put));
        if (n > 0) {
            put += (size_t)n;
            continue;
        }
        if (!SSL_is_init_finished(t->ssl) && !t->first_byte_seen) {
            ssize_t r = check_first_byte(t);
            if (r)
                return r;
        }
        int err = SSL_get_error(t->ssl, n);
        ssize_t r = failed(t, n, true);
        if (put && r != TRI_TLS_FAILED)
            return (ssize_t)put;
        if (r == -3)
            return -1;
        if (r == 0 && err != SSL_ERROR_WANT_READ) { /* EOF while writing: the peer is gone */
            snprintf(t->why, sizeof t->why, "TLS: %s closed the connection", t->name);
            return TRI_TLS_FAILED;
        }
        return r;
    }
    return (ssize_t)put;
}
