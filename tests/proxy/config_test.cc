#include "proxy/config/config.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

namespace imapfront {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFile = "imapfront.json";

// SPEC's example, with the backends as IP literals.
constexpr const char* kSpecExample = R"({
  "workers": 0,
  "stats": { "listen": "127.0.0.1:9100" },
  "log": { "level": "info", "access_log": "-" },
  "tls": {
    "min_version": "1.2",
    "certificates": [
      { "cert": "/etc/imapfront/mail.pem", "key": "/etc/imapfront/mail.key",
        "names": ["mail.example.com"] }
    ]
  },
  "listeners": [
    { "name": "imaps", "listen": "0.0.0.0:993", "mode": "implicit_tls" },
    { "name": "imap",  "listen": "0.0.0.0:143", "mode": "starttls" }
  ],
  "routes": [
    { "name": "legacy", "sni": ["mail.example.com"], "listeners": ["imaps", "imap"],
      "backends": ["10.0.0.5:143", "10.0.0.6:143"],
      "limits": { "max_connections": 2000 } },
    { "name": "default", "backends": ["10.0.0.7:143"] }
  ],
  "limits": {
    "handshake_timeout": 10,
    "idle_timeout": 1860,
    "max_lifetime": 86400,
    "lifetime_grace": 60,
    "shutdown_grace": 30,
    "backend_connect_timeout": 5,
    "max_connections": 10000,
    "max_connections_per_ip": 0,
    "max_line_bytes": 65536,
    "max_literal_bytes": 67108864,
    "buffer_bytes": 262144
  }
})";

// The smallest valid file: only the required keys.
Json Minimal() {
  return Json::parse(R"({
    "tls": { "certificates": [ { "cert": "c.pem", "key": "k.pem" } ] },
    "listeners": [ { "name": "imaps", "listen": "127.0.0.1:9993" } ],
    "routes": [ { "name": "default", "backends": ["127.0.0.1:143"] } ]
  })");
}

ConfigResult Parse(const Json& doc) {
  return ParseConfig(doc.dump(), kFile);
}

std::string AllErrors(const ConfigResult& result) {
  std::string all;
  for (const std::string& error : result.errors) all += error + "\n";
  return all;
}

// True when |result| failed and one of its errors is exactly |expected|.
bool HasError(const ConfigResult& result, const std::string& expected) {
  return result.config == nullptr &&
         std::ranges::find(result.errors, expected) != result.errors.end();
}

#define CHECK_ERROR(result, expected) \
  CHECK_MESSAGE(HasError(result, expected), "errors were:\n" << AllErrors(result))

uint16_t Port(const SocketAddress& address) {
  if (address.addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address.addr)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address.addr)->sin6_port);
}

std::string Host(const SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* raw =
      address.addr.ss_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&address.addr)->sin_addr)
          : static_cast<const void*>(
                &reinterpret_cast<const sockaddr_in6*>(&address.addr)->sin6_addr);
  inet_ntop(address.addr.ss_family, raw, text, sizeof(text));
  return text;
}

void CheckDefaultLimits(const Limits& limits) {
  CHECK(limits.handshake_timeout == 10);
  CHECK(limits.idle_timeout == 1860);
  CHECK(limits.max_lifetime == 86400);
  CHECK(limits.lifetime_grace == 60);
  CHECK(limits.shutdown_grace == 30);
  CHECK(limits.backend_connect_timeout == 5);
  CHECK(limits.close_timeout == 5);
  CHECK(limits.max_connections == 10000);
  CHECK(limits.max_connections_per_ip == 0);
  CHECK(limits.max_line_bytes == 65536);
  CHECK(limits.max_literal_bytes == 67108864);
  CHECK(limits.buffer_bytes == 262144);
  CHECK(limits.max_login_attempts == 3);
  CHECK(limits.auth_failure_delay == 15);
  CHECK(limits.max_auth_failures_per_ip == 0);
  CHECK(limits.auth_failure_window == 300);
  CHECK(limits.login_timeout == 30);
}

TEST_CASE("config: SPEC's example parses to the values it shows") {
  const ConfigResult result = ParseConfig(kSpecExample, kFile);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  CHECK(result.errors.empty());
  const Config& config = *result.config;
  CHECK(config.path == kFile);
  CHECK(config.workers == 0);
  REQUIRE(config.stats_listen.has_value());
  CHECK(config.stats_listen->text == "127.0.0.1:9100");
  CHECK(config.log_level == LogLevel::kInfo);
  CHECK(config.access_log == "-");
  CHECK(config.tls_min_version == tls::Version::kTls12);
  REQUIRE(config.certificates.size() == 1);
  CHECK(config.certificates[0].cert == "/etc/imapfront/mail.pem");
  CHECK(config.certificates[0].key == "/etc/imapfront/mail.key");
  CHECK(config.certificates[0].names == std::vector<std::string>{"mail.example.com"});

  REQUIRE(config.listeners.size() == 2);
  CHECK(config.listeners[0].name == "imaps");
  CHECK(config.listeners[0].listen.text == "0.0.0.0:993");
  CHECK(Port(config.listeners[0].listen) == 993);
  CHECK(config.listeners[0].mode == ListenerMode::kImplicitTls);
  CHECK(config.listeners[1].name == "imap");
  CHECK(config.listeners[1].mode == ListenerMode::kStartTls);

  REQUIRE(config.routes.size() == 2);
  const RouteConfig& legacy = config.routes[0];
  CHECK(legacy.name == "legacy");
  CHECK(legacy.sni == std::vector<std::string>{"mail.example.com"});
  CHECK(legacy.listeners == std::vector<std::string>{"imaps", "imap"});
  REQUIRE(legacy.backends.size() == 2);
  CHECK(legacy.backends[0].text == "10.0.0.5:143");
  REQUIRE(legacy.backends[1].numeric.has_value());
  CHECK(Host(*legacy.backends[1].numeric) == "10.0.0.6");
  CHECK(Port(*legacy.backends[1].numeric) == 143);
  CHECK(legacy.backends[1].host == "10.0.0.6");
  CHECK(legacy.backends[1].port == 143);
  CHECK(legacy.literal_plus == LiteralPlus::kPass);
  CHECK(legacy.limits.max_connections == 2000);
  CHECK(legacy.limits.idle_timeout == 1860);

  const RouteConfig& fallback = config.routes[1];
  CHECK(fallback.name == "default");
  CHECK_FALSE(fallback.sni.has_value());
  CHECK_FALSE(fallback.listeners.has_value());
  CheckDefaultLimits(fallback.limits);
  CheckDefaultLimits(config.limits);
}

TEST_CASE("config: a minimal file gets every default") {
  const ConfigResult result = Parse(Minimal());
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  const Config& config = *result.config;
  CHECK(config.workers == 0);
  REQUIRE(config.stats_listen.has_value());
  CHECK(config.stats_listen->text == "127.0.0.1:9100");
  CHECK(Host(*config.stats_listen) == "127.0.0.1");
  CHECK(Port(*config.stats_listen) == 9100);
  CHECK(config.log_level == LogLevel::kInfo);
  CHECK(config.access_log == "-");
  CHECK(config.tls_min_version == tls::Version::kTls12);
  CHECK(config.certificates[0].names.empty());
  CHECK(config.listeners[0].mode == ListenerMode::kImplicitTls);
  REQUIRE(config.routes.size() == 1);
  CHECK(config.routes[0].literal_plus == LiteralPlus::kPass);
  CHECK_FALSE(config.routes[0].sni.has_value());
  CHECK_FALSE(config.routes[0].listeners.has_value());
  CheckDefaultLimits(config.limits);
  CheckDefaultLimits(config.routes[0].limits);
}

TEST_CASE("config: other accepted values") {
  Json doc = Minimal();
  doc["workers"] = 8;
  doc["log"] = {{"level", "debug"}, {"access_log", "/var/log/imapfront/access.log"}};
  doc["tls"]["min_version"] = "1.3";
  doc["listeners"][0] = {{"name", "v6"}, {"listen", "[::]:143"}, {"mode", "starttls"}};
  doc["routes"][0]["literal_plus"] = "emulate";
  doc["routes"][0]["sni"] = {"*.example.com", "Mail.Example.org"};
  const ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  const Config& config = *result.config;
  CHECK(config.workers == 8);
  CHECK(config.log_level == LogLevel::kDebug);
  CHECK(config.access_log == "/var/log/imapfront/access.log");
  CHECK(config.tls_min_version == tls::Version::kTls13);
  CHECK(config.listeners[0].listen.addr.ss_family == AF_INET6);
  CHECK(config.listeners[0].listen.addr_len == sizeof(sockaddr_in6));
  CHECK(Port(config.listeners[0].listen) == 143);
  CHECK(config.listeners[0].mode == ListenerMode::kStartTls);
  CHECK(config.routes[0].literal_plus == LiteralPlus::kEmulate);
}

TEST_CASE("config: tls.min_version 1.0 and 1.1 (an opt-in), tls.certificates[].ocsp") {
  for (const auto& [text, version] :
       {std::pair{"1.0", tls::Version::kTls10}, std::pair{"1.1", tls::Version::kTls11}}) {
    Json doc = Minimal();
    doc["tls"]["min_version"] = text;
    doc["tls"]["certificates"][0]["ocsp"] = "/etc/imapfront/mail.ocsp.der";
    const ConfigResult result = Parse(doc);
    REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
    CHECK(result.config->tls_min_version == version);
    CHECK(result.config->certificates[0].ocsp == "/etc/imapfront/mail.ocsp.der");
  }
  Json doc = Minimal();
  doc["tls"]["certificates"][0]["ocsp"] = "";
  CHECK_ERROR(Parse(doc), "imapfront.json: tls.certificates[0].ocsp: must not be empty");
  doc["tls"]["certificates"][0]["ocsp"] = 1;
  CHECK_ERROR(Parse(doc),
              "imapfront.json: tls.certificates[0].ocsp: must be a string, not a number");
}

TEST_CASE("config: stats.listen null disables the endpoint, {} keeps the default") {
  Json doc = Minimal();
  doc["stats"] = {{"listen", nullptr}};
  ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  CHECK_FALSE(result.config->stats_listen.has_value());

  doc["stats"] = Json::object();
  result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  REQUIRE(result.config->stats_listen.has_value());
  CHECK(result.config->stats_listen->text == "127.0.0.1:9100");
}

TEST_CASE("config: route limits are the global limits with the route's overrides") {
  // The global limits come after the routes in the file, as they may.
  Json doc = Minimal();
  doc["routes"][0]["limits"] = {{"idle_timeout", 0.25}, {"max_line_bytes", 2048}};
  doc["routes"].push_back({{"name", "plain"}, {"backends", {"10.0.0.9:143"}}});
  doc["limits"] = {{"idle_timeout", 1900}, {"max_connections", 50}, {"close_timeout", 2.5}};
  const ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  const Config& config = *result.config;
  CHECK(config.limits.idle_timeout == 1900);
  CHECK(config.limits.max_connections == 50);
  CHECK(config.limits.close_timeout == 2.5);
  CHECK(config.limits.max_connections_per_ip == 0);

  const Limits& overridden = config.routes[0].limits;
  CHECK(overridden.idle_timeout == 0.25);
  CHECK(overridden.max_line_bytes == 2048);
  CHECK(overridden.max_connections_per_ip == 0);
  CHECK(overridden.max_connections == 50);  // from the global limits
  CHECK(overridden.close_timeout == 2.5);
  CHECK(overridden.handshake_timeout == 10);  // the default

  const Limits& plain = config.routes[1].limits;
  CHECK(plain.idle_timeout == 1900);
  CHECK(plain.max_connections == 50);
  CHECK(plain.max_line_bytes == 65536);
  CHECK(plain.max_connections_per_ip == 0);
}

TEST_CASE("config: max_lifetime 0 means none and is accepted") {
  Json doc = Minimal();
  doc["limits"] = {{"max_lifetime", 0}, {"max_literal_bytes", 0}, {"max_connections", 0}};
  const ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  CHECK(result.config->limits.max_lifetime == 0);
  CHECK(result.config->limits.max_literal_bytes == 0);
}

TEST_CASE("config: comments are skipped (the shipped example has them), the rest is strict JSON") {
  std::string text = Minimal().dump(2);
  text.insert(text.find('{') + 1, "\n  // a line comment, \"quotes\" and {braces} in it\n");
  text.insert(text.rfind('}'), "  /* a block\n     comment */\n");
  const ConfigResult result = ParseConfig(text, kFile);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  CHECK(result.config->routes.size() == 1);
  // Still JSON: no trailing commas, no # comments.
  CHECK(ParseConfig("{\"workers\": 1,}", kFile).errors.at(0).find("syntax error") !=
        std::string::npos);
  CHECK(ParseConfig("# a comment\n{}", kFile).errors.at(0).find("syntax error") !=
        std::string::npos);
}

TEST_CASE("config error: JSON syntax error gives line and column") {
  const ConfigResult result = ParseConfig("{\n  \"workers\": 0,\n  x\n}\n", kFile);
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].starts_with("imapfront.json: line 3 column 3: syntax error"));
  CHECK(result.errors[0].find("[json.exception") == std::string::npos);

  const ConfigResult truncated = ParseConfig("{\n \"routes\": [1,\n", kFile);
  REQUIRE(truncated.errors.size() == 1);
  CHECK(truncated.errors[0].starts_with("imapfront.json: line 3 column 1: "));
  CHECK(truncated.errors[0].find("unexpected end of input") != std::string::npos);

  const ConfigResult empty = ParseConfig("", kFile);
  REQUIRE(empty.errors.size() == 1);
  CHECK(empty.errors[0].starts_with("imapfront.json: line 1 column 1: "));
}

TEST_CASE("config error: the document must be an object") {
  const ConfigResult result = ParseConfig("[1, 2]", kFile);
  CHECK_ERROR(result, "imapfront.json: the configuration must be a JSON object, not an array");
}

TEST_CASE("config error: unknown keys at every level, with a suggestion for typos") {
  Json doc = Minimal();
  doc["wrokers"] = 1;
  doc["tls"]["ciphers"] = "HIGH";
  doc["listeners"][0]["backlog"] = 10;
  doc["routes"][0]["limits"] = {{"idle_timout", 5}};
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: wrokers: unknown key (did you mean \"workers\"?)");
  CHECK_ERROR(result, "imapfront.json: tls.ciphers: unknown key");
  CHECK_ERROR(result, "imapfront.json: listeners[0].backlog: unknown key");
  CHECK_ERROR(result,
              "imapfront.json: routes[0].limits.idle_timout: unknown key (did you mean "
              "\"idle_timeout\"?)");
  CHECK(result.errors.size() == 4);
}

TEST_CASE("config error: duplicate JSON keys") {
  const ConfigResult result = ParseConfig(
      R"({"workers": 1, "tls": {"certificates": [{"cert": "a", "key": "b", "cert": "c"}]},
          "listeners": [{"name": "a", "listen": "127.0.0.1:1"}],
          "routes": [{"name": "r", "backends": ["127.0.0.1:2"]}], "workers": 2})",
      kFile);
  CHECK_ERROR(result, "imapfront.json: tls.certificates[0].cert: duplicate key");
  CHECK_ERROR(result, "imapfront.json: workers: duplicate key");
}

TEST_CASE("config error: wrong types") {
  Json doc = Minimal();
  doc["workers"] = "4";
  doc["log"] = "info";
  doc["tls"]["certificates"][0]["names"] = "mail.example.com";
  doc["listeners"][0]["name"] = 7;
  doc["routes"][0]["backends"] = "127.0.0.1:143";
  doc["limits"] = {{"idle_timeout", "30m"}, {"max_line_bytes", 8192.5}, {"buffer_bytes", true}};
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: workers: must be an integer, not a string");
  CHECK_ERROR(result, "imapfront.json: log: must be an object, not a string");
  CHECK_ERROR(result, "imapfront.json: tls.certificates[0].names: must be an array, not a string");
  CHECK_ERROR(result, "imapfront.json: listeners[0].name: must be a string, not a number");
  CHECK_ERROR(result, "imapfront.json: routes[0].backends: must be an array, not a string");
  CHECK_ERROR(result,
              "imapfront.json: limits.idle_timeout: must be a number of seconds, not a string");
  CHECK_ERROR(result, "imapfront.json: limits.max_line_bytes: must be an integer, not 8192.5");
  CHECK_ERROR(result, "imapfront.json: limits.buffer_bytes: must be an integer, not a boolean");
}

TEST_CASE("config error: missing required keys") {
  ConfigResult result = ParseConfig("{}", kFile);
  CHECK_ERROR(result, "imapfront.json: listeners: missing required key");
  CHECK_ERROR(result, "imapfront.json: routes: missing required key");
  CHECK_ERROR(result, "imapfront.json: tls: missing required key (it needs \"certificates\")");

  Json doc = Minimal();
  doc["tls"] = Json::object();
  doc["listeners"][0].erase("listen");
  doc["routes"][0].erase("backends");
  doc["routes"].push_back({{"backends", {"127.0.0.1:1"}}});
  result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: tls.certificates: missing required key");
  CHECK_ERROR(result, "imapfront.json: listeners[0].listen: missing required key");
  CHECK_ERROR(result, "imapfront.json: routes[0].backends: missing required key");
  CHECK_ERROR(result, "imapfront.json: routes[1].name: missing required key");

  doc = Minimal();
  doc["tls"]["certificates"][0] = {{"names", Json::array()}};
  doc["listeners"] = Json::array();
  doc["routes"][0]["backends"] = Json::array();
  result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: tls.certificates[0].cert: missing required key");
  CHECK_ERROR(result, "imapfront.json: tls.certificates[0].key: missing required key");
  CHECK_ERROR(result, "imapfront.json: listeners: must not be empty");
  CHECK_ERROR(result, "imapfront.json: routes[0].backends: must not be empty");
}

TEST_CASE("config error: port out of range, in SPEC's exact form") {
  Json doc = Minimal();
  doc["routes"].push_back({{"name", "second"}, {"backends", {"10.0.0.5:70000"}}});
  const ConfigResult result = Parse(doc);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0] ==
        "imapfront.json: routes[1].backends[0]: port 70000 out of range 1..65535");
  CHECK(result.config == nullptr);
}

TEST_CASE("config error: listen addresses") {
  Json doc = Minimal();
  doc["listeners"] = {{{"name", "a"}, {"listen", "mail.example.com:993"}},
                      {{"name", "b"}, {"listen", "127.0.0.1:0"}},
                      {{"name", "c"}, {"listen", "::1:993"}},
                      {{"name", "d"}, {"listen", "127.0.0.1"}},
                      {{"name", "e"}, {"listen", ":993"}},
                      {{"name", "f"}, {"listen", "127.0.0.1:9100"}}};
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: listeners[0].listen: \"mail.example.com\" is not an IP address "
              "(host names are not allowed here)");
  CHECK_ERROR(result, "imapfront.json: listeners[1].listen: port 0 out of range 1..65535");
  CHECK_ERROR(result,
              "imapfront.json: listeners[2].listen: IPv6 addresses need brackets, as in "
              "\"[::1]:993\"");
  CHECK_ERROR(result,
              "imapfront.json: listeners[3].listen: \"127.0.0.1\" has no port (expected "
              "host:port)");
  CHECK_ERROR(result,
              "imapfront.json: listeners[4].listen: missing host in \":993\" (for all addresses "
              "use 0.0.0.0 or [::])");
  CHECK_ERROR(result,
              "imapfront.json: listeners[5].listen: address 127.0.0.1:9100 is already used by "
              "stats.listen");
}

TEST_CASE("config error: bad enumerations") {
  Json doc = Minimal();
  doc["tls"]["min_version"] = "1.4";
  doc["log"] = {{"level", "verbose"}};
  doc["listeners"][0]["mode"] = "tls";
  doc["routes"][0]["literal_plus"] = "yes";
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: tls.min_version: \"1.4\" is not \"1.0\", \"1.1\", \"1.2\" or "
              "\"1.3\"");
  CHECK_ERROR(result,
              "imapfront.json: log.level: \"verbose\" is not \"debug\", \"info\", \"warn\" or "
              "\"error\"");
  CHECK_ERROR(result,
              "imapfront.json: listeners[0].mode: \"tls\" is not \"implicit_tls\" or \"starttls\"");
  CHECK_ERROR(result,
              "imapfront.json: routes[0].literal_plus: \"yes\" is not \"pass\" or \"emulate\"");
}

TEST_CASE("config error: duplicate listener names and addresses, duplicate route names") {
  Json doc = Minimal();
  doc["listeners"].push_back({{"name", "imaps"}, {"listen", "127.0.0.1:9994"}});
  doc["listeners"].push_back({{"name", "other"}, {"listen", "127.0.0.1:9993"}});
  doc["routes"].push_back({{"name", "default"}, {"backends", {"127.0.0.1:143"}}});
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: listeners[1].name: duplicate listener name \"imaps\"");
  CHECK_ERROR(result,
              "imapfront.json: listeners[2].listen: address 127.0.0.1:9993 is already used by "
              "listener \"imaps\"");
  CHECK_ERROR(result, "imapfront.json: routes[1].name: duplicate route name \"default\"");
}

TEST_CASE("config error: route refers to an unknown listener, empty sni and listeners") {
  Json doc = Minimal();
  doc["routes"][0]["listeners"] = {"imaps", "pop3s"};
  doc["routes"].push_back({{"name", "b"},
                           {"backends", {"127.0.0.1:1"}},
                           {"sni", Json::array()},
                           {"listeners", Json::array()}});
  doc["routes"].push_back({{"name", "c"}, {"backends", {"127.0.0.1:1"}}, {"sni", {"a.*.com"}}});
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: routes[0].listeners[1]: no listener is named \"pop3s\"");
  CHECK_ERROR(result, "imapfront.json: routes[1].sni: must not be empty");
  CHECK_ERROR(result, "imapfront.json: routes[1].listeners: must not be empty");
  CHECK_ERROR(result,
              "imapfront.json: routes[2].sni[0]: \"a.*.com\" is not a host name or \"*.domain\" "
              "wildcard");
  CHECK(result.errors.size() == 4);
}

TEST_CASE("config error: bad durations, sizes and counts") {
  Json doc = Minimal();
  doc["workers"] = 5000;
  doc["limits"] = {{"handshake_timeout", 0},       {"idle_timeout", -1},   {"max_lifetime", 1e12},
                   {"backend_connect_timeout", 0}, {"close_timeout", 0},   {"max_line_bytes", 512},
                   {"buffer_bytes", 4096},         {"max_connections", -5}};
  const ConfigResult result = Parse(doc);
  CHECK_ERROR(result, "imapfront.json: workers: must be at most 1024");
  CHECK_ERROR(result, "imapfront.json: limits.handshake_timeout: must be greater than 0");
  CHECK_ERROR(result, "imapfront.json: limits.idle_timeout: must not be negative");
  CHECK_ERROR(result, "imapfront.json: limits.max_lifetime: must be at most 1000000000 seconds");
  CHECK_ERROR(result, "imapfront.json: limits.backend_connect_timeout: must be greater than 0");
  CHECK_ERROR(result, "imapfront.json: limits.close_timeout: must be greater than 0");
  CHECK_ERROR(result,
              "imapfront.json: limits.max_line_bytes: must be at least 1024 (IMAP command lines "
              "can be long: UID sets, SEARCH criteria)");
  CHECK_ERROR(result,
              "imapfront.json: limits.buffer_bytes: must be at least 16384 (a whole TLS record "
              "must fit)");
  CHECK_ERROR(result, "imapfront.json: limits.max_connections: must not be negative");
  CHECK(result.errors.size() == 9);
}

TEST_CASE("config error: a route may not change max_connections_per_ip") {
  // Counted at accept, before any route is known: process-wide only.
  Json doc = Minimal();
  doc["routes"].push_back({{"name", "other"}, {"backends", {"10.0.0.9:143"}}});
  doc["routes"][1]["limits"] = {{"max_connections_per_ip", 3}};
  ConfigResult result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: routes[1].limits.max_connections_per_ip: applies to the whole "
              "process; set it in the top-level limits");
  CHECK_MESSAGE(result.errors.size() == 1, AllErrors(result));

  // Reported together with the file's other errors.
  doc["workers"] = -1;
  result = Parse(doc);
  CHECK_MESSAGE(result.errors.size() == 2, AllErrors(result));

  // The top-level value repeated is no change.
  doc["workers"] = 0;
  doc["limits"] = {{"max_connections_per_ip", 3}};
  result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  CHECK(result.config->routes[1].limits.max_connections_per_ip == 3);
}

TEST_CASE("config: backend host names are kept for connect time, not resolved at load") {
  Json doc = Minimal();
  doc["routes"][0]["backends"] = {"127.0.0.1:143", "no-such-host.invalid:143", "[::1]:144"};
  const ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  const auto& backends = result.config->routes[0].backends;
  REQUIRE(backends.size() == 3);
  CHECK(backends[0].numeric.has_value());
  CHECK_FALSE(backends[1].numeric.has_value());
  CHECK(backends[1].host == "no-such-host.invalid");
  CHECK(backends[1].port == 143);
  CHECK(backends[1].text == "no-such-host.invalid:143");
  REQUIRE(backends[2].numeric.has_value());
  CHECK(backends[2].numeric->addr.ss_family == AF_INET6);
  std::string error;
  CHECK_FALSE(ResolveNow(backends[1], &error).has_value());
  CHECK(error.starts_with("cannot resolve \"no-such-host.invalid\": "));
  CHECK(ResolveNow(backends[0], &error).has_value());

  doc["routes"][0]["backends"] = {"[mail.example]:143", "host:"};
  const ConfigResult bad = Parse(doc);
  CHECK_ERROR(bad,
              "imapfront.json: routes[0].backends[0]: \"mail.example\" is not an IPv6 address");
  CHECK_ERROR(bad, "imapfront.json: routes[0].backends[1]: port \"\" is not a number");
}

TEST_CASE("config: ChangedSections names what a reload changes") {
  Json doc = Minimal();
  doc["routes"].push_back({{"name", "second"}, {"backends", {"127.0.0.1:144"}}});
  const ConfigResult a = Parse(doc);
  REQUIRE_MESSAGE(a.config != nullptr, AllErrors(a));
  CHECK(ChangedSections(*a.config, *a.config).empty());
  doc["routes"][1]["backends"] = {"127.0.0.1:145"};
  doc["limits"] = {{"idle_timeout", 60}};
  const ConfigResult b = Parse(doc);
  REQUIRE_MESSAGE(b.config != nullptr, AllErrors(b));
  CHECK(ChangedSections(*a.config, *b.config) ==
        std::vector<std::string>{"limits", "routes.second"});
}

TEST_CASE("config error: a backend listed twice in one route (stats would merge the two)") {
  Json doc = Minimal();
  doc["routes"][0]["backends"] = {"mail.example.com:143", "10.0.0.5:143", "MAIL.example.com:143",
                                  "10.0.0.5:1143"};
  const ConfigResult result = Parse(doc);
  CHECK(result.config == nullptr);
  CHECK_MESSAGE(result.errors.size() == 1, AllErrors(result));
  CHECK_ERROR(result,
              "imapfront.json: routes[0].backends[2]: \"MAIL.example.com:143\" is listed twice "
              "in this route (also \"mail.example.com:143\")");
}

TEST_CASE("config error: every error is reported, not only the first") {
  Json doc = Minimal();
  doc["workers"] = -1;
  doc["tls"]["min_version"] = "1.0.1";
  doc["listeners"][0]["listen"] = "127.0.0.1:99999";
  doc["routes"][0]["backends"] = {"127.0.0.1:0", "[::1]:70000"};
  doc["limits"] = {{"idle_timeout", 0}};
  const ConfigResult result = Parse(doc);
  CHECK(result.config == nullptr);
  CHECK_MESSAGE(result.errors.size() == 6, AllErrors(result));
  for (const std::string& error : result.errors) CHECK(error.starts_with("imapfront.json: "));
  CHECK_ERROR(result, "imapfront.json: routes[0].backends[1]: port 70000 out of range 1..65535");
}

TEST_CASE("LoadConfig reads the file and names it in errors") {
  char path[] = "/tmp/imapfront_config_test_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string text = Minimal().dump(2);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  const ConfigResult good = LoadConfig(path);
  REQUIRE_MESSAGE(good.config != nullptr, AllErrors(good));
  CHECK(good.config->path == path);
  CHECK(good.config->routes.size() == 1);
  unlink(path);

  const ConfigResult missing = LoadConfig(path);
  CHECK(missing.config == nullptr);
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0] == std::string(path) + ": cannot read: No such file or directory");

  const ConfigResult directory = LoadConfig("/tmp");
  REQUIRE(directory.errors.size() == 1);
  CHECK(directory.errors[0] == "/tmp: cannot read: Is a directory");
}

TEST_CASE("ParseSocketAddress") {
  std::string error;
  SUBCASE("IPv4 literal") {
    const auto address = ParseSocketAddress("10.1.2.3:143", &error);
    REQUIRE(address.has_value());
    CHECK(address->text == "10.1.2.3:143");
    CHECK(address->addr.ss_family == AF_INET);
    CHECK(address->addr_len == sizeof(sockaddr_in));
    CHECK(reinterpret_cast<const sockaddr_in*>(address->sa())->sin_port == htons(143));
    CHECK(Host(*address) == "10.1.2.3");
  }
  SUBCASE("IPv6 literal in brackets") {
    const auto address = ParseSocketAddress("[2001:db8::1]:993", &error);
    REQUIRE(address.has_value());
    CHECK(address->addr.ss_family == AF_INET6);
    CHECK(address->addr_len == sizeof(sockaddr_in6));
    CHECK(reinterpret_cast<const sockaddr_in6*>(address->sa())->sin6_port == htons(993));
    CHECK(Host(*address) == "2001:db8::1");
  }
  SUBCASE("host names: refused for listeners, resolved for backends when asked") {
    CHECK_FALSE(ParseSocketAddress("localhost:143", &error).has_value());
    CHECK(error == "\"localhost\" is not an IP address (host names are not allowed here)");
    addrinfo* found = nullptr;
    if (getaddrinfo("localhost", nullptr, nullptr, &found) != 0) {
      // A bare chroot may have no /etc/hosts; then no name resolves.
      MESSAGE("skipped: \"localhost\" does not resolve on this machine");
      return;
    }
    freeaddrinfo(found);
    const auto backend = ParseBackendAddress("localhost:143", &error);
    REQUIRE(backend.has_value());
    CHECK_FALSE(backend->numeric.has_value());
    const auto address = ResolveNow(*backend, &error);
    REQUIRE(address.has_value());
    CHECK(address->text == "localhost:143");
    CHECK((address->addr.ss_family == AF_INET || address->addr.ss_family == AF_INET6));
    CHECK(Port(*address) == 143);
  }
  SUBCASE("malformed") {
    CHECK_FALSE(ParseSocketAddress("[::1]993", &error).has_value());
    CHECK(error == "missing \":port\" after \"]\"");
    CHECK_FALSE(ParseSocketAddress("[::1:993", &error).has_value());
    CHECK_FALSE(ParseSocketAddress("[10.0.0.1]:993", &error).has_value());
    CHECK(error == "\"10.0.0.1\" is not an IPv6 address");
    CHECK_FALSE(ParseSocketAddress("10.0.0.1:-1", &error).has_value());
    CHECK(error == "port \"-1\" is not a number");
    CHECK_FALSE(ParseSocketAddress("10.0.0.1:", &error).has_value());
    CHECK_FALSE(ParseSocketAddress("10.0.0.1:99999999999999999999999", &error).has_value());
    CHECK(error == "port 99999999999999999999999 out of range 1..65535");
    CHECK(ParseSocketAddress("10.0.0.1:65535", &error).has_value());
    CHECK(ParseSocketAddress("10.0.0.1:1", &error).has_value());
  }
}

// Routes for SelectRoute: SNI-specific first, a catch-all last.
std::shared_ptr<const Config> RoutingConfig() {
  Json doc = Minimal();
  doc["listeners"] = {{{"name", "imaps"}, {"listen", "127.0.0.1:993"}},
                      {{"name", "imap"}, {"listen", "127.0.0.1:143"}, {"mode", "starttls"}}};
  doc["routes"] = {
      {{"name", "exact"}, {"sni", {"mail.example.com"}}, {"backends", {"10.0.0.1:143"}}},
      {{"name", "wild"}, {"sni", {"*.example.org"}}, {"backends", {"10.0.0.2:143"}}},
      {{"name", "starttls-only"}, {"listeners", {"imap"}}, {"backends", {"10.0.0.3:143"}}},
      {{"name", "any"}, {"listeners", {"imaps"}}, {"backends", {"10.0.0.4:143"}}},
  };
  const ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  return result.config;
}

std::string Selected(const Config& config, std::string_view listener, std::string_view sni) {
  const RouteConfig* route = config.SelectRoute(listener, sni);
  return route == nullptr ? "(none)" : route->name;
}

TEST_CASE("Config::SelectRoute") {
  const std::shared_ptr<const Config> config = RoutingConfig();
  SUBCASE("exact SNI, case-insensitive") {
    CHECK(Selected(*config, "imaps", "mail.example.com") == "exact");
    CHECK(Selected(*config, "imap", "MAIL.Example.COM") == "exact");
  }
  SUBCASE("wildcard matches exactly one more label") {
    CHECK(Selected(*config, "imaps", "imap.example.org") == "wild");
    CHECK(Selected(*config, "imaps", "IMAP.EXAMPLE.ORG") == "wild");
    CHECK(Selected(*config, "imaps", "example.org") == "any");
    CHECK(Selected(*config, "imaps", "a.b.example.org") == "any");
    CHECK(Selected(*config, "imaps", ".example.org") == "any");
  }
  SUBCASE("no SNI matches only routes without sni") {
    CHECK(Selected(*config, "imaps", "") == "any");
    CHECK(Selected(*config, "imap", "") == "starttls-only");
  }
  SUBCASE("listener filter") {
    CHECK(Selected(*config, "imap", "other.example.net") == "starttls-only");
    CHECK(Selected(*config, "imaps", "other.example.net") == "any");
  }
  SUBCASE("none") {
    CHECK(Selected(*config, "elsewhere", "") == "(none)");
    CHECK(Selected(*config, "elsewhere", "mail.example.com") == "exact");
    CHECK(Selected(*config, "elsewhere", "x.example.net") == "(none)");
  }
}

// A login "proxy" listener beside a relay one, routes by user on the first.
Json LoginConfig() {
  Json doc = Minimal();
  doc["listeners"].push_back({{"name", "login"}, {"listen", "127.0.0.1:9995"}, {"login", "proxy"}});
  doc["routes"] = Json::parse(R"([
    { "name": "new", "listeners": ["login"], "users": ["*@new.example", "alice"],
      "backends": ["127.0.0.1:1143"] },
    { "name": "old", "listeners": ["login"], "backends": ["127.0.0.1:2143"] },
    { "name": "relay", "listeners": ["imaps"], "backends": ["127.0.0.1:3143"] }
  ])");
  return doc;
}

TEST_CASE("config: listeners[].login and routes[].users") {
  const ConfigResult result = Parse(LoginConfig());
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  const Config& c = *result.config;
  CHECK(c.listeners[0].login == LoginMode::kRelay);
  CHECK(c.listeners[1].login == LoginMode::kProxy);
  REQUIRE(c.routes[0].users);
  CHECK(*c.routes[0].users == std::vector<std::string>{"*@new.example", "alice"});
  CHECK(!c.routes[1].users);
  auto route = [&](const std::string& user) {
    const RouteConfig* r = c.SelectRoute("login", "", &user);
    return r ? r->name : std::string("(none)");
  };
  CHECK(route("bob@NEW.example") == "new");
  CHECK(route("ALICE") == "new");
  CHECK(route("alice2") == "old");
  CHECK(route("bob@old.example") == "old");
  // Without a user: whether any route may serve the connection.
  CHECK(c.SelectRoute("login", "")->name == "new");
  CHECK(c.SelectRoute("imaps", "")->name == "relay");
}

TEST_CASE("UserMatches: case-insensitive, * any run of characters") {
  CHECK(UserMatches("*", ""));
  CHECK(UserMatches("*", "anyone"));
  CHECK(UserMatches("alice", "Alice"));
  CHECK_FALSE(UserMatches("alice", "alice@x"));
  CHECK(UserMatches("*@example.com", "bob@EXAMPLE.com"));
  CHECK_FALSE(UserMatches("*@example.com", "bob@example.com.evil"));
  CHECK(UserMatches("a*b*c", "aXXbYYbc"));
  CHECK_FALSE(UserMatches("a*b*c", "aXXbYYb"));
  CHECK(UserMatches("**", "x"));
  CHECK_FALSE(UserMatches("", "x"));
}

TEST_CASE("config error: users on a route a relay listener can pick, bad login values") {
  Json doc = LoginConfig();
  doc["routes"][0].erase("listeners");
  ConfigResult result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: routes[0].users: route \"new\" has users but can serve listener "
              "\"imaps\", which relays logins (users apply only to listeners with login "
              "\"proxy\"; give the route \"listeners\")");
  CHECK_MESSAGE(result.errors.size() == 1, AllErrors(result));

  doc = LoginConfig();
  doc["listeners"][1]["login"] = "local";
  doc["routes"][0]["users"] = Json::array({"", 7});
  doc["routes"][1]["users"] = Json::array();
  result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: listeners[1].login: \"local\" is not \"relay\" or \"proxy\"");
  CHECK_ERROR(result, "imapfront.json: routes[0].users[0]: must not be empty");
  CHECK_ERROR(result, "imapfront.json: routes[0].users[1]: must be a string, not a number");
  CHECK_ERROR(result, "imapfront.json: routes[1].users: must not be empty");
  CHECK_MESSAGE(result.errors.size() == 4, AllErrors(result));
}

TEST_CASE("config error: the login limits apply to the whole process") {
  for (const char* key : {"max_login_attempts", "auth_failure_delay", "max_auth_failures_per_ip",
                          "auth_failure_window"}) {
    CAPTURE(key);
    Json doc = LoginConfig();
    doc["routes"][1]["limits"] = {{key, 7}};
    ConfigResult result = Parse(doc);
    CHECK_ERROR(result, std::string("imapfront.json: routes[1].limits.") + key +
                            ": applies to the whole process; set it in the top-level limits");
  }
  Json doc = LoginConfig();
  doc["routes"][1]["limits"] = {{"login_timeout", 2}};
  doc["limits"] = {{"max_login_attempts", 1}, {"auth_failure_delay", 0}};
  ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  CHECK(result.config->routes[1].limits.login_timeout == 2);
  CHECK(result.config->limits.max_login_attempts == 1);
  doc["limits"] = {{"max_login_attempts", 0}, {"auth_failure_window", 0}};
  result = Parse(doc);
  CHECK_MESSAGE(result.errors.size() == 2, AllErrors(result));
}

TEST_CASE("config: proxy_protocol, trusted_proxies, forward_client and health_check") {
  Json doc = Minimal();
  doc["trusted_proxies"] = Json::array({"10.0.0.0/8", "::1/128", "192.0.2.7"});
  doc["listeners"][0]["proxy_protocol"] = true;
  doc["routes"][0]["forward_client"] = "proxy_v2";
  doc["routes"][0]["health_check"] = {{"interval", 0.5}, {"fall", 3}};
  doc["routes"].push_back({{"name", "dovecot"},
                           {"backends", {"127.0.0.1:144"}},
                           {"forward_client", "id"},
                           {"health_check", nullptr}});
  const ConfigResult result = Parse(doc);
  REQUIRE_MESSAGE(result.config != nullptr, AllErrors(result));
  const Config& c = *result.config;
  CHECK(c.listeners[0].proxy_protocol);
  CHECK(c.trusted_proxies.size() == 3);
  CHECK(c.routes[0].forward_client == ForwardClient::kProxyV2);
  REQUIRE(c.routes[0].health_check);
  CHECK(c.routes[0].health_check->interval == 0.5);
  CHECK(c.routes[0].health_check->timeout == 3);
  CHECK(c.routes[0].health_check->fall == 3);
  CHECK(c.routes[0].health_check->rise == 2);
  CHECK(c.routes[1].forward_client == ForwardClient::kId);
  CHECK_FALSE(c.routes[1].health_check);
  // The defaults: no PROXY header expected, nothing forwarded, no checks.
  const ConfigResult plain = Parse(Minimal());
  REQUIRE(plain.config);
  CHECK_FALSE(plain.config->listeners[0].proxy_protocol);
  CHECK(plain.config->routes[0].forward_client == ForwardClient::kNone);
  CHECK_FALSE(plain.config->routes[0].health_check);
}

TEST_CASE("config error: the network edges, each bad value named") {
  Json doc = Minimal();
  doc["listeners"][0]["proxy_protocol"] = true;
  ConfigResult result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: listeners[0].proxy_protocol: needs the top-level "
              "\"trusted_proxies\" (the CIDR blocks of the load balancers allowed to send PROXY "
              "headers)");
  CHECK_MESSAGE(result.errors.size() == 1, AllErrors(result));

  doc = Minimal();
  doc["trusted_proxies"] = Json::array({"10.0.0.0/33", "10.1.0.0/8", "lb.internal", 5});
  doc["listeners"][0]["proxy_protocol"] = "yes";
  doc["routes"][0]["forward_client"] = "proxy";
  doc["routes"][0]["health_check"] = {
      {"interval", 0}, {"timeout", -1}, {"fall", 0}, {"rise", 1.5}, {"port", 143}};
  result = Parse(doc);
  CHECK_ERROR(result,
              "imapfront.json: trusted_proxies[0]: \"10.0.0.0/33\": the prefix length must be 0 "
              "to 32");
  CHECK_ERROR(result,
              "imapfront.json: trusted_proxies[1]: \"10.1.0.0/8\" has bits set past its prefix "
              "length (write the block's first address)");
  CHECK_ERROR(result,
              "imapfront.json: trusted_proxies[2]: \"lb.internal\" is not an IPv4 or IPv6 "
              "address or CIDR block");
  CHECK_ERROR(result, "imapfront.json: trusted_proxies[3]: must be a string, not a number");
  CHECK_ERROR(result,
              "imapfront.json: listeners[0].proxy_protocol: must be true or false, not a "
              "string");
  CHECK_ERROR(result,
              "imapfront.json: routes[0].forward_client: \"proxy\" is not \"none\", \"id\", "
              "\"proxy_v1\" or \"proxy_v2\"");
  CHECK_MESSAGE(result.errors.size() == 11, AllErrors(result));
}

}  // namespace
}  // namespace imapfront
