#include "tests/e2e/e2e_fixture.h"

#include <doctest/doctest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <exception>
#include <sstream>

namespace imapfront::testing {

std::string BackendAddress(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

void UnreachableBackend(Json& config) {
  config["routes"][0]["backends"] = {BackendAddress(FreePort())};
}

void MiniImap(BackendConnection& c) {
  MiniImapFrom(c, 0);
}

void MiniImapFrom(BackendConnection& c, size_t from, bool greet) {
  if (greet) c.Send(kGreeting);
  size_t pos = from;  // start of the next unparsed line
  std::string tag;    // tag of the command in progress
  for (int step = 0; step < 100000; ++step) {
    std::string all = c.received();
    size_t eol = all.find("\r\n", pos);
    if (eol == std::string::npos) {
      if (!c.ReadBytes(all.size() + 1)) return;
      continue;
    }
    std::string line = all.substr(pos, eol - pos);
    if (tag.empty()) tag = line.substr(0, line.find(' '));
    size_t open = line.rfind('{');
    if (!line.empty() && line.back() == '}' && open != std::string::npos) {
      std::string size = line.substr(open + 1, line.size() - open - 2);
      bool plus = !size.empty() && size.back() == '+';
      if (plus) size.pop_back();
      if (!plus) c.Send("+ Ready for literal data\r\n");
      pos = eol + 2 + std::stoull(size);
      if (!c.ReadBytes(pos)) return;
      continue;
    }
    pos = eol + 2;
    bool logout = line.find(" LOGOUT") != std::string::npos && line.find(tag + " ") == 0;
    if (logout) {
      c.Send("* BYE logging out\r\n" + tag + " OK LOGOUT completed\r\n");
      c.socket().Close();
      return;
    }
    c.Send(tag + " OK done\r\n");
    tag.clear();
  }
}

std::string Sha256Hex(std::string_view data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  std::string hex;
  char buf[3];
  for (uint8_t b : digest) {
    std::snprintf(buf, sizeof(buf), "%02x", b);
    hex += buf;
  }
  return hex;
}

nlohmann::json QuietStats(Proxy& proxy, uint64_t accepted) {
  nlohmann::json stats;
  WaitFor([&] {
    stats = proxy.Stats();
    return stats["connections"]["accepted"] == accepted && stats["connections"]["active"] == 0;
  });
  CHECK(stats["connections"]["accepted"] == accepted);
  CHECK(stats["connections"]["active"] == 0);
  CheckStatsInvariant(stats);
  return stats;
}

std::unique_ptr<TlsClient> Greeted(uint16_t port, const std::string& sni) {
  auto client = std::make_unique<TlsClient>(port, sni);
  REQUIRE(client->Handshake());
  REQUIRE(client->ReadUntil(kGreeting));
  return client;
}

std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

nlohmann::json WithStartTls(nlohmann::json config, uint16_t plain_port) {
  config["listeners"].push_back({{"name", "imap"},
                                 {"listen", "127.0.0.1:" + std::to_string(plain_port)},
                                 {"mode", "starttls"}});
  return config;
}

bool ReadPlainUntil(Socket& s, std::string* got, std::string_view needle) {
  char buf[4096];
  for (int i = 0; i < 1000 && got->find(needle) == std::string::npos; ++i) {
    ssize_t n = s.ReadSome(buf, sizeof(buf), kWait);
    if (n <= 0) return false;
    got->append(buf, static_cast<size_t>(n));
  }
  return got->find(needle) != std::string::npos;
}

// ---- E2e ----------------------------------------------------------------------

E2e::E2e(E2eOptions options)
    : backend(std::move(options.backend)),
      plain_port(options.starttls ? FreePort() : 0),
      access_log(options.access_log ? setup.dir + "/access.log" : ""),
      proxy(Config(options), IMAPFRONT_BINARY, options.env) {}

Json E2e::Config(const E2eOptions& options) const {
  Json config = setup.Config({backend.port()});
  if (plain_port != 0) config = WithStartTls(std::move(config), plain_port);
  if (!access_log.empty()) config["log"]["access_log"] = access_log;
  if (options.config) options.config(config);
  return config;
}

E2e::~E2e() {
  // Nothing here may throw (no REQUIRE): a destructor, maybe during a
  // failed case's unwinding, when there is nothing left worth checking.
  if (stats_checked_ || !proxy.running() || std::uncaught_exceptions() > 0) return;
  try {
    Json stats;
    const bool quiet = WaitFor([&] {
      std::string response = HttpGet(proxy.stats_port(), "/stats");
      size_t body = response.find("\r\n\r\n");
      if (body == std::string::npos) return false;
      stats = Json::parse(response.substr(body + 4), nullptr, false);
      return stats.is_object() && stats["connections"]["active"] == 0;
    });
    CHECK_MESSAGE(quiet, "sessions still active at the end: " << stats.dump());
    if (quiet) CheckStatsInvariant(stats);
  } catch (const std::exception& e) {
    FAIL_CHECK("reading the stats at the end: " << e.what());
  }
}

std::unique_ptr<TlsClient> E2e::Client(const std::string& sni, uint16_t max_version) {
  return std::make_unique<TlsClient>(setup.port, sni, max_version);
}

std::unique_ptr<TlsClient> E2e::Handshaken(const std::string& sni, uint16_t max_version) {
  auto client = Client(sni, max_version);
  REQUIRE(client->Handshake());
  return client;
}

std::unique_ptr<TlsClient> E2e::Greeted(const std::string& sni) {
  return testing::Greeted(setup.port, sni);
}

Json E2e::QuietStats(uint64_t accepted) {
  stats_checked_ = true;
  return testing::QuietStats(proxy, accepted);
}

}  // namespace imapfront::testing
