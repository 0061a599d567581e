/* libFuzzer target: address parsing (remote/address.h, S30). What parses
 * must format back into something that parses to the same host and port,
 * and the id must lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/address.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void round_trip(const tri_addr *a)
{
    char buf[TRI_HOST_MAX + 16];
    tri_addr_format_hostport(a, buf, sizeof buf);
    tri_addr b;
    CHECK(tri_addr_parse_hostport(buf, &b) == 0);
    CHECK(strcmp(a->host, b.host) == 0 && a->port == b.port && a->v6_literal == b.v6_literal);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    CHECK(s);
    memcpy(s, d, n);
    s[n] = 0;
    tri_addr a;
    bool remote = tri_addr_is_remote(s);
    if (tri_addr_parse_remote(s, &a) == 0) {
        CHECK(remote && a.port >= 1);
        CHECK(a.id && a.id > s && a.id < s + n && strlen(a.id) >= 1);
        CHECK(strlen(a.id) <= TR_ENDPOINT_ID_MAX);
        round_trip(&a);
    }
    if (tri_addr_parse_hostport(s, &a) == 0) {
        CHECK(a.id == NULL && strlen(a.host) <= TRI_HOST_MAX);
        round_trip(&a);
    }
    free(s);
    return 0;
}
