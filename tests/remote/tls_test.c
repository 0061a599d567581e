/* TLS 1.3 (engine/remote/tls.c) and the limits against abuse (trust.h),
 * over loopback: mutual authentication by certificates made at test time
 * (tls_certs.h) and by a pre-shared key; every failure is TR_EAUTH at
 * connect with a message naming the reason, and the listener keeps
 * serving everyone else. Calls carry real payloads read back whole. */
#include <dirent.h>
#include <sys/stat.h>

#include "remote_common.h"
#include "tls_certs.h"

static char dir[64];
static char ca_pem[128], srv_pem[128], srv_key[128], cli_pem[128], cli_key[128];
static char other_pem[128], other_key[128], old_pem[128], old_key[128];

static const char *f(char *buf, const char *name)
{
    snprintf(buf, 128, "%s/%s", dir, name);
    return buf;
}

/* A CA, a server and a client certificate it signs, a certificate signed
 * by another CA, and an expired one. */
static void make_certs(void)
{
    snprintf(dir, sizeof dir, "/tmp/troupe-tls-XXXXXX");
    cr_assert(mkdtemp(dir));
    tc_cert ca = tc_ca("troupe test CA"), rogue = tc_ca("another CA");
    tc_cert srv = tc_leaf("server", &ca, -60, 3600), cli = tc_leaf("client", &ca, -60, 3600);
    tc_cert other = tc_leaf("stranger", &rogue, -60, 3600);
    tc_cert old = tc_leaf("expired", &ca, -7200, -3600);
    tc_cert ca_only = {NULL, ca.x};
    tc_write(dir, "ca", &ca_only);
    tc_write(dir, "server", &srv);
    tc_write(dir, "client", &cli);
    tc_write(dir, "other", &other);
    tc_write(dir, "old", &old);
    f(ca_pem, "ca.pem"), f(srv_pem, "server.pem"), f(srv_key, "server.key");
    f(cli_pem, "client.pem"), f(cli_key, "client.key");
    f(other_pem, "other.pem"), f(other_key, "other.key");
    f(old_pem, "old.pem"), f(old_key, "old.key");
    tc_free(&ca), tc_free(&rogue), tc_free(&srv), tc_free(&cli), tc_free(&other), tc_free(&old);
}

static void remove_certs(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

TestSuite(tls, .init = make_certs, .fini = remove_certs, .timeout = 60);

typedef struct tls_side {
    const char *ca, *cert, *key, *psk;
} tls_side;

static tr_service *svc_with(bool listen, tls_side t, int *rv)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = listen;
    cfg.lookup_timeout_ns = 5LL * 1000 * 1000 * 1000;
    cfg.tls_ca_file = t.ca, cfg.tls_cert_file = t.cert, cfg.tls_key_file = t.key;
    cfg.tls_psk = t.psk;
    tr_service *svc = NULL;
    *rv = tr_service_create(&cfg, &svc);
    return svc;
}

static tr_endpoint *ep_calc;

static tr_service *serve(tls_side t)
{
    int rv;
    tr_service *s = svc_with(true, t, &rv);
    cr_assert_eq(rv, 0, "listener: %s", tr_errname(rv));
    ep_calc = t_endpoint(s, "calc", true);
    return s;
}

static void unserve(tr_service *s)
{
    tr_endpoint_release(ep_calc);
    tr_service_destroy(s);
}

/* Connects and makes two calls with real payloads (or expects `want`
 * with `needle` in the message). */
static void call(tr_service *server, tls_side t, int want, const char *needle)
{
    int rv;
    tr_service *cli = svc_with(false, t, &rv);
    cr_assert_eq(rv, 0);
    char addr[96];
    tr_gateway *gw = NULL;
    rv = tr_service_connect(cli, r_addr(server, "calc", addr, sizeof addr), &tcalc_gateway, &gw);
    if (want) {
        cr_assert_eq(rv, want, "connect: %s (%s), want %s", tr_errname(rv),
                     tr_service_connect_error(), tr_errname(want));
        cr_assert(strstr(tr_service_connect_error(), needle), "'%s' does not say '%s'",
                  tr_service_connect_error(), needle);
    } else {
        cr_assert_eq(rv, 0, "connect: %s (%s)", tr_errname(rv), tr_service_connect_error());
        tr_future *fu;
        TC_OK(tcalc_add(gw, &(t_pair){40, 2}, WAIT_NS, &fu));
        TC_OK(tr_future_wait(fu, WAIT_NS));
        cr_assert_eq(tr_future_code(fu), 0);
        cr_assert_eq(*tcalc_add_result(fu), 42);
        tr_future_release(fu);
        char big[70000]; /* several TLS records each way */
        for (size_t i = 0; i < sizeof big - 1; i++)
            big[i] = (char)('a' + i % 23);
        big[sizeof big - 1] = 0;
        tr_str s = big;
        TC_OK(tcalc_echo(gw, &s, WAIT_NS, &fu));
        TC_OK(tr_future_wait(fu, WAIT_NS));
        cr_assert_eq(tr_future_code(fu), 0, "%s", tr_future_error(fu));
        cr_assert_str_eq(*tcalc_echo_result(fu), big);
        tr_future_release(fu);
        tr_gateway_release(gw);
    }
    tr_service_destroy(cli);
}

#define CERTS(c, k) ((tls_side){ca_pem, c, k, NULL})
#define PSK "00112233445566778899aabbccddeeff"

Test(tls, mutual_certificates)
{
    tr_service *s = serve(CERTS(srv_pem, srv_key));
    call(s, CERTS(cli_pem, cli_key), 0, NULL);
    unserve(s);
}

Test(tls, pre_shared_key)
{
    tr_service *s = serve((tls_side){.psk = PSK});
    call(s, (tls_side){.psk = PSK}, 0, NULL);
    call(s, (tls_side){.psk = "ffeeddccbbaa99887766554433221100"}, TR_EAUTH, "pre-shared");
    call(s, (tls_side){.psk = PSK}, 0, NULL); /* still serving */
    unserve(s);
}

Test(tls, failures_name_the_reason_and_the_listener_serves_on)
{
    tr_service *s = serve(CERTS(srv_pem, srv_key));
    call(s, (tls_side){0}, TR_EAUTH, "requires TLS");          /* plaintext client */
    call(s, CERTS(other_pem, other_key), TR_EAUTH, "this service's certificate"); /* not our CA */
    call(s, CERTS(old_pem, old_key), TR_EAUTH, "this service's certificate"); /* expired */
    call(s, (tls_side){.psk = PSK}, TR_EAUTH, "TLS");          /* PSK at a cert listener */
    call(s, CERTS(cli_pem, cli_key), 0, NULL);                 /* everyone else: served */
    unserve(s);

    /* The server's certificate is checked too. */
    s = serve(CERTS(other_pem, other_key));
    call(s, CERTS(cli_pem, cli_key), TR_EAUTH, "not accepted");
    unserve(s);
    s = serve(CERTS(old_pem, old_key));
    call(s, CERTS(cli_pem, cli_key), TR_EAUTH, "expired");
    unserve(s);

    /* A TLS client at a plaintext listener. */
    s = serve((tls_side){0});
    call(s, CERTS(cli_pem, cli_key), TR_EAUTH, "plaintext");
    call(s, (tls_side){0}, 0, NULL);
    unserve(s);
}

Test(tls, wrong_key_is_refused_at_start)
{
    int rv;
    tr_service *s = svc_with(true, CERTS(srv_pem, cli_key), &rv);
    cr_assert_null(s);
    cr_assert_eq(rv, TR_EAUTH, "%s", tr_errname(rv));
    s = svc_with(true, (tls_side){.ca = ca_pem, .cert = srv_pem}, &rv); /* no key */
    cr_assert_eq(rv, TR_EINVAL);
    s = svc_with(true, (tls_side){.psk = "abc"}, &rv);
    cr_assert_eq(rv, TR_EINVAL);
}

Test(tls, no_open_listener_beyond_loopback_by_default)
{
    /* Refused before any bind: nothing listens anywhere. */
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    cfg.bind_address = "0.0.0.0:0";
    tr_service *s = NULL;
    cr_assert_eq(tr_service_create(&cfg, &s), TR_EAUTH);
    cr_assert_null(s);
}
