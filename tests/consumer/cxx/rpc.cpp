// The RPC declaration macros from C++: a struct type (TR_STRUCT), a gateway
// (TR_GATEWAY), an endpoint implementing it, and asks whose answers are
// checked byte by byte (a long string and bytes, then empty ones).
#include <troupe/troupe.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#define CX_ITEM_FIELDS(F) F(tr_i64, id) F(tr_str, name) F(tr_bytes, blob)
TR_STRUCT(cx_item, CX_ITEM_FIELDS)
TR_STRUCT_DEFINE(cx_item, CX_ITEM_FIELDS)

#define CX_METHODS(M)                                                         \
    M(cx, echo, cx_item, cx_item, ASK)                                        \
    M(cx, note, tr_i64, tr_void, TELL)
TR_GATEWAY(cx, CX_METHODS)
TR_GATEWAY_DEFINE(cx, CX_METHODS)

namespace {

struct cx_state {
    int64_t notes;
};

int on_echo(tr_endpoint *, void *, const cx_item *arg, tr_reply *reply)
{
    cx_item back = *arg;
    back.id = arg->id + 1;
    return cx_echo_reply(reply, &back); // copied deep: name and blob too
}

int on_note(tr_endpoint *, void *state, const tr_i64 *n)
{
    static_cast<cx_state *>(state)->notes += *n;
    return 0;
}

bool ask_and_check(tr_gateway *gw, const std::string &name, const std::vector<unsigned char> &blob)
{
    cx_item item{};
    item.id = 41;
    item.name = name.c_str();
    item.blob.data = blob.empty() ? nullptr : blob.data();
    item.blob.len = static_cast<uint32_t>(blob.size());
    tr_future *f = nullptr;
    if (cx_echo(gw, &item, 0, &f))
        return false;
    bool ok = tr_future_get(f, 10LL * 1000 * 1000 * 1000) == 0;
    const cx_item *r = ok ? cx_echo_result(f) : nullptr;
    ok = r && r->id == 42 && r->name && name == r->name && r->blob.len == blob.size() &&
         (blob.empty() || std::memcmp(r->blob.data, blob.data(), blob.size()) == 0);
    if (!ok)
        std::fprintf(stderr, "echo of a %zu-byte name and %zu bytes came back wrong: %s\n",
                     name.size(), blob.size(), tr_future_error(f) ? tr_future_error(f) : "");
    tr_future_release(f);
    return ok;
}

} // namespace

// 0 when every answer came back whole.
int rpc_roundtrip(tr_service *svc)
{
    cx_handlers h{};
    h.echo = on_echo;
    h.note = on_note;
    tr_gateway_impl impls[] = {cx_impl(&h)};
    tr_endpoint_opts o{};
    o.id = "cx";
    o.gateways = impls;
    o.ngateways = 1;
    o.state_size = sizeof(cx_state);
    tr_endpoint *ep = nullptr;
    if (tr_endpoint_create(svc, &o, &ep) || tr_endpoint_start(ep))
        return 1;
    tr_gateway *gw = nullptr;
    if (tr_service_connect(svc, "cx", &cx_gateway, &gw))
        return 1;
    std::vector<unsigned char> blob(70000);
    for (size_t i = 0; i < blob.size(); i++)
        blob[i] = static_cast<unsigned char>(i * 31 + 7);
    bool ok = ask_and_check(gw, std::string(5000, 'n') + "-from-c++", blob) &&
              ask_and_check(gw, "", {});
    for (tr_i64 i = 1; ok && i <= 10; i++)
        ok = cx_note(gw, &i) == 0;
    tr_gateway_release(gw);
    tr_future *term = nullptr;
    ok = ok && tr_endpoint_terminate(ep) == 0 && tr_endpoint_termination(ep, &term) == 0 &&
         tr_future_get(term, 10LL * 1000 * 1000 * 1000) == 0;
    if (term)
        tr_future_release(term);
    // Terminated: the state is quiet; the ten tells came first (one sender, in order).
    ok = ok && static_cast<cx_state *>(tr_endpoint_state(ep))->notes == 55;
    tr_endpoint_release(ep);
    return ok ? 0 : 1;
}
