/* Test certificates made at test time with OpenSSL's C API: a CA, and
 * leaf certificates it signs (valid now, or expired), each written as PEM
 * into a fresh directory under /tmp. EC P-256 keys: fast to make. */
#ifndef TR_TESTS_TLS_CERTS_H
#define TR_TESTS_TLS_CERTS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct tc_cert {
    EVP_PKEY *key;
    X509 *x;
} tc_cert;

static inline EVP_PKEY *tc_key(void) { return EVP_EC_gen("P-256"); }

/* A certificate for `cn` with `key`, valid from now+from_s to now+to_s,
 * signed by `ca` (NULL: self-signed, a CA). */
static inline X509 *tc_make(const char *cn, EVP_PKEY *key, const tc_cert *ca, long from_s, long to_s)
{
    X509 *x = X509_new();
    static long serial = 1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->x) : n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, ca ? ca->x : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                            ca ? "critical,CA:FALSE" : "critical,CA:TRUE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(x, ca ? ca->key : key, EVP_sha256());
    return x;
}

static inline tc_cert tc_ca(const char *cn)
{
    tc_cert c = {tc_key(), NULL};
    c.x = tc_make(cn, c.key, NULL, -3600, 86400);
    return c;
}

static inline tc_cert tc_leaf(const char *cn, const tc_cert *ca, long from_s, long to_s)
{
    tc_cert c = {tc_key(), NULL};
    c.x = tc_make(cn, c.key, ca, from_s, to_s);
    return c;
}

static inline void tc_free(tc_cert *c)
{
    X509_free(c->x);
    EVP_PKEY_free(c->key);
}

/* Writes dir/<name>.pem (the certificate) and dir/<name>.key. */
static inline void tc_write(const char *dir, const char *name, const tc_cert *c)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.pem", dir, name);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, c->x);
    fclose(f);
    if (!c->key)
        return;
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

#endif
