// proxy/resolver: lookups on libuv's thread pool, shared while in flight,
// cached, cancellable. Names are IP literals and the empty name, so no test
// needs DNS (the end-to-end test uses a resolver stub for real names).
#include "proxy/resolver.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <chrono>
#include <thread>
#include <vector>

namespace imapfront {
namespace {

struct Waiter {
  ResolveWait wait;
  std::vector<ResolveResult> results;

  explicit Waiter(uint16_t port) {
    wait.port = port;
    wait.data = this;
    wait.done = [](ResolveWait* w, const ResolveResult& r) {
      static_cast<Waiter*>(w->data)->results.push_back(r);
    };
  }
};

uint16_t PortOf(const ResolveResult& r) {
  return ntohs(reinterpret_cast<const sockaddr_in*>(&r.addr)->sin_port);
}

// Runs |loop| until |done| or 5 s.
template <typename F>
bool RunUntil(uv_loop_t* loop, F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  return done();
}

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
};

TEST_CASE(
    "resolver: waiters for one name share a lookup, each gets its port; then the cache "
    "answers") {
  Loop l;
  Resolver resolver(&l.loop);
  Waiter a(143), b(993), cancelled(1);
  ResolveResult now;
  CHECK_FALSE(resolver.Lookup("127.0.0.1", &a.wait, &now));
  CHECK_FALSE(resolver.Lookup("127.0.0.1", &b.wait, &now));
  CHECK_FALSE(resolver.Lookup("127.0.0.1", &cancelled.wait, &now));
  CHECK(resolver.lookups_in_flight() == 1);
  resolver.Cancel(&cancelled.wait);
  resolver.Cancel(&cancelled.wait);  // twice is harmless
  REQUIRE(RunUntil(&l.loop, [&] { return !a.results.empty() && !b.results.empty(); }));
  CHECK(cancelled.results.empty());
  REQUIRE(a.results.size() == 1);
  REQUIRE(a.results[0].ok());
  CHECK(a.results[0].addr.ss_family == AF_INET);
  CHECK(PortOf(a.results[0]) == 143);
  CHECK(PortOf(b.results[0]) == 993);
  CHECK(resolver.lookups_in_flight() == 0);

  Waiter c(110);
  ResolveResult cached;
  REQUIRE(resolver.Lookup("127.0.0.1", &c.wait, &cached));
  CHECK(cached.ok());
  CHECK(PortOf(cached) == 110);
  CHECK(resolver.lookups_in_flight() == 0);
  CHECK(c.results.empty());
}

TEST_CASE("resolver: a failure says why and is cached briefly") {
  Loop l;
  Resolver resolver(&l.loop);
  Waiter a(143);
  ResolveResult now;
  if (!resolver.Lookup("", &a.wait, &now)) {
    REQUIRE(RunUntil(&l.loop, [&] { return !a.results.empty(); }));
    now = a.results[0];
  }
  CHECK_FALSE(now.ok());
  CHECK(now.error.starts_with("cannot resolve \"\": "));
  Waiter b(143);
  ResolveResult again;
  CHECK(resolver.Lookup("", &b.wait, &again));  // from the cache, at once
  CHECK_FALSE(again.ok());
}

TEST_CASE("resolver: a cached answer expires; the next session looks the name up again") {
  Loop l;
  Resolver resolver(&l.loop, /*answer_ttl_ms=*/40, /*failure_ttl_ms=*/40);
  Waiter a(143);
  ResolveResult now;
  REQUIRE_FALSE(resolver.Lookup("127.0.0.1", &a.wait, &now));
  REQUIRE(RunUntil(&l.loop, [&] { return !a.results.empty(); }));
  Waiter b(143);
  CHECK(resolver.Lookup("127.0.0.1", &b.wait, &now));  // cached
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  uv_update_time(&l.loop);
  Waiter c(143);
  CHECK_FALSE(resolver.Lookup("127.0.0.1", &c.wait, &now));  // expired: asked again
  CHECK(resolver.lookups_in_flight() == 1);
  REQUIRE(RunUntil(&l.loop, [&] { return !c.results.empty(); }));
  CHECK(c.results[0].ok());
  // The defaults SPEC asks for: an answer kept at most 30 s.
  CHECK(Resolver::kAnswerTtlMs == 30000);
}

}  // namespace
}  // namespace imapfront
