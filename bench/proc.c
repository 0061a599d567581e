/* troupe-bench's second processes (troupe-node, troupe-kv): a program
 * beside this executable, started by PID with its port published through
 * --port-file (bounded wait), stopped by PID with SIGTERM (then SIGKILL
 * after a bounded wait). One helper so that every workload starts and ends
 * its servers the same way. */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_START_S 10 /* a server has this long to publish its port */
#define PROC_STOP_S 5   /* and this long to stop after SIGTERM */
#define PROC_ARGS 24

static void nap_10ms(void) { nanosleep(&(struct timespec){0, 10000000}, NULL); }

int bench_proc_start(const bench_run *r, bench_proc *p, const char *prog, const char *tag,
                     const char *const *args)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", prog);
    char self[PATH_MAX], path[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || (self[len] = '\0', !strrchr(self, '/'))) {
        bench_fail(r, "cannot find this executable's folder");
        return BENCH_FAIL;
    }
    *strrchr(self, '/') = '\0';
    snprintf(path, sizeof path, "%s/%s", self, prog);
    if (access(path, X_OK)) {
        bench_fail(r, "cannot run %s (build the %s target%s)", path, prog,
                   strcmp(prog, "troupe-node") ? "" : ", or give peer=HOST:PORT");
        return BENCH_FAIL;
    }
    snprintf(p->port_file, sizeof p->port_file, "/tmp/troupe-bench-%ld-%s.port", (long)getpid(),
             tag);
    unlink(p->port_file);
    const char *argv[PROC_ARGS + 4] = {path};
    int n = 1;
    for (; args[n - 1] && n <= PROC_ARGS; n++)
        argv[n] = args[n - 1];
    argv[n++] = "--port-file";
    argv[n++] = p->port_file;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        bench_fail(r, "fork: %s", strerror(errno));
        return BENCH_FAIL;
    }
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO); /* stdout carries RESULT lines only */
        execv(path, (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    for (int i = 0; i < PROC_START_S * 100; i++) {
        FILE *f = fopen(p->port_file, "r");
        unsigned port = 0;
        if (f) {
            int ok = fscanf(f, "%u", &port);
            fclose(f);
            if (ok == 1 && port > 0 && port < 65536) {
                p->port = port;
                return BENCH_OK;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            p->pid = 0;
            bench_fail(r, "%s exited (status %d) before publishing its port", prog, status);
            return BENCH_FAIL;
        }
        nap_10ms();
    }
    bench_fail(r, "%s published no port within %d s", prog, PROC_START_S);
    bench_proc_stop(r, p);
    return BENCH_FAIL;
}

void bench_proc_stop(const bench_run *r, bench_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < PROC_STOP_S * 100 && got == 0; i++) {
        got = waitpid(p->pid, &status, WNOHANG);
        if (got == 0)
            nap_10ms();
    }
    if (got == 0) {
        bench_fail(r, "%s (pid %ld) did not stop within %d s of SIGTERM; killed", p->name,
                   (long)p->pid, PROC_STOP_S);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        bench_note("%s (pid %ld) ended with status %d", p->name, (long)p->pid, status);
    }
    unlink(p->port_file);
    p->pid = 0;
}
