// A C++17 consumer of the installed troupe: every public header through
// the umbrella, an actor that checks a string's every byte, the version
// and the error names, and (rpc.cpp) the RPC macros, all from C++.
#include <troupe/troupe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

const std::string payload = "troupe from C++: " + std::string(1000, 'x') + "!";
std::atomic<int> verdict{0}; // 1 ok, -1 wrong bytes

void check(tr_actor *self, void *, tr_msg *m)
{
    bool same = m->size == payload.size() &&
                std::memcmp(tr_msg_data(m), payload.data(), payload.size()) == 0;
    tr_msg_free(m);
    verdict.store(same ? 1 : -1, std::memory_order_release); // read by main's acquire load
    tr_actor_stop(self);
}

} // namespace

int rpc_roundtrip(tr_service *svc); // rpc.cpp

int main()
{
    if (tr_version() != TROUPE_VERSION_HEX) {
        std::fprintf(stderr, "library %s, headers %s\n", tr_version_string(), TROUPE_VERSION_STRING);
        return 1;
    }
    if (std::string(tr_errname(TR_ETIMEDOUT)) != "TR_ETIMEDOUT")
        return 1;
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc = nullptr;
    if (int rv = tr_service_create(&cfg, &svc)) {
        std::fprintf(stderr, "tr_service_create: %s\n", tr_strerror(rv));
        return 1;
    }
    tr_actor_opts opts{};
    opts.behavior = check;
    tr_actor *a = nullptr;
    if (tr_spawn(svc, &opts, &a))
        return 1;
    tr_msg *m = tr_msg_new(7, payload.size());
    std::memcpy(tr_msg_data(m), payload.data(), payload.size());
    if (tr_send(a, m)) {
        tr_msg_free(m);
        return 1;
    }
    for (int i = 0; i < 1000 && verdict.load(std::memory_order_acquire) == 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    tr_actor_release(a);
    int rpc = rpc_roundtrip(svc);
    tr_service_destroy(svc);
    if (rpc) {
        std::fprintf(stderr, "the RPC round trips from C++ failed\n");
        return 1;
    }
    int v = verdict.load(std::memory_order_acquire);
    std::printf("troupe %s from C++17: %s\n", tr_version_string(), v == 1 ? "ok" : "FAILED");
    return v == 1 ? 0 : 1;
}
