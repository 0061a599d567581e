/* troupe-node as a second process, started and stopped by PID: its
 * gateway across a process boundary, a clean stop on SIGTERM and SIGINT
 * (S34 for its clients), --idle-exit, --port-file. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "node_proc.h"

/* Waits (bounded) for the node to exit; its exit status. */
static int node_wait(node *nd, unsigned timeout_ms)
{
    int status = -1;
    uint64_t dl = tc_deadline_ms(timeout_ms);
    for (;;) {
        pid_t got = waitpid(nd->pid, &status, WNOHANG);
        if (got == nd->pid)
            break;
        if (!tc_poll(dl)) {
            kill(nd->pid, SIGKILL);
            waitpid(nd->pid, &status, 0);
            TC_FAIL("troupe-node (pid %ld) did not exit within %u ms", (long)nd->pid, timeout_ms);
        }
    }
    unlink(nd->port_file);
    np_track(nd->pid, false);
    nd->pid = 0;
    return status;
}

static uint64_t ask_u64(tr_future *f)
{
    TC_OK(tr_future_get(f, WAIT_NS));
    uint64_t v = *(const tr_u64 *)tr_future_value(f, &tr_u64__type);
    tr_future_release(f);
    return v;
}

/* The node's gateway from another process; SIGTERM stops it cleanly and
 * what was pending on it fails at once (S34). */
Test(node, serves_and_stops_on_sigterm, .timeout = 60)
{
    node nd = node_start_idle(0, "60");
    tr_service *client = r_client(1, 0, 0);
    tr_gateway *gw = node_gw(client, nd.port);
    tr_future *f;

    uint8_t buf[100];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)i;
    TC_OK(tnode_echo(gw, &(tr_bytes){buf, sizeof buf}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    const tr_bytes *back = tnode_echo_result(f);
    cr_assert_eq(back->len, sizeof buf);
    cr_assert(!memcmp(back->data, buf, sizeof buf));
    tr_future_release(f);

    TC_OK(tnode_ping(gw, &(tr_i64){-77}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tnode_ping_result(f), -77);
    tr_future_release(f);

    TC_OK(tnode_count(gw, &(tr_u64){0}, 0, &f));
    uint64_t base = ask_u64(f);
    for (int i = 0; i < 1000; i++)
        TC_OK(tnode_sink(gw, &(tr_bytes){buf, 10}));
    TC_OK(tnode_count(gw, &(tr_u64){base + 1000}, 0, &f));
    cr_assert_eq(ask_u64(f), base + 1000);
    TC_OK(tnode_bytes(gw, NULL, 0, &f));
    cr_assert_geq(ask_u64(f), 10000);

    /* Pending when the node stops: never reached. */
    tr_future *pending;
    TC_OK(tnode_count(gw, &(tr_u64){base + 1000000}, 0, &pending));
    TC_ASSERT_EVENTUALLY(r_stats(client).asks_pending == 1, 5000);
    uint64_t t0 = tc_now_ns();
    TC_ASSERT(kill(nd.pid, SIGTERM) == 0);
    TC_OK(tr_future_wait(pending, WAIT_NS));
    int code = tr_future_code(pending);
    cr_assert(code == TR_ESTOPPED || code == TR_EUNREACHABLE || code == TR_EFAILED, "%s: %s",
              tr_errname(code), tr_future_error(pending));
    cr_assert_lt(tc_now_ns() - t0, 5000000000ull);
    tr_future_release(pending);
    int status = node_wait(&nd, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);

    /* Gone: the next call fails at once (refused), not at its deadline. */
    TC_OK(tnode_ping(gw, &(tr_i64){1}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* SIGINT stops it cleanly too. */
Test(node, stops_on_sigint, .timeout = 30)
{
    node nd = node_start_idle(0, "60");
    tr_service *client = r_client(1, 0, 0);
    tr_gateway *gw = node_gw(client, nd.port);
    tr_future *f;
    TC_OK(tnode_ping(gw, &(tr_i64){5}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    TC_ASSERT(kill(nd.pid, SIGINT) == 0);
    int status = node_wait(&nd, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    tr_gateway_release(gw);
    tr_service_destroy(client);
}

/* --idle-exit: no client for that long and it exits by itself; a
 * connected client keeps it up. */
Test(node, idle_exit, .timeout = 30)
{
    node nd = node_start_idle(0, "1");
    tr_service *client = r_client(1, 0, 0);
    tr_gateway *gw = node_gw(client, nd.port);
    tc_sleep_us(1500000); /* connected: it stays */
    tr_future *f;
    TC_OK(tnode_ping(gw, &(tr_i64){6}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    uint64_t t0 = tc_now_ns();
    tr_gateway_release(gw); /* the last gateway to it: the connection closes */
    int status = node_wait(&nd, 10000);
    uint64_t took = tc_now_ns() - t0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    cr_assert_geq(took, 900000000ull);
    tr_service_destroy(client);
}

/* A bad command line is refused with status 2. */
Test(node, bad_command_line, .timeout = 30)
{
    char path[PATH_MAX + 16];
    node_path(path, sizeof path);
    const char *cases[][4] = {{"--listen", NULL}, {"--bogus", NULL},
                              {"--listen", "127.0.0.1:0", "--workers", "0"},
                              {"--idle-exit", "x", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pid_t pid = fork();
        TC_ASSERT(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0)
                dup2(devnull, STDERR_FILENO);
            execl(path, path, cases[i][0], cases[i][1], cases[i][2], cases[i][3], (char *)NULL);
            _exit(127);
        }
        node nd = {.pid = pid, .cmd = -1, .ans = -1};
        int status = node_wait(&nd, 10000);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "case %zu: status %d", i,
                  status);
    }
}
