// What the end-to-end tests share: a scripted IMAP backend (MiniImap), the
// strings imapfront and that backend say, and helpers that read stats, the
// access log and plaintext sockets. Every wait is bounded.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/harness.h"

namespace imapfront::testing {

using Json = nlohmann::json;

inline const std::string kGreeting = "* OK [CAPABILITY IMAP4rev1 LITERAL+] test backend ready\r\n";
inline const std::string kTooMany = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n";
inline const std::string kStartTlsGreeting =
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imapfront ready\r\n";

// "127.0.0.1:|port|", as routes[].backends lists it.
std::string BackendAddress(uint16_t port);

// A config tweak: routes[0] serves from a port where nothing listens.
void UnreachableBackend(Json& config);

// A small IMAP server: greets, answers '+' to every synchronizing literal,
// "TAG OK" to every complete command, and BYE + close to LOGOUT. It reads
// commands exactly as the transcript holds them, so it also checks framing.
void MiniImap(BackendConnection& c);
// The same, for a stream whose first |from| bytes are not IMAP (a PROXY
// header); |greet|: false when the caller greeted already.
void MiniImapFrom(BackendConnection& c, size_t from, bool greet = true);

std::string Sha256Hex(std::string_view data);

// Stats once |accepted| connections have been accepted and every session
// has ended (bounded wait), with the invariant checked.
Json QuietStats(Proxy& proxy, uint64_t accepted = 1);

// Opens a session and waits for the backend's greeting through it.
std::unique_ptr<TlsClient> Greeted(uint16_t port, const std::string& sni = "");

// The access log's lines, parsed.
std::vector<Json> ReadJsonLines(const std::string& path);

// A config with the implicit-TLS listener and a STARTTLS one on |plain_port|.
Json WithStartTls(Json config, uint16_t plain_port);

// Reads plaintext from |s| until |needle| shows up (bounded).
bool ReadPlainUntil(Socket& s, std::string* got, std::string_view needle);

struct E2eOptions {
  // The backend behind routes[0] ("default"); every byte it receives is kept.
  ScriptedBackend::Script backend = MiniImap;
  // Changes the config before imapfront starts.
  std::function<void(Json& config)> config = nullptr;
  // log.access_log = E2e::access_log (a file in the test's directory).
  bool access_log = false;
  // A STARTTLS listener "imap" on E2e::plain_port as well.
  bool starttls = false;
  // Environment variables for imapfront.
  Proxy::Environment env = {};
};

// One end-to-end setup: a scripted backend, imapfront in front of it (the
// TestSetup config: one implicit-TLS listener, one route, two workers), and
// TLS clients on demand. A typical case:
//
//   E2e t;
//   auto client = t.Greeted();  // connected, handshake done, greeting read
//   REQUIRE(client->Send("a1 LOGOUT\r\n"));
//   ...
//   auto stats = t.QuietStats();
//
// With a config change: E2e t([](Json& c) { c["limits"] = {{"idle_timeout", 0.4}}; });
// With another backend: E2e t([](BackendConnection& c) { ... });
//
// At the end, unless the case read QuietStats itself or stopped imapfront,
// the destructor waits (bounded) until no session is active and checks the
// stats invariant; then imapfront must exit 0 on SIGTERM (Proxy's check).
class E2e {
 public:
  using ConfigTweak = std::function<void(Json& config)>;

  E2e() : E2e(E2eOptions{}) {}
  explicit E2e(ConfigTweak tweak) : E2e(E2eOptions{.config = std::move(tweak)}) {}
  explicit E2e(ScriptedBackend::Script script, ConfigTweak tweak = {})
      : E2e(E2eOptions{.backend = std::move(script), .config = std::move(tweak)}) {}
  explicit E2e(E2eOptions options);
  ~E2e();
  E2e(const E2e&) = delete;
  E2e& operator=(const E2e&) = delete;

  uint16_t port() const { return setup.port; }

  // A TLS client connected to the implicit-TLS listener, before its handshake.
  std::unique_ptr<TlsClient> Client(const std::string& sni = "",
                                    uint16_t max_version = TLS1_3_VERSION);
  // The same, handshake done (REQUIREd).
  std::unique_ptr<TlsClient> Handshaken(const std::string& sni = "",
                                        uint16_t max_version = TLS1_3_VERSION);
  // The same, and the backend's kGreeting read through it (REQUIREd).
  std::unique_ptr<TlsClient> Greeted(const std::string& sni = "");

  // testing::QuietStats on this imapfront; the destructor then checks no more.
  Json QuietStats(uint64_t accepted = 1);

  // Declared in construction order: the backend outlives imapfront.
  ScriptedBackend backend;
  TestSetup setup;
  const uint16_t plain_port;     // 0 unless options.starttls
  const std::string access_log;  // empty unless options.access_log
  Proxy proxy;

 private:
  Json Config(const E2eOptions& options) const;

  bool stats_checked_ = false;
};

}  // namespace imapfront::testing
