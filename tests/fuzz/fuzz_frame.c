/* libFuzzer target: the frame codec (remote/frame.h) on untrusted bytes.
 * Every body parser must reject or accept without reading past `len`;
 * what it accepts must re-encode to the very bytes it read (the format
 * has one encoding per value), so a parser that skips a check shows up
 * as a mismatch, not only as an ASan report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/frame.h"
#include "troupe/error.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    uint8_t out[TRI_FRAME_HDR + 2 * TRI_FRAME_NAME_MAX + 64];
    if (n >= TRI_FRAME_HDR) {
        tri_frame_hdr h;
        tri_frame_get_hdr(d, &h);
        CHECK(h.length == tri_frame_peek_length(d));
        const char *bad = tri_frame_check_hdr(&h);
        CHECK(!bad || *bad);
        CHECK(tri_frame_type_name(h.type) != NULL);
        tri_frame_put_hdr(out, h.type, h.flags, h.method, h.target, h.corr, h.length - 16u);
        CHECK(memcmp(out, d, TRI_FRAME_HDR) == 0);
    }

    tri_hello hl;
    if (tri_hello_get(d, n, &hl) == 0) {
        /* version 2's 20 bytes, or version 1's 12 (no incarnation: 0) */
        CHECK((n == TRI_FRAME_HELLO_BODY || n == TRI_FRAME_HELLO_BODY_V1) &&
              hl.magic == TRI_FRAME_MAGIC);
        CHECK(n == TRI_FRAME_HELLO_BODY || hl.incarnation == 0);
        tri_hello_put(out, hl.version, hl.max_frame, hl.incarnation);
        CHECK(memcmp(out, d, n) == 0);
    }

    tri_resolve r;
    if (tri_resolve_get(d, n, &r) == 0) {
        CHECK(r.id_len >= 1 && r.id_len <= TRI_FRAME_NAME_MAX);
        CHECK(r.gateway_len >= 1 && r.gateway_len <= TRI_FRAME_NAME_MAX);
        CHECK(tri_resolve_size(r.id_len, r.gateway_len) == n);
        CHECK(r.id >= (const char *)d && r.id + r.id_len <= (const char *)d + n);
        CHECK(r.gateway >= (const char *)d && r.gateway + r.gateway_len <= (const char *)d + n);
        CHECK(n <= sizeof out);
        tri_resolve_put(out, &r);
        CHECK(memcmp(out, d, n) == 0);
    }

    int32_t code;
    const char *msg;
    size_t mlen;
    if (tri_error_get(d, n, &code, &msg, &mlen) == 0) {
        CHECK(code <= 0 && tri_error_size(mlen) == n);
        CHECK(msg >= (const char *)d && msg + mlen <= (const char *)d + n);
        uint8_t *e = malloc(n ? n : 1);
        CHECK(e);
        tri_error_put(e, code, msg, mlen);
        CHECK(memcmp(e, d, n) == 0);
        free(e);
    }
    return 0;
}
