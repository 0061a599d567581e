/* The frame codec (frame.h): headers, bodies, the gateway fingerprint. */
#include "remote/frame.h"

#include <string.h>

#include "troupe/error.h"

const char *tri_frame_check_hdr(const tri_frame_hdr *h)
{
    if (h->length < TRI_FRAME_HDR - 4)
        return "declared length shorter than a frame header";
    if (h->type == 0 || h->type >= TRI_F_TYPE_END_ ||
        (h->type > TRI_F_CREDIT && h->type < TRI_F_WATCH))
        return "unknown frame type";
    if (h->flags & ~TRI_FF_KNOWN)
        return "unknown flag bits";
    if ((h->flags & TRI_FF_TOKEN) && h->type != TRI_F_TELL && h->type != TRI_F_ASK)
        return "a fencing token on a frame that is not a call";
    return NULL;
}

/* ---- HELLO ------------------------------------------------------------------------ */

void tri_hello_put(uint8_t *p, uint16_t version, uint32_t max_frame, uint64_t incarnation)
{
    tri_put_u32(p, TRI_FRAME_MAGIC);
    tri_put_u16(p + 4, version);
    tri_put_u16(p + 6, 0);
    tri_put_u32(p + 8, max_frame);
    tri_put_u64(p + 12, incarnation);
}

int tri_hello_get(const uint8_t *p, size_t len, tri_hello *out)
{
    if (len != TRI_FRAME_HELLO_BODY && len != TRI_FRAME_HELLO_BODY_V1)
        return TR_EPROTO;
    out->incarnation = len == TRI_FRAME_HELLO_BODY ? tri_get_u64(p + 12) : 0;
    out->magic = tri_get_u32(p);
    out->version = tri_get_u16(p + 4);
    out->max_frame = tri_get_u32(p + 8);
    if (out->magic != TRI_FRAME_MAGIC || tri_get_u16(p + 6) != 0)
        return TR_EPROTO;
    return 0;
}

/* ---- RESOLVE ---------------------------------------------------------------------- */

size_t tri_resolve_size(size_t id_len, size_t gateway_len) { return 2 + id_len + 2 + gateway_len + 8 + 2; }

void tri_resolve_put(uint8_t *p, const tri_resolve *r)
{
    tri_put_u16(p, (uint16_t)r->id_len);
    memcpy(p + 2, r->id, r->id_len);
    p += 2 + r->id_len;
    tri_put_u16(p, (uint16_t)r->gateway_len);
    memcpy(p + 2, r->gateway, r->gateway_len);
    p += 2 + r->gateway_len;
    tri_put_u64(p, r->fingerprint);
    tri_put_u16(p + 8, r->nmethods);
}

/* A u16-prefixed name at *p, within end. */
static int get_name(const uint8_t **p, const uint8_t *end, const char **name, size_t *len)
{
    if (end - *p < 2)
        return TR_EPROTO;
    size_t n = tri_get_u16(*p);
    if (n == 0 || n > TRI_FRAME_NAME_MAX || (size_t)(end - *p - 2) < n)
        return TR_EPROTO;
    *name = (const char *)*p + 2;
    *len = n;
    if (memchr(*name, 0, n))
        return TR_EPROTO;
    *p += 2 + n;
    return 0;
}

int tri_resolve_get(const uint8_t *p, size_t len, tri_resolve *out)
{
    const uint8_t *end = p + len;
    if (get_name(&p, end, &out->id, &out->id_len) ||
        get_name(&p, end, &out->gateway, &out->gateway_len) || end - p != 10)
        return TR_EPROTO;
    out->fingerprint = tri_get_u64(p);
    out->nmethods = tri_get_u16(p + 8);
    return 0;
}

/* ---- REPLY_ERR, CLOSE --------------------------------------------------------------- */

size_t tri_error_size(size_t msg_len) { return 8 + msg_len; }

void tri_error_put(uint8_t *p, int32_t code, const char *msg, size_t msg_len)
{
    tri_put_u32(p, (uint32_t)code);
    tri_put_u32(p + 4, (uint32_t)msg_len);
    if (msg_len)
        memcpy(p + 8, msg, msg_len);
}

int tri_error_get(const uint8_t *p, size_t len, int32_t *code, const char **msg, size_t *msg_len)
{
    if (len < 8)
        return TR_EPROTO;
    *code = (int32_t)tri_get_u32(p);
    *msg_len = tri_get_u32(p + 4);
    if (*code > 0 || *msg_len != len - 8)
        return TR_EPROTO;
    *msg = (const char *)p + 8;
    return 0;
}

/* ---- the gateway fingerprint: FNV-1a 64 over a canonical description ---------------- */

typedef struct fnv {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        f->h ^= b[i];
        f->h *= 0x100000001B3ull;
    }
}

static void fnv_str(fnv *f, const char *s)
{
    fnv_bytes(f, s, strlen(s) + 1); /* the NUL separates names */
}

static void fnv_type(fnv *f, const tr_type *t, unsigned depth)
{
    uint8_t k = (uint8_t)t->kind;
    fnv_bytes(f, &k, 1);
    if (t->kind != TR_KIND_STRUCT || !t->fields || depth > 16)
        return;
    fnv_str(f, t->name);
    size_t n = 0;
    const tr_field *fs = t->fields(&n);
    uint8_t n32[4]; /* little-endian on every host: the fingerprint is on the wire */
    tri_put_u32(n32, (uint32_t)n);
    fnv_bytes(f, n32, sizeof n32);
    for (size_t i = 0; i < n; i++) {
        fnv_str(f, fs[i].name);
        fnv_type(f, fs[i].type, depth + 1);
    }
}

uint64_t tri_gateway_fingerprint(const tr_gateway_desc *desc)
{
    fnv f = {0xCBF29CE484222325ull};
    fnv_str(&f, desc->name);
    for (size_t i = 0; i < desc->nmethods; i++) {
        const tr_method_desc *m = &desc->methods[i];
        fnv_str(&f, m->name);
        uint8_t k = (uint8_t)m->kind;
        fnv_bytes(&f, &k, 1);
        fnv_type(&f, m->arg_type, 0);
        fnv_type(&f, m->result_type, 0);
    }
    return f.h;
}

const char *tri_frame_type_name(unsigned type)
{
    static const char *const names[] = {"?",         "HELLO",     "HELLO_OK", "RESOLVE",
                                        "RESOLVE_OK", "TELL",     "ASK",      "REPLY_OK",
                                        "REPLY_ERR", "PING",      "PONG",     "CLOSE",
                                        "CREDIT",    "?",         "?",        "?",
                                        "WATCH",     "UNWATCH",   "DOWN"};
    return type > 0 && type < TRI_F_TYPE_END_ ? names[type] : "unknown";
}
