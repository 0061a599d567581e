/* tri_fence_heavy and the start-up check behind tri_fence_asymmetric
 * (fence.h). */
#include "base/fence.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

bool tri_fence_asymmetric;

static long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

static bool register_expedited(void)
{
    return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
           membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
}

__attribute__((constructor)) static void fence_probe(void)
{
#ifndef TRI_TSAN
    const char *env = getenv("TROUPE_MEMBARRIER");
    if (env && strcmp(env, "0") == 0)
        return;
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        return;
    tri_fence_asymmetric = register_expedited();
#endif
}

void tri_fence_heavy(void)
{
    if (!tri_fence_asymmetric) {
        atomic_thread_fence(memory_order_seq_cst);
        return;
    }
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    /* EPERM: not registered in this address space (say, a registration
     * not carried into a forked child); register again, then fence. */
    int err = errno;
    if (register_expedited())
        return;
    fprintf(stderr,
            "troupe: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed (%s) after it worked "
            "at start; set TROUPE_MEMBARRIER=0 in the environment of a process that forbids "
            "it\n",
            strerror(err));
    abort();
}
