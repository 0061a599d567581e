// A C++ program using troupe: the public headers must compile as C++ (no
// _Atomic, no internal types) and the library link from C++. It sends
// messages carrying bytes to an actor that checks and sums every byte,
// and completes a future with a string; it exits 0 only when every byte
// came back. Bounded: every wait gives up after 10 s.
#include <troupe/troupe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>

namespace {

struct counter {
    std::atomic<uint64_t> sum;
    std::atomic<uint64_t> msgs;
    std::atomic<uint64_t> bad;
};

constexpr uint32_t kTag = 7;
constexpr int kMessages = 1000;

void behave(tr_actor *, void *state, tr_msg *m)
{
    auto *c = static_cast<counter *>(state);
    const auto *p = static_cast<const unsigned char *>(tr_msg_data(m));
    uint64_t s = 0;
    for (uint32_t i = 0; i < m->size; i++) {
        if (p[i] != static_cast<unsigned char>(i * 31 + m->size))
            c->bad.fetch_add(1);
        s += p[i];
    }
    if (m->tag != kTag)
        c->bad.fetch_add(1);
    c->sum.fetch_add(s);
    c->msgs.fetch_add(1);
    tr_msg_free(m);
}

bool wait_for(const std::atomic<uint64_t> &v, uint64_t want)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (v.load() != want) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace

int main()
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc = nullptr;
    if (tr_service_create(&cfg, &svc) != 0) {
        std::fprintf(stderr, "cxx_consumer: no service\n");
        return 1;
    }
    tr_actor_opts opts{};
    opts.behavior = behave;
    opts.state_size = sizeof(counter);
    tr_actor *a = nullptr;
    if (tr_spawn(svc, &opts, &a) != 0)
        return 1;
    new (tr_actor_state(a)) counter{}; // before the first send (actor.h)
    auto *c = static_cast<counter *>(tr_actor_state(a));

    uint64_t want = 0;
    for (int k = 0; k < kMessages; k++) {
        uint32_t n = static_cast<uint32_t>(k % 97); // empty messages too
        tr_msg *m = tr_msg_new(kTag, n);
        if (!m)
            return 1;
        auto *p = static_cast<unsigned char *>(tr_msg_data(m));
        for (uint32_t i = 0; i < n; i++) {
            p[i] = static_cast<unsigned char>(i * 31 + n);
            want += p[i];
        }
        if (tr_send(a, m) != 0)
            return 1;
    }
    bool ok = wait_for(c->msgs, kMessages) && c->sum.load() == want && c->bad.load() == 0;
    std::printf("cxx_consumer: %llu messages, sum %llu (want %llu), %llu bad\n",
                static_cast<unsigned long long>(c->msgs.load()),
                static_cast<unsigned long long>(c->sum.load()),
                static_cast<unsigned long long>(want),
                static_cast<unsigned long long>(c->bad.load()));

    tr_future *f = nullptr;
    const char *text = "from C++";
    tr_str s = text;
    if (tr_future_new(&f) != 0 || tr_future_complete(f, &tr_str__type, &s) != 0)
        return 1;
    const auto *got = static_cast<const tr_str *>(tr_future_value(f, &tr_str__type));
    ok = ok && got && *got && std::strcmp(*got, text) == 0 && *got != text;
    tr_future_release(f);

    tr_actor_release(a);
    tr_service_destroy(svc);
    std::puts(ok ? "cxx_consumer: ok" : "cxx_consumer: FAILED");
    return ok ? 0 : 1;
}
