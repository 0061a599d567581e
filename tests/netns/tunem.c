/* tunem: a userspace stand-in for tc netem, for kernels without sch_netem.
 *
 * Each host is a network namespace with a TUN device (tun0, IFF_TUN |
 * IFF_NO_PI, made persistent by the caller with `ip tuntap add`) holding
 * the host's address in one /24: the kernel routes the other hosts'
 * addresses through tun0. This process attaches to every host's tun0
 * (setns() into the namespace, open /dev/net/tun, back again: the fd
 * stays bound to the device there), reads each IPv4 packet a host sends,
 * and writes it into the destination host's tun0 after a delay:
 *
 *   delay    each packet waits DELAY ms (+- JITTER ms, uniform) one way,
 *            so a round trip between two hosts is 2 * DELAY
 *   loss     a packet is dropped with probability LOSS
 *   reorder  a packet is sent at once with probability REORDER (netem's
 *            `reorder`: it overtakes those still waiting); jitter also
 *            reorders, as in netem
 *   down/up  a host's link: while down every packet from or to it is
 *            dropped, including those already waiting (the partition)
 *
 * The fds carry a virtio-net header (IFF_VNET_HDR) and offer checksum
 * and TCP segmentation offload (TUNSETOFFLOAD), as veth does: a host's
 * TCP hands tunem packets of up to 64 KiB, unchecksummed, and tunem
 * passes each one, header and all, to the other host's tun0 unchanged.
 * So tunem carries what netem would on veth (one packet per TSO burst,
 * not per segment) and neither host computes checksums. Where the kernel
 * refuses the offloads, tunem falls back to plain packets.
 *
 * Waiting packets sit in a min-heap by due time (then arrival: FIFO
 * among equals), at most QUEUE packets and QUEUE_MB MiB; beyond that a
 * packet is dropped and counted, like a full netem queue. Everything else
 * that reaches a tun0 (IPv6, an address no host has) is dropped, counted.
 *
 *   tunem [-d MS] [-j MS] [-l P] [-r P] [-q N] [-m MiB] [-s SEED] [-n] -c SOCK
 *         NETNS=ADDR...
 *       runs until SIGTERM/SIGINT, then prints its counters (-n: no
 *       offloads: checksummed packets of at most tun0's MTU). It listens
 *       on the UNIX socket SOCK (a path: reachable from every namespace)
 *       and prints "tunem: ready" once attached to every host.
 *   tunem ctl SOCK COMMAND...
 *       sends one command and prints the answer; exit 1 on an error:
 *       down HOST | up HOST | set delay=MS jitter=MS loss=P reorder=P |
 *       stats
 *
 * Single-threaded: one poll loop over the TUN fds and the control socket,
 * its timeout the next packet's due time. Every loop is bounded per turn. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define MAX_HOSTS 8
#define PKT_MAX (65536 + 256) /* a GSO packet and its header, with room */
#define READS_PER_TURN 256 /* per host, then the others get a turn */

typedef struct host {
    char netns[64];
    uint32_t addr; /* network order */
    int fd;
    bool down;
} host;

typedef struct pkt {
    int64_t due;
    uint64_t seq;
    int src, dst;
    uint32_t len;
    uint8_t *data;
} pkt;

typedef struct params {
    double delay_ms, jitter_ms, loss, reorder;
} params;

static host hosts[MAX_HOSTS];
static int nhosts;
static params par = {10, 0, 0, 0};
static pkt *heap;
static size_t nheap, heap_cap, queued_bytes, max_bytes;
static uint64_t seq, rng = 0x9e3779b97f4a7c15ull;
static struct {
    uint64_t received, delivered, lost, reordered, overflow, partitioned, unroutable, write_err;
} ctr;
static volatile sig_atomic_t quit;
static size_t vhdr; /* the virtio-net header's size on every fd, or 0 (no offloads) */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double uniform(void) /* [0, 1), xorshift64* */
{
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static void die(const char *what)
{
    fprintf(stderr, "tunem: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- the heap ------------------------------------------------------------------------ */

static bool before(const pkt *a, const pkt *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(pkt p)
{
    size_t i = nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(&p, &heap[up]))
            break;
        heap[i] = heap[up];
        i = up;
    }
    heap[i] = p;
}

static pkt heap_pop(void)
{
    pkt top = heap[0], last = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const pkt *best = &last;
        if (l < nheap && before(&heap[l], best))
            m = l, best = &heap[l];
        if (l + 1 < nheap && before(&heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        heap[i] = heap[m];
        i = m;
    }
    if (nheap)
        heap[i] = last;
    return top;
}

/* ---- packets ------------------------------------------------------------------------- */

static int host_of(uint32_t addr)
{
    for (int i = 0; i < nhosts; i++)
        if (hosts[i].addr == addr)
            return i;
    return -1;
}

/* One packet read from host src: `len` bytes at pk, the first vhdr of them
 * its virtio-net header (kept: it goes out with the packet). */
static void take(int src, const uint8_t *pk, size_t len)
{
    ctr.received++;
    const uint8_t *b = pk + vhdr;
    if (len < vhdr + 20 || (b[0] >> 4) != 4) { /* IPv4 only (the kernel's IPv6 chatter) */
        ctr.unroutable++;
        return;
    }
    uint32_t daddr;
    memcpy(&daddr, b + 16, 4);
    int dst = host_of(daddr);
    if (dst < 0 || dst == src) {
        ctr.unroutable++;
        return;
    }
    if (hosts[src].down || hosts[dst].down) {
        ctr.partitioned++;
        return;
    }
    if (par.loss > 0 && uniform() < par.loss) {
        ctr.lost++;
        return;
    }
    if (nheap == heap_cap || queued_bytes + len > max_bytes) {
        ctr.overflow++;
        return;
    }
    double d = par.delay_ms;
    if (par.jitter_ms > 0)
        d += (2 * uniform() - 1) * par.jitter_ms;
    if (par.reorder > 0 && uniform() < par.reorder) {
        d = 0;
        ctr.reordered++;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        ctr.overflow++;
        return;
    }
    memcpy(copy, pk, len);
    queued_bytes += len;
    heap_push((pkt){now_ns() + (int64_t)(d > 0 ? d * 1e6 : 0), seq++, src, dst, (uint32_t)len,
                    copy});
}

/* Writes every packet due by now; returns the next due time (or -1). */
static int64_t deliver(void)
{
    int64_t now = now_ns();
    while (nheap && heap[0].due <= now) {
        pkt p = heap_pop();
        queued_bytes -= p.len;
        if (hosts[p.src].down || hosts[p.dst].down)
            ctr.partitioned++;
        else if (write(hosts[p.dst].fd, p.data, p.len) == (ssize_t)p.len)
            ctr.delivered++;
        else
            ctr.write_err++;
        free(p.data);
    }
    return nheap ? heap[0].due : -1;
}

/* ---- setup --------------------------------------------------------------------------- */

/* tun0 in netns `name`, attached, non-blocking. */
static int attach(const char *name)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || ns < 0)
        die(path);
    if (setns(ns, CLONE_NEWNET) != 0)
        die("setns");
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        die("/dev/net/tun");
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vhdr ? IFF_VNET_HDR : 0);
    snprintf(ifr.ifr_name, IFNAMSIZ, "tun0");
    if (ioctl(fd, TUNSETIFF, &ifr) != 0)
        die("TUNSETIFF tun0 (was it made with ip tuntap add dev tun0 mode tun?)");
    int hs = (int)vhdr;
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (vhdr && (ioctl(fd, TUNSETVNETHDRSZ, &hs) != 0 || ioctl(fd, TUNSETOFFLOAD, off) != 0)) {
        close(fd); /* no offloads here: plain packets on every fd */
        fd = -1;
    }
    if (fd < 0) {
        vhdr = 0;
        if ((fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
            die("/dev/net/tun");
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        if (ioctl(fd, TUNSETIFF, &ifr) != 0)
            die("TUNSETIFF tun0");
    }
    if (setns(self, CLONE_NEWNET) != 0) /* back: the fd keeps its device */
        die("setns back");
    close(ns);
    close(self);
    return fd;
}

static int listen_ctl(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path)
        die("control socket");
    strcpy(sa.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0)
        die(path);
    return fd;
}

/* ---- control ------------------------------------------------------------------------- */

static int host_named(const char *name)
{
    for (int i = 0; i < nhosts; i++) {
        size_t n = strlen(hosts[i].netns), k = strlen(name);
        /* the full namespace name, or its last letters ("b" for trn123b) */
        if (k <= n && strcmp(hosts[i].netns + n - k, name) == 0)
            return i;
    }
    return -1;
}

static void print_stats(char *out, size_t len)
{
    snprintf(out, len,
             "received %llu delivered %llu lost %llu reordered %llu overflow %llu "
             "partitioned %llu unroutable %llu write_errors %llu queued %zu",
             (unsigned long long)ctr.received, (unsigned long long)ctr.delivered,
             (unsigned long long)ctr.lost, (unsigned long long)ctr.reordered,
             (unsigned long long)ctr.overflow, (unsigned long long)ctr.partitioned,
             (unsigned long long)ctr.unroutable, (unsigned long long)ctr.write_err, nheap);
}

static void command(char *line, char *out, size_t len)
{
    char *save, *verb = strtok_r(line, " \t\r\n", &save);
    if (!verb) {
        snprintf(out, len, "error: empty command");
    } else if (!strcmp(verb, "down") || !strcmp(verb, "up")) {
        char *name = strtok_r(NULL, " \t\r\n", &save);
        int h = name ? host_named(name) : -1;
        if (h < 0) {
            snprintf(out, len, "error: no host %s", name ? name : "(none)");
            return;
        }
        hosts[h].down = verb[0] == 'd';
        snprintf(out, len, "ok: %s %s", hosts[h].netns, verb);
    } else if (!strcmp(verb, "set")) {
        params p = par;
        for (char *kv; (kv = strtok_r(NULL, " \t\r\n", &save));) {
            char *eq = strchr(kv, '=');
            double v = eq ? strtod(eq + 1, NULL) : -1;
            if (!eq || v < 0) {
                snprintf(out, len, "error: %s: want key=value >= 0", kv);
                return;
            }
            *eq = 0;
            if (!strcmp(kv, "delay"))
                p.delay_ms = v;
            else if (!strcmp(kv, "jitter"))
                p.jitter_ms = v;
            else if (!strcmp(kv, "loss") && v <= 1)
                p.loss = v;
            else if (!strcmp(kv, "reorder") && v <= 1)
                p.reorder = v;
            else {
                snprintf(out, len, "error: %s: unknown (delay, jitter, loss, reorder)", kv);
                return;
            }
        }
        par = p;
        snprintf(out, len, "ok: delay %.1f ms jitter %.1f ms loss %.3f reorder %.3f",
                 par.delay_ms, par.jitter_ms, par.loss, par.reorder);
    } else if (!strcmp(verb, "stats")) {
        print_stats(out, len);
    } else {
        snprintf(out, len, "error: unknown command %s (down, up, set, stats)", verb);
    }
}

/* One client: one line in, one line out (bounded: it has 1 s). */
static void serve_ctl(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char line[512], out[512];
    size_t n = 0;
    while (n < sizeof line - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            break;
        ssize_t k = read(fd, line + n, sizeof line - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (memchr(line, '\n', n))
            break;
    }
    line[n] = 0;
    command(line, out, sizeof out);
    dprintf(fd, "%s\n", out);
    close(fd);
}

static int ctl_client(const char *path, int argc, char **argv)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path)
        die("control socket");
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die(path);
    char line[512];
    size_t n = 0;
    for (int i = 0; i < argc && n < sizeof line - 2; i++)
        n += (size_t)snprintf(line + n, sizeof line - 2 - n, "%s%s", i ? " " : "", argv[i]);
    line[n++] = '\n';
    if (write(fd, line, n) != (ssize_t)n)
        die("write");
    char out[512];
    size_t got = 0;
    for (int i = 0; i < 100 && got < sizeof out - 1; i++) {
        ssize_t k = read(fd, out + got, sizeof out - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    out[got] = 0;
    fputs(out, stdout);
    close(fd);
    return strncmp(out, "ok", 2) == 0 || strncmp(out, "received", 8) == 0 ? 0 : 1;
}

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: tunem [-d MS] [-j MS] [-l P] [-r P] [-q N] [-m MiB] [-s SEED] [-n] "
                    "-c SOCK NETNS=ADDR...\n       tunem ctl SOCK COMMAND...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "ctl"))
        return ctl_client(argv[2], argc - 3, argv + 3);
    const char *ctl = NULL;
    size_t qmax = 65536, qmb = 64;
    bool offload = true;
    int o;
    while ((o = getopt(argc, argv, "d:j:l:r:q:m:s:c:n")) != -1) {
        switch (o) {
        case 'd': par.delay_ms = atof(optarg); break;
        case 'j': par.jitter_ms = atof(optarg); break;
        case 'l': par.loss = atof(optarg); break;
        case 'r': par.reorder = atof(optarg); break;
        case 'q': qmax = strtoul(optarg, NULL, 10); break;
        case 'm': qmb = strtoul(optarg, NULL, 10); break;
        case 's': rng = strtoull(optarg, NULL, 10) | 1; break;
        case 'c': ctl = optarg; break;
        case 'n': offload = false; break;
        default: usage();
        }
    }
    if (!ctl || optind >= argc || argc - optind > MAX_HOSTS || qmax == 0)
        usage();
    vhdr = offload ? sizeof(struct virtio_net_hdr) : 0;
    for (int i = optind; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        host *h = &hosts[nhosts++];
        if (!eq || eq - argv[i] >= (long)sizeof h->netns || inet_pton(AF_INET, eq + 1, &h->addr) != 1)
            usage();
        memcpy(h->netns, argv[i], (size_t)(eq - argv[i]));
        h->fd = attach(h->netns);
    }
    if (!vhdr && offload) /* one host had no offloads: all plain */
        for (int i = 0; i < nhosts; i++) {
            close(hosts[i].fd);
            hosts[i].fd = attach(hosts[i].netns);
        }
    heap_cap = qmax;
    max_bytes = qmb << 20;
    heap = calloc(heap_cap, sizeof *heap);
    if (!heap)
        die("calloc");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int lfd = listen_ctl(ctl);
    printf("tunem: ready: %d hosts, delay %.1f ms +- %.1f, loss %.3f, reorder %.3f, queue %zu "
           "packets / %zu MiB, %s\n", nhosts, par.delay_ms, par.jitter_ms, par.loss, par.reorder,
           qmax, qmb, vhdr ? "checksum and TSO offload" : "no offloads");
    fflush(stdout);

    static uint8_t buf[PKT_MAX];
    struct pollfd p[MAX_HOSTS + 1];
    while (!quit) {
        int64_t next = deliver();
        for (int i = 0; i < nhosts; i++)
            p[i] = (struct pollfd){hosts[i].fd, POLLIN, 0};
        p[nhosts] = (struct pollfd){lfd, POLLIN, 0};
        struct timespec ts, *tp = NULL;
        if (next >= 0) {
            int64_t wait = next - now_ns();
            if (wait < 0)
                wait = 0;
            ts = (struct timespec){wait / 1000000000, wait % 1000000000};
            tp = &ts;
        }
        int r = ppoll(p, (nfds_t)nhosts + 1, tp, NULL);
        if (r < 0 && errno != EINTR)
            die("ppoll");
        if (r <= 0)
            continue;
        for (int i = 0; i < nhosts; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            for (int k = 0; k < READS_PER_TURN; k++) {
                ssize_t n = read(hosts[i].fd, buf, sizeof buf);
                if (n <= 0)
                    break;
                take(i, buf, (size_t)n);
            }
        }
        if (p[nhosts].revents & POLLIN)
            serve_ctl(lfd);
    }
    char out[512];
    print_stats(out, sizeof out);
    printf("tunem: %s\n", out);
    unlink(ctl);
    for (size_t i = 0; i < nheap; i++)
        free(heap[i].data);
    free(heap);
    return 0;
}
