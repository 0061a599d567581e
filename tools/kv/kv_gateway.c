/* kv: the gateway's descriptor and its types' codecs, defined once for
 * both sides (kv.h declares them). */
#include "kv.h"

TR_STRUCT_DEFINE(kv_entry, KV_ENTRY_FIELDS)
TR_STRUCT_DEFINE(kv_got, KV_GOT_FIELDS)
TR_GATEWAY_DEFINE(kv, KV_METHODS)

uint64_t kv_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (!key)
        return h; /* routed like "": the shard refuses it */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}
