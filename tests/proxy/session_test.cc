// A real Session on a real libuv loop, in process: a STARTTLS listener's
// plaintext phase and an implicit-TLS session that fails its handshake, each
// ending with every handle closed (uv_loop_close() == 0) and the close
// counted once.
#include <doctest/doctest.h>
#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/server.h"
#include "proxy/session.h"
#include "tests/support/test_certs.h"

namespace imapfront {
namespace {

using testing::MakeTempDir;
using testing::MakeTestCert;
using testing::WriteFile;

// The Session's whole view of a worker.
class TestHost final : public SessionHost {
 public:
  TestHost() { uv_loop_init(&loop_); }
  uv_loop_t* loop() override { return &loop_; }
  std::span<uint8_t> read_buffer() override { return read_; }
  std::span<uint8_t> plain_buffer() override { return plain_; }
  WorkerStats& stats() override { return stats_; }
  ConnectionCounts& counts() override { return counts_; }
  AuthThrottle& auth_throttle() override { return throttle_; }
  DeadlineQueue& deadlines() override { return deadlines_; }
  Resolver& resolver() override { return resolver_; }
  SessionCounters* RouteCounters(const std::string& route) override { return &routes_[route]; }
  void Attach(Session*) override { ++attached; }
  void Detach(Session*) override { ++detached; }

  int attached = 0;
  int detached = 0;
  WorkerStats stats_;

 private:
  uv_loop_t loop_{};
  uint8_t read_[65536];
  uint8_t plain_[65536];
  ConnectionCounts counts_;
  AuthThrottle throttle_;
  std::map<std::string, SessionCounters> routes_;
  Resolver resolver_{&loop_};
  DeadlineQueue deadlines_{&loop_, &Session::OnDeadline};
};

// One client connection on the same loop: sends |request|, reads until the
// server closes.
struct Client {
  uv_tcp_t tcp{};
  uv_connect_t connect{};
  uv_write_t write{};
  std::string request;
  std::string received;
  bool closed = false;
};

struct Harness {
  TestHost host;
  Runtime runtime;
  const ListenerConfig* listener = nullptr;
  uv_tcp_t server{};
  uv_timer_t watchdog{};
  Client client;
  bool timed_out = false;

  explicit Harness(const std::string& mode) {
    const std::string dir = MakeTempDir();
    const testing::TestCert cert = MakeTestCert(dir, "srv", {"localhost"});
    const std::string path = dir + "/imapfront.json";
    WriteFile(path, R"({"stats": {"listen": null},
      "tls": {"certificates": [{"cert": ")" +
                        cert.cert_path + R"(", "key": ")" + cert.key_path + R"("}]},
      "listeners": [{"name": "l", "listen": "127.0.0.1:1", "mode": ")" +
                        mode + R"("}],
      "routes": [{"name": "r", "backends": ["127.0.0.1:1"]}]})");
    std::vector<std::string> errors;
    runtime = LoadRuntime(path, &errors);
    REQUIRE(errors.empty());
    REQUIRE(runtime.config);
    listener = runtime.config->FindListener("l");
    REQUIRE(listener);
  }

  // Runs one session to its end; returns uv_loop_close()'s result.
  int Run(std::string request) {
    uv_loop_t* loop = host.loop();
    client.request = std::move(request);
    uv_tcp_init(loop, &server);
    server.data = this;
    sockaddr_in any{};
    uv_ip4_addr("127.0.0.1", 0, &any);
    REQUIRE(uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&any), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 8, &OnConnection) == 0);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len);

    uv_timer_init(loop, &watchdog);
    watchdog.data = this;
    uv_timer_start(
        &watchdog,
        [](uv_timer_t* t) {
          static_cast<Harness*>(t->data)->timed_out = true;
          uv_stop(t->loop);
        },
        10000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));

    uv_tcp_init(loop, &client.tcp);
    client.tcp.data = this;
    client.connect.data = this;
    uv_tcp_connect(&client.connect, &client.tcp, reinterpret_cast<const sockaddr*>(&bound),
                   &OnConnected);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    host.deadlines().Close();
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop);
  }

  static void OnConnection(uv_stream_t* server, int status) {
    auto* h = static_cast<Harness*>(server->data);
    REQUIRE(status == 0);
    auto* session = new Session(&h->host, std::make_shared<const Runtime>(h->runtime), h->listener);
    REQUIRE(uv_accept(server, session->client_stream()) == 0);
    session->Start();
    // One session is all this test serves.
    uv_close(reinterpret_cast<uv_handle_t*>(server), nullptr);
  }

  static void OnConnected(uv_connect_t* req, int status) {
    auto* h = static_cast<Harness*>(req->data);
    REQUIRE(status == 0);
    uv_buf_t buf =
        uv_buf_init(h->client.request.data(), static_cast<unsigned>(h->client.request.size()));
    h->client.write.data = h;
    uv_write(&h->client.write, reinterpret_cast<uv_stream_t*>(&h->client.tcp), &buf, 1,
             [](uv_write_t*, int) {});
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&h->client.tcp),
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          static char storage[4096];
          *b = uv_buf_init(storage, sizeof(storage));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* self = static_cast<Harness*>(s->data);
          if (n > 0) {
            self->client.received.append(b->base, static_cast<size_t>(n));
          } else if (n < 0) {
            self->client.closed = true;
            uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
          }
        });
  }

  uint64_t Closed(CloseReason r) const {
    return host.stats_.sessions.closed[static_cast<size_t>(r)].Get();
  }
};

TEST_CASE("a session on a real loop: STARTTLS phase to LOGOUT, every handle closed") {
  Harness h("starttls");
  const int loop_close = h.Run("a NOOP\r\nb LOGOUT\r\nc NOOP\r\n");
  CHECK_FALSE(h.timed_out);
  CHECK(loop_close == 0);
  CHECK(h.client.closed);
  CHECK(h.client.received ==
        "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imapfront ready\r\n"
        "a OK NOOP completed\r\n"
        "* BYE Logging out\r\nb OK LOGOUT completed\r\n");
  CHECK(h.host.attached == 1);
  CHECK(h.host.detached == 1);
  CHECK(h.host.stats_.sessions.accepted.Get() == 1);
  CHECK(h.Closed(CloseReason::kLogout) == 1);
}

TEST_CASE("a session on a real loop: a failed TLS handshake, every handle closed") {
  Harness h("implicit_tls");
  const int loop_close = h.Run("this is not a TLS ClientHello\r\n");
  CHECK_FALSE(h.timed_out);
  CHECK(loop_close == 0);
  CHECK(h.client.closed);
  CHECK(h.host.detached == 1);
  CHECK(h.Closed(CloseReason::kTlsError) == 1);
  CHECK(h.host.stats_.counters[static_cast<size_t>(Counter::kTlsHandshakeFailures)].Get() == 1);
}

}  // namespace
}  // namespace imapfront
