/* Second processes for the remote death-watch tests, started by PID and
 * ended by PID (SIGCONT, then SIGKILL, then waitpid):
 *  - troupe-node (tools/troupe-node.c), exec'ed from the build directory,
 *    listening on a port of ours or any free one;
 *  - a forked child that serves the tcalc endpoint "calc" and answers
 *    commands on a pipe (its live watch count; fail the endpoint), for
 *    tests that need to see the serving side. Fork it before the test
 *    makes any service: the child then starts from a process with no
 *    troupe threads.
 * Every wait is bounded. The fixture's fini (np_end_started) ends what a
 * test left running when an assertion stopped it half-way. */
#ifndef TR_TESTS_REMOTE_NODE_PROC_H
#define TR_TESTS_REMOTE_NODE_PROC_H

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "remote_common.h"
#include "tnode.h"

typedef struct node {
    pid_t pid;
    uint16_t port;
    char port_file[128];
    int cmd, ans; /* the forked child's pipes (-1: troupe-node) */
} node;

#define NP_MAX 4
static pid_t np_started[NP_MAX];

static inline void np_track(pid_t pid, bool add)
{
    for (int i = 0; i < NP_MAX; i++) {
        if (add && np_started[i] == 0) {
            np_started[i] = pid;
            return;
        }
        if (!add && np_started[i] == pid) {
            np_started[i] = 0;
            return;
        }
    }
}

static inline void np_kill(pid_t pid)
{
    kill(pid, SIGCONT);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* .fini: ends whatever a test started and did not end. */
static inline void np_end_started(void)
{
    for (int i = 0; i < NP_MAX; i++)
        if (np_started[i] > 0) {
            np_kill(np_started[i]);
            np_started[i] = 0;
        }
}

/* troupe-node beside this test executable (both in the build folder). */
static inline void node_path(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    TC_ASSERT(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(buf, len, "%s/troupe-node", self);
    TC_ASSERT_MSG(access(buf, X_OK) == 0, "%s is not there: build the troupe-node target", buf);
}

/* troupe-node on 127.0.0.1:port (0: any free one), leaving when no client
 * has been connected for idle_exit seconds. */
static inline node node_start_idle(uint16_t port, const char *idle_exit)
{
    node nd = {.cmd = -1, .ans = -1};
    char path[PATH_MAX + 16], listen[32];
    node_path(path, sizeof path);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
    snprintf(nd.port_file, sizeof nd.port_file, "/tmp/troupe-watch-test-%ld.port", (long)getpid());
    unlink(nd.port_file);
    nd.pid = fork();
    TC_ASSERT(nd.pid >= 0);
    if (nd.pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl(path, path, "--listen", listen, "--port-file", nd.port_file, "--idle-exit",
              idle_exit, (char *)NULL);
        _exit(127);
    }
    np_track(nd.pid, true);
    uint64_t dl = tc_deadline_ms(10000);
    while (!nd.port) {
        FILE *f = fopen(nd.port_file, "r");
        unsigned p = 0;
        if (f) {
            if (fscanf(f, "%u", &p) != 1)
                p = 0;
            fclose(f);
        }
        nd.port = (uint16_t)p;
        if (!nd.port)
            TC_ASSERT_MSG(tc_poll(dl), "troupe-node published no port within 10 s");
    }
    return nd;
}

static inline node node_start(uint16_t port) { return node_start_idle(port, "60"); }

/* Ends it by PID (SIGCONT first, in case it is stopped), reaps it. */
static inline void node_end(node *nd)
{
    if (nd->pid > 0) {
        np_kill(nd->pid);
        np_track(nd->pid, false);
        nd->pid = 0;
    }
    if (nd->cmd >= 0) {
        close(nd->cmd);
        close(nd->ans);
        nd->cmd = nd->ans = -1;
    } else {
        unlink(nd->port_file);
    }
}

/* A gateway of `desc` to the node's endpoint (tnode's, or the stream gateway). */
static inline tr_gateway *node_gw_of(tr_service *client, uint16_t port, const tr_gateway_desc *desc)
{
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/%s", (unsigned)port, TNODE_ENDPOINT);
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(client, a, desc, &gw);
    TC_ASSERT_MSG(rv == 0, "connect %s: %s: %s", a, tr_errname(rv), tr_service_connect_error());
    return gw;
}

static inline tr_gateway *node_gw(tr_service *client, uint16_t port)
{
    return node_gw_of(client, port, &tnode_gateway);
}

static inline void ping_ok(tr_gateway *gw)
{
    tr_future *f = NULL;
    TC_OK(tnode_ping(gw, &(tr_i64){5}, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    cr_assert_eq(*tnode_ping_result(f), 5);
    tr_future_release(f);
}

/* ---- the forked child ---------------------------------------------------------------- */

static int np_fail_now(tr_endpoint *self, void *state, void *arg)
{
    (void)state, (void)arg;
    if (self)
        tr_endpoint_fail(self, TR_EIO, "disk %s is gone", "sdc");
    return 0;
}

/* Reads exactly len bytes within ms (false on EOF, error or time out). */
static inline bool np_read(int fd, void *buf, size_t len, int ms)
{
    for (size_t got = 0; got < len;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, ms) <= 0)
            return false;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* The child: no Criterion here, a failure is an exit status. It stops on
 * its own when the parent's pipe closes or after 60 s without a command. */
static inline void np_child(int cmd, int ans)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    tr_service *svc = NULL;
    if (tr_service_create(&cfg, &svc))
        _exit(2);
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint_opts o = {
        .id = "calc", .gateways = impls, .ngateways = 1, .state_size = sizeof(t_state)};
    tr_endpoint *ep = NULL;
    tr_gateway *lgw = NULL;
    if (tr_endpoint_create(svc, &o, &ep) || tr_endpoint_start(ep) ||
        tr_service_connect(svc, "calc", &tcalc_gateway, &lgw))
        _exit(3);
    uint16_t port = tr_service_port(svc);
    if (write(ans, &port, sizeof port) != sizeof port)
        _exit(4);
    char c;
    while (np_read(cmd, &c, 1, 60000)) {
        if (c == 'L') {
            uint64_t n = tr_service_live_watches(svc);
            if (write(ans, &n, sizeof n) != sizeof n)
                _exit(5);
        } else if (c == 'F') {
            tr_future *f = NULL;
            if (tr_gateway_run_async(lgw, np_fail_now, NULL, 0) ||
                tr_endpoint_termination(ep, &f) || tr_future_wait(f, WAIT_NS))
                _exit(6);
            tr_future_release(f);
            if (write(ans, "F", 1) != 1)
                _exit(7);
        }
    }
    _exit(0); /* the parent ends us by PID anyway */
}

static inline node child_start(void)
{
    int cmd[2], ans[2];
    TC_ASSERT(pipe2(cmd, O_CLOEXEC) == 0 && pipe2(ans, O_CLOEXEC) == 0);
    node nd = {0};
    nd.pid = fork();
    TC_ASSERT(nd.pid >= 0);
    if (nd.pid == 0) {
        close(cmd[1]);
        close(ans[0]);
        np_child(cmd[0], ans[1]);
    }
    close(cmd[0]);
    close(ans[1]);
    nd.cmd = cmd[1];
    nd.ans = ans[0];
    np_track(nd.pid, true);
    TC_ASSERT_MSG(np_read(nd.ans, &nd.port, sizeof nd.port, 10000),
                  "the child published no port within 10 s");
    return nd;
}

/* The child's live watch records (tr_service_live_watches). */
static inline uint64_t child_live(node *nd)
{
    uint64_t n = UINT64_MAX;
    TC_ASSERT(write(nd->cmd, "L", 1) == 1);
    TC_ASSERT_MSG(np_read(nd->ans, &n, sizeof n, 10000), "the child did not answer");
    return n;
}

/* Waits (bounded) until the child has `want` live watch records. */
static inline uint64_t child_settle(node *nd, uint64_t want)
{
    uint64_t dl = tc_deadline_ms(5000), n;
    while ((n = child_live(nd)) != want && tc_poll(dl)) {
    }
    return n;
}

/* Fails the child's endpoint (TR_EIO, "disk sdc is gone"); returns once
 * it has terminated. */
static inline void child_fail(node *nd)
{
    char c = 0;
    TC_ASSERT(write(nd->cmd, "F", 1) == 1);
    TC_ASSERT_MSG(np_read(nd->ans, &c, 1, 20000) && c == 'F', "the child did not fail it");
}

#endif
