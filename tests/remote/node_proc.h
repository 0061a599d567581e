/* troupe-node as a second process for the remote tests: started by PID
 * (fork and exec of the binary beside the test), its port read from
 * --port-file (bounded wait), ended by PID. */
#ifndef TROUPE_TESTS_NODE_PROC_H
#define TROUPE_TESTS_NODE_PROC_H

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "remote_common.h"
#include "tnode.h"

typedef struct node {
    pid_t pid;
    uint16_t port;
    char port_file[128];
} node;

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

/* Starts a node with extra arguments (NULL-terminated); waits (bounded)
 * for its port. */
static inline node node_start(const char *idle_exit)
{
    node nd = {0};
    char path[PATH_MAX + 16];
    node_path(path, sizeof path);
    snprintf(nd.port_file, sizeof nd.port_file, "/tmp/troupe-node-test-%ld.port", (long)getpid());
    unlink(nd.port_file);
    nd.pid = fork();
    TC_ASSERT(nd.pid >= 0);
    if (nd.pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl(path, path, "--listen", "127.0.0.1:0", "--port-file", nd.port_file, "--idle-exit",
              idle_exit, (char *)NULL);
        _exit(127);
    }
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

/* Waits (bounded) for the node to exit; its exit status. */
static inline int node_wait(node *nd, unsigned timeout_ms)
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
    nd->pid = 0;
    return status;
}

#endif
