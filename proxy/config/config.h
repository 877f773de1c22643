// The JSON configuration (SPEC.md, "Configuration"), parsed and validated.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imap/emulation/compat.h"
#include "proxy/config/socket_address.h"
#include "proxy/log.h"
#include "proxy/net/cidr.h"
#include "tls/version.h"

namespace imapfront {

struct Limits {
  double handshake_timeout = 10;
  double idle_timeout = 1860;
  double max_lifetime = 86400;
  double lifetime_grace = 60;
  double shutdown_grace = 30;
  double backend_connect_timeout = 5;
  double close_timeout = 5;
  uint64_t max_connections = 10000;
  uint64_t max_connections_per_ip = 0;
  uint64_t max_line_bytes = 65536;
  uint64_t max_literal_bytes = 67108864;
  uint64_t buffer_bytes = 262144;
  // Logging in at the proxy (listeners[].login "proxy"). The first four are
  // per client address or session, before a route is known: top level only.
  uint64_t max_login_attempts = 3;
  double auth_failure_delay = 15;
  uint64_t max_auth_failures_per_ip = 0;
  double auth_failure_window = 300;
  double login_timeout = 30;  // a backend's answer to imapfront's LOGIN
};

enum class ListenerMode { kImplicitTls, kStartTls };
// kProxy: imapfront conducts the not-authenticated state and logs users in.
enum class LoginMode { kRelay, kProxy };
enum class LiteralPlus { kPass, kEmulate };

struct CertificateConfig {
  std::string cert;
  std::string key;
  std::vector<std::string> names;
  std::string ocsp;  // DER OCSP response file to staple; "" for none
};

struct ListenerConfig {
  std::string name;
  SocketAddress listen;
  ListenerMode mode = ListenerMode::kImplicitTls;
  LoginMode login = LoginMode::kRelay;
  // Each connection starts with a PROXY header from one of trusted_proxies.
  bool proxy_protocol = false;
};

// routes[].forward_client: how the backend learns the client's address.
enum class ForwardClient { kNone, kId, kProxyV1, kProxyV2 };

// routes[].health_check (seconds, and checks in a row).
struct HealthCheckConfig {
  double interval = 10;
  double timeout = 3;
  uint64_t fall = 2;
  uint64_t rise = 2;
};

struct RouteConfig {
  std::string name;
  std::optional<std::vector<std::string>> sni;        // absent: any
  std::optional<std::vector<std::string>> listeners;  // absent: any
  std::optional<std::vector<std::string>> users;      // login name patterns; absent: any
  std::vector<BackendAddress> backends;
  LiteralPlus literal_plus = LiteralPlus::kPass;
  ForwardClient forward_client = ForwardClient::kNone;
  std::optional<HealthCheckConfig> health_check;  // absent: no checks
  imap::CompatOptions compat;                     // routes[].compat; the defaults change nothing
  Limits limits;  // the global limits with this route's overrides applied
};

struct Config {
  std::string path;                                          // the file it came from
  unsigned workers = 0;                                      // as configured; 0 = one per core
  std::optional<SocketAddress> stats_listen = std::nullopt;  // null: disabled
  LogLevel log_level = LogLevel::kInfo;
  std::string access_log = "-";
  tls::Version tls_min_version = tls::Version::kTls12;
  std::vector<CertificateConfig> certificates;
  std::vector<ListenerConfig> listeners;
  // The balancers allowed to send PROXY headers (listeners[].proxy_protocol).
  std::vector<net::Cidr> trusted_proxies;
  std::vector<RouteConfig> routes;
  Limits limits;
  // The file's parts as written ("workers", "tls", "routes.NAME", ...), for
  // telling what a reload changed.
  std::map<std::string, std::string> sections;

  // The first route that serves a connection on |listener| with SNI
  // |server_name| ("" when the client sent none) and, when |user| is given,
  // whose users patterns match it; or null. Without |user|, users are not
  // looked at (whether any route may serve the connection at all).
  const RouteConfig* SelectRoute(std::string_view listener, std::string_view server_name,
                                 const std::string* user = nullptr) const;
  // The listener named |name|, or null.
  const ListenerConfig* FindListener(std::string_view name) const;
};

// |user| matches |pattern|: ASCII case-insensitive, "*" any run of characters.
bool UserMatches(std::string_view pattern, std::string_view user);

// The sections that differ between |before| and |after|, sorted:
// "limits", "routes.legacy", "stats", ...
std::vector<std::string> ChangedSections(const Config& before, const Config& after);

struct ConfigResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  std::vector<std::string> errors;       // "FILE: JSON.PATH: reason", one per problem
};

// Parses |text| as the config file named |path| (used in messages).
ConfigResult ParseConfig(std::string_view text, const std::string& path);
// Reads and parses the file at |path|.
ConfigResult LoadConfig(const std::string& path);

}  // namespace imapfront
