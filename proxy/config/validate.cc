#include "proxy/config/validate.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <utility>

#include "imap/bytes.h"
#include "proxy/config/json_checks.h"
#include "proxy/config/messages.h"
#include "tls/server_name.h"

namespace imapfront::config {
namespace {

constexpr uint64_t kMaxWorkers = 1024;
constexpr std::string_view kDefaultStatsListen = "127.0.0.1:9100";

constexpr std::string_view kRootKeys[] = {"workers",   "stats",  "log",    "tls",
                                          "listeners", "routes", "limits", "trusted_proxies"};
constexpr std::string_view kStatsKeys[] = {"listen"};
constexpr std::string_view kLogKeys[] = {"level", "access_log"};
constexpr std::string_view kTlsKeys[] = {"min_version", "certificates"};
constexpr std::string_view kCertificateKeys[] = {"cert", "key", "names", "ocsp"};
constexpr std::string_view kListenerKeys[] = {"name", "listen", "mode", "login", "proxy_protocol"};
constexpr std::string_view kRouteKeys[] = {"name",           "sni",         "listeners", "backends",
                                           "literal_plus",   "limits",      "compat",    "users",
                                           "forward_client", "health_check"};
constexpr std::string_view kHealthCheckKeys[] = {"interval", "timeout", "fall", "rise"};
constexpr Choice<ForwardClient> kForwardModes[] = {{"none", ForwardClient::kNone},
                                                   {"id", ForwardClient::kId},
                                                   {"proxy_v1", ForwardClient::kProxyV1},
                                                   {"proxy_v2", ForwardClient::kProxyV2}};
constexpr std::string_view kCompatKeys[] = {"idle",       "idle_poll_interval", "unselect",
                                            "id",         "auth_plain",         "special_use",
                                            "pipelining", "capabilities"};
constexpr std::string_view kCompatCapabilityKeys[] = {"remove", "add"};
constexpr double kMinPollInterval = 0.05;
constexpr Choice<bool> kEmulateModes[] = {{"pass", false}, {"emulate", true}};
constexpr Choice<bool> kIdModes[] = {{"pass", false}, {"local", true}};
// RFC 6154 (and RFC 8457's \Important).
constexpr std::string_view kSpecialUses[] = {"\\All",  "\\Archive", "\\Drafts", "\\Flagged",
                                             "\\Junk", "\\Sent",    "\\Trash",  "\\Important"};

constexpr Choice<LogLevel> kLogLevels[] = {{"debug", LogLevel::kDebug},
                                           {"info", LogLevel::kInfo},
                                           {"warn", LogLevel::kWarn},
                                           {"error", LogLevel::kError}};
constexpr Choice<tls::Version> kTlsVersions[] = {{"1.0", tls::Version::kTls10},
                                                 {"1.1", tls::Version::kTls11},
                                                 {"1.2", tls::Version::kTls12},
                                                 {"1.3", tls::Version::kTls13}};
constexpr Choice<ListenerMode> kListenerModes[] = {{"implicit_tls", ListenerMode::kImplicitTls},
                                                   {"starttls", ListenerMode::kStartTls}};
constexpr Choice<LoginMode> kLoginModes[] = {{"relay", LoginMode::kRelay},
                                             {"proxy", LoginMode::kProxy}};
constexpr Choice<LiteralPlus> kLiteralPlusModes[] = {{"pass", LiteralPlus::kPass},
                                                     {"emulate", LiteralPlus::kEmulate}};

// One key of "limits": a duration (|seconds|) or a size/count (|count|).
struct LimitField {
  std::string_view name;
  double Limits::*seconds = nullptr;
  uint64_t Limits::*count = nullptr;
  bool positive = false;  // durations: 0 is not allowed
  uint64_t min = 0;       // counts
  std::string_view why;   // explains |min|
};

constexpr LimitField Duration(std::string_view name, double Limits::*seconds, bool positive) {
  return {name, seconds, nullptr, positive, 0, ""};
}

constexpr LimitField Amount(std::string_view name, uint64_t Limits::*count, uint64_t min = 0,
                            std::string_view why = "") {
  return {name, nullptr, count, false, min, why};
}

constexpr LimitField kLimitFields[] = {
    Duration("handshake_timeout", &Limits::handshake_timeout, true),
    Duration("idle_timeout", &Limits::idle_timeout, true),
    Duration("max_lifetime", &Limits::max_lifetime, false),
    Duration("lifetime_grace", &Limits::lifetime_grace, false),
    Duration("shutdown_grace", &Limits::shutdown_grace, false),
    Duration("backend_connect_timeout", &Limits::backend_connect_timeout, true),
    Duration("close_timeout", &Limits::close_timeout, true),
    Amount("max_connections", &Limits::max_connections),
    Amount("max_connections_per_ip", &Limits::max_connections_per_ip),
    Amount("max_line_bytes", &Limits::max_line_bytes, 1024,
           " (IMAP command lines can be long: UID sets, SEARCH criteria)"),
    Amount("max_literal_bytes", &Limits::max_literal_bytes),
    Amount("buffer_bytes", &Limits::buffer_bytes, 16384, " (a whole TLS record must fit)"),
    Amount("max_login_attempts", &Limits::max_login_attempts, 1),
    Duration("auth_failure_delay", &Limits::auth_failure_delay, false),
    Amount("max_auth_failures_per_ip", &Limits::max_auth_failures_per_ip),
    Duration("auth_failure_window", &Limits::auth_failure_window, true),
    Duration("login_timeout", &Limits::login_timeout, true),
};

std::vector<std::string_view> LimitKeys() {
  std::vector<std::string_view> keys;
  for (const LimitField& field : kLimitFields) keys.push_back(field.name);
  return keys;
}

// A host name, or "*." followed by one (a wildcard for exactly one label).
bool IsServerNamePattern(std::string_view name) {
  if (tls::IsWildcardPattern(name)) name.remove_prefix(2);
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  return std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

class ConfigValidator : private JsonChecks {
 public:
  explicit ConfigValidator(const std::string& file) : JsonChecks(file) {}

  ConfigResult Run(const JsonDocument& document, const std::string& file) {
    for (const std::string& path : document.duplicate_keys) Error(path, "duplicate key");
    if (!document.syntax_error.empty()) {
      Error("", document.syntax_error);
    } else {
      config_->path = file;
      ParseRoot(document.root);
    }
    if (error_count() > 0) return {nullptr, TakeErrors()};
    return {std::move(config_), {}};
  }

 private:
  std::optional<SocketAddress> Address(const Json& v, const std::string& path) {
    const std::optional<std::string> text = String(v, path);
    if (!text) return std::nullopt;
    std::string error;
    std::optional<SocketAddress> address = ParseSocketAddress(*text, &error);
    if (!address) Error(path, error);
    return address;
  }

  // An array of server names or "*.domain" wildcards (tls names, route sni).
  std::optional<std::vector<std::string>> ServerNames(const Json& v, const std::string& path,
                                                      bool allow_empty) {
    if (!IsArray(v, path, allow_empty)) return std::nullopt;
    std::vector<std::string> names;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::optional<std::string> name = String(v[i], Index(path, i));
      if (name && !IsServerNamePattern(*name)) {
        Error(Index(path, i), Quote(*name) + " is not a host name or \"*.domain\" wildcard");
      } else if (name) {
        names.push_back(*name);
      }
    }
    return names.size() == v.size() ? std::optional(std::move(names)) : std::nullopt;
  }

  // --- sections ---------------------------------------------------------

  void ParseRoot(const Json& root) {
    if (!root.is_object()) {
      Error("", "the configuration must be a JSON object, not " + Kind(root));
      return;
    }
    CheckKeys(root, "", kRootKeys);
    // What a reload compares: each top-level key, and each route by name.
    for (std::string_view key : kRootKeys) {
      const Json* v = Find(root, key);
      config_->sections[std::string(key)] = v ? v->dump() : "";
    }
    if (const Json* routes = Find(root, "routes"); routes && routes->is_array()) {
      std::string order;
      for (const Json& r : *routes) {
        const Json* name = r.is_object() ? Find(r, "name") : nullptr;
        const std::string n = name && name->is_string() ? name->get<std::string>() : "?";
        config_->sections["routes." + n] = r.dump();
        order += n + ",";
      }
      config_->sections["routes"] = order;  // the order of routes matters too
    }
    if (const Json* v = Find(root, "workers")) {
      if (auto n = Count(*v, "workers", 0, kMaxWorkers))
        config_->workers = static_cast<unsigned>(*n);
    }
    ParseStats(Find(root, "stats"));
    if (const Json* v = Find(root, "log")) ParseLog(*v);
    // Before routes: route limits start from the global ones, wherever they are in the file.
    if (const Json* v = Find(root, "limits")) ParseLimits(*v, "limits", &config_->limits);
    ParseTls(Find(root, "tls"));
    // Before listeners: a proxy_protocol listener needs them.
    if (const Json* v = Find(root, "trusted_proxies")) ParseTrustedProxies(*v);
    if (const Json* v = Required(root, "", "listeners")) ParseListeners(*v);
    if (const Json* v = Required(root, "", "routes")) ParseRoutes(*v);
  }

  void ParseStats(const Json* stats) {
    std::string unused;
    config_->stats_listen = ParseSocketAddress(kDefaultStatsListen, &unused);
    if (stats == nullptr || !IsObject(*stats, "stats")) return;
    CheckKeys(*stats, "stats", kStatsKeys);
    const Json* listen = Find(*stats, "listen");
    if (listen == nullptr) return;
    config_->stats_listen = listen->is_null() ? std::nullopt : Address(*listen, "stats.listen");
  }

  void ParseLog(const Json& log) {
    if (!IsObject(log, "log")) return;
    CheckKeys(log, "log", kLogKeys);
    if (const Json* v = Find(log, "level")) {
      if (auto level = OneOf(*v, "log.level", kLogLevels)) config_->log_level = *level;
    }
    if (const Json* v = Find(log, "access_log")) {
      if (auto file = String(*v, "log.access_log")) config_->access_log = *file;
    }
  }

  void ParseLimits(const Json& limits, const std::string& path, Limits* out) {
    static const std::vector<std::string_view> kKeys = LimitKeys();
    if (!IsObject(limits, path)) return;
    CheckKeys(limits, path, kKeys);
    for (const LimitField& field : kLimitFields) {
      const Json* v = Find(limits, field.name);
      if (v == nullptr) continue;
      const std::string field_path = Join(path, field.name);
      if (field.seconds != nullptr) {
        if (auto s = Seconds(*v, field_path, field.positive)) out->*field.seconds = *s;
      } else if (auto n = Count(*v, field_path, field.min, std::numeric_limits<uint64_t>::max(),
                                field.why)) {
        out->*field.count = *n;
      }
    }
  }

  void ParseTls(const Json* tls) {
    if (tls == nullptr) {
      Error("tls", "missing required key (it needs \"certificates\")");
      return;
    }
    if (!IsObject(*tls, "tls")) return;
    CheckKeys(*tls, "tls", kTlsKeys);
    if (const Json* v = Find(*tls, "min_version")) {
      if (auto version = OneOf(*v, "tls.min_version", kTlsVersions)) {
        config_->tls_min_version = *version;
      }
    }
    const Json* certificates = Required(*tls, "tls", "certificates");
    if (certificates == nullptr || !IsArray(*certificates, "tls.certificates", false)) return;
    for (size_t i = 0; i < certificates->size(); ++i) {
      ParseCertificate((*certificates)[i], Index("tls.certificates", i));
    }
  }

  void ParseCertificate(const Json& v, const std::string& path) {
    if (!IsObject(v, path)) return;
    CheckKeys(v, path, kCertificateKeys);
    CertificateConfig certificate;
    certificate.cert = RequiredString(v, path, "cert").value_or("");
    certificate.key = RequiredString(v, path, "key").value_or("");
    if (const Json* names = Find(v, "names")) {
      certificate.names =
          ServerNames(*names, Join(path, "names"), true).value_or(std::vector<std::string>{});
    }
    if (const Json* ocsp = Find(v, "ocsp")) {
      certificate.ocsp = String(*ocsp, Join(path, "ocsp")).value_or("");
    }
    config_->certificates.push_back(std::move(certificate));
  }

  void ParseListeners(const Json& listeners) {
    if (!IsArray(listeners, "listeners", false)) return;
    for (size_t i = 0; i < listeners.size(); ++i) {
      ParseListener(listeners[i], Index("listeners", i));
    }
  }

  void ParseListener(const Json& v, const std::string& path) {
    const size_t errors_before = error_count();
    if (!IsObject(v, path)) return;
    CheckKeys(v, path, kListenerKeys);
    ListenerConfig listener;
    if (auto name = RequiredString(v, path, "name")) {
      if (!listener_names_.insert(*name).second) {
        Error(Join(path, "name"), "duplicate listener name " + Quote(*name));
      }
      listener.name = *name;
    }
    if (const Json* listen = Required(v, path, "listen")) {
      if (auto address = Address(*listen, Join(path, "listen"))) {
        CheckListenUnique(*address, Join(path, "listen"));
        listener.listen = std::move(*address);
      }
    }
    if (const Json* mode = Find(v, "mode")) {
      listener.mode = OneOf(*mode, Join(path, "mode"), kListenerModes).value_or(listener.mode);
    }
    if (const Json* login = Find(v, "login")) {
      listener.login = OneOf(*login, Join(path, "login"), kLoginModes).value_or(listener.login);
    }
    if (const Json* proxy = Find(v, "proxy_protocol")) {
      const std::string at = Join(path, "proxy_protocol");
      if (!proxy->is_boolean()) {
        Error(at, "must be true or false, not " + Kind(*proxy));
      } else if (proxy->get<bool>() && config_->trusted_proxies.empty() && !trusted_errors_) {
        Error(at,
              "needs the top-level \"trusted_proxies\" (the CIDR blocks of the load balancers "
              "allowed to send PROXY headers)");
      } else {
        listener.proxy_protocol = proxy->get<bool>();
      }
    }
    if (error_count() == errors_before) config_->listeners.push_back(std::move(listener));
  }

  // ["10.0.0.0/8", "::1/128", "192.0.2.7"]
  void ParseTrustedProxies(const Json& v) {
    if (!IsArray(v, "trusted_proxies", true)) {
      trusted_errors_ = true;
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const std::optional<std::string> text = String(v[i], Index("trusted_proxies", i));
      std::string error;
      std::optional<net::Cidr> block = text ? net::ParseCidr(*text, &error) : std::nullopt;
      if (block) {
        config_->trusted_proxies.push_back(*block);
        continue;
      }
      if (text) Error(Index("trusted_proxies", i), error);
      trusted_errors_ = true;
    }
  }

  void ParseHealthCheck(const Json& v, const std::string& path, RouteConfig* route) {
    if (v.is_null()) return;
    if (!IsObject(v, path)) return;
    CheckKeys(v, path, kHealthCheckKeys);
    HealthCheckConfig check;
    if (const Json* s = Find(v, "interval")) {
      check.interval = Seconds(*s, Join(path, "interval"), true).value_or(check.interval);
    }
    if (const Json* s = Find(v, "timeout")) {
      check.timeout = Seconds(*s, Join(path, "timeout"), true).value_or(check.timeout);
    }
    constexpr uint64_t kMaxInRow = 1000;
    if (const Json* n = Find(v, "fall")) {
      check.fall = Count(*n, Join(path, "fall"), 1, kMaxInRow).value_or(check.fall);
    }
    if (const Json* n = Find(v, "rise")) {
      check.rise = Count(*n, Join(path, "rise"), 1, kMaxInRow).value_or(check.rise);
    }
    route->health_check = check;
  }

  void CheckListenUnique(const SocketAddress& address, const std::string& path) {
    for (const ListenerConfig& other : config_->listeners) {
      if (SameAddress(other.listen, address)) {
        Error(path,
              "address " + address.text + " is already used by listener " + Quote(other.name));
      }
    }
    if (config_->stats_listen && SameAddress(*config_->stats_listen, address)) {
      Error(path, "address " + address.text + " is already used by stats.listen");
    }
  }

  void ParseRoutes(const Json& routes) {
    if (!IsArray(routes, "routes", false)) return;
    for (size_t i = 0; i < routes.size(); ++i) ParseRoute(routes[i], Index("routes", i));
  }

  void ParseRoute(const Json& v, const std::string& path) {
    const size_t errors_before = error_count();
    if (!IsObject(v, path)) return;
    CheckKeys(v, path, kRouteKeys);
    RouteConfig route;
    route.limits = config_->limits;
    if (auto name = RequiredString(v, path, "name")) {
      if (!route_names_.insert(*name).second) {
        Error(Join(path, "name"), "duplicate route name " + Quote(*name));
      }
      route.name = *name;
    }
    if (const Json* sni = Find(v, "sni")) route.sni = ServerNames(*sni, Join(path, "sni"), false);
    if (const Json* names = Find(v, "listeners")) {
      route.listeners = RouteListeners(*names, Join(path, "listeners"));
    }
    if (const Json* backends = Required(v, path, "backends")) {
      route.backends = Backends(*backends, Join(path, "backends"));
    }
    if (const Json* mode = Find(v, "literal_plus")) {
      route.literal_plus =
          OneOf(*mode, Join(path, "literal_plus"), kLiteralPlusModes).value_or(route.literal_plus);
    }
    if (const Json* mode = Find(v, "forward_client")) {
      route.forward_client =
          OneOf(*mode, Join(path, "forward_client"), kForwardModes).value_or(route.forward_client);
    }
    if (const Json* check = Find(v, "health_check")) {
      ParseHealthCheck(*check, Join(path, "health_check"), &route);
    }
    if (const Json* limits = Find(v, "limits")) {
      ParseLimits(*limits, Join(path, "limits"), &route.limits);
      CheckRouteLimits(route.limits, Join(path, "limits"));
    }
    if (const Json* compat = Find(v, "compat")) {
      ParseCompat(*compat, Join(path, "compat"), &route.compat);
    }
    if (const Json* users = Find(v, "users")) {
      route.users = UserPatterns(*users, Join(path, "users"));
      CheckUsersServeOnlyProxy(route, Join(path, "users"));
    }
    if (error_count() == errors_before) config_->routes.push_back(std::move(route));
  }

  void ParseCompat(const Json& v, const std::string& path, imap::CompatOptions* compat) {
    if (!IsObject(v, path)) return;
    CheckKeys(v, path, kCompatKeys);
    auto mode = [&](std::string_view key, bool* field, const auto& choices) {
      if (const Json* m = Find(v, key)) {
        *field = OneOf(*m, Join(path, key), choices).value_or(*field);
      }
    };
    mode("idle", &compat->emulate_idle, kEmulateModes);
    mode("unselect", &compat->emulate_unselect, kEmulateModes);
    mode("id", &compat->local_id, kIdModes);
    mode("auth_plain", &compat->emulate_auth_plain, kEmulateModes);
    if (const Json* interval = Find(v, "idle_poll_interval")) {
      const std::string at = Join(path, "idle_poll_interval");
      if (auto seconds = Seconds(*interval, at, true)) {
        if (*seconds < kMinPollInterval) {
          Error(at, "must be at least 0.05 seconds (one NOOP per interval)");
        } else {
          compat->idle_poll_interval = *seconds;
        }
      }
    }
    if (const Json* pipelining = Find(v, "pipelining")) {
      if (pipelining->is_boolean()) {
        compat->pipelining = pipelining->get<bool>();
      } else {
        Error(Join(path, "pipelining"), "must be true or false, not " + Kind(*pipelining));
      }
    }
    if (const Json* uses = Find(v, "special_use")) {
      SpecialUse(*uses, Join(path, "special_use"), &compat->special_use);
    }
    if (const Json* capabilities = Find(v, "capabilities")) {
      const std::string at = Join(path, "capabilities");
      if (IsObject(*capabilities, at)) {
        CheckKeys(*capabilities, at, kCompatCapabilityKeys);
        if (const Json* remove = Find(*capabilities, "remove")) {
          compat->remove = CapabilityNames(*remove, Join(at, "remove"));
        }
        if (const Json* add = Find(*capabilities, "add")) {
          compat->add = CapabilityNames(*add, Join(at, "add"), true);
        }
      }
    }
  }

  // {"Sent Items": "\\Sent", ...}: mailbox names as LIST sends them.
  void SpecialUse(const Json& v, const std::string& path,
                  std::vector<std::pair<std::string, std::string>>* uses) {
    if (!IsObject(v, path)) return;
    std::vector<std::string_view> known(std::begin(kSpecialUses), std::end(kSpecialUses));
    for (const auto& [mailbox, use] : v.items()) {
      const std::string at = Join(path, mailbox);
      if (mailbox.empty()) Error(at, "a mailbox name must not be empty");
      const std::optional<std::string> attribute = String(use, at);
      if (!attribute) continue;
      auto it = std::find_if(known.begin(), known.end(), [&](std::string_view k) {
        return imap::EqualsIgnoreCase(k, *attribute);
      });
      const bool inbox_twice = imap::EqualsIgnoreCase(mailbox, "INBOX") &&
                               std::any_of(uses->begin(), uses->end(), [](const auto& u) {
                                 return imap::EqualsIgnoreCase(u.first, "INBOX");
                               });
      if (it == known.end()) {
        Error(at, Quote(*attribute) + " is not " + Alternatives(known));
      } else if (inbox_twice) {
        Error(at, "INBOX is named twice (INBOX is the same mailbox in any case)");
      } else if (!mailbox.empty()) {
        uses->emplace_back(mailbox, std::string(*it));
      }
    }
  }

  // Capability names: atoms (RFC 9051 capability = atom), "AUTH=" and "X-"
  // names included.
  // |added|: names clients will be shown, where the ones imapfront strips
  // (they belong between the client and imapfront) are errors.
  std::vector<std::string> CapabilityNames(const Json& v, const std::string& path,
                                           bool added = false) {
    std::vector<std::string> names;
    if (!IsArray(v, path, true)) return names;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::optional<std::string> name = String(v[i], Index(path, i));
      if (!name) continue;
      const bool atom = std::ranges::all_of(*name, [](char c) {
        return c > 0x20 && c < 0x7f &&
               std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
      });
      const bool transport = imap::EqualsIgnoreCase(*name, "STARTTLS") ||
                             imap::EqualsIgnoreCase(*name, "LOGINDISABLED") ||
                             imap::EqualsIgnoreCase(name->substr(0, 9), "COMPRESS=");
      if (added && transport) {
        Error(Index(path, i), Quote(*name) +
                                  " belongs between the client and imapfront, which does not "
                                  "offer it inside TLS");
      } else if (atom) {
        names.push_back(*name);
      } else {
        Error(Index(path, i), Quote(*name) + " is not a capability name (an IMAP atom)");
      }
    }
    return names;
  }

  // The per-IP cap is counted at accept, before any route is known; the
  // login limits count per client address or session, across routes.
  void CheckRouteLimits(const Limits& limits, const std::string& path) {
    const Limits& top = config_->limits;
    auto process_wide = [&](bool differs, std::string_view key) {
      if (differs) {
        Error(Join(path, key), "applies to the whole process; set it in the top-level limits");
      }
    };
    process_wide(limits.max_connections_per_ip != top.max_connections_per_ip,
                 "max_connections_per_ip");
    process_wide(limits.max_login_attempts != top.max_login_attempts, "max_login_attempts");
    process_wide(limits.auth_failure_delay != top.auth_failure_delay, "auth_failure_delay");
    process_wide(limits.max_auth_failures_per_ip != top.max_auth_failures_per_ip,
                 "max_auth_failures_per_ip");
    process_wide(limits.auth_failure_window != top.auth_failure_window, "auth_failure_window");
  }

  // Login name patterns: non-empty strings, "*" a wildcard ("*" alone: every user).
  std::vector<std::string> UserPatterns(const Json& v, const std::string& path) {
    std::vector<std::string> patterns;
    if (!IsArray(v, path, false)) return patterns;
    for (size_t i = 0; i < v.size(); ++i) {
      // String() refuses empty strings.
      if (auto pattern = String(v[i], Index(path, i))) patterns.push_back(*pattern);
    }
    return patterns;
  }

  // Users are known only where imapfront logs them in: a route with users
  // that a relay listener could pick would ignore them there.
  void CheckUsersServeOnlyProxy(const RouteConfig& route, const std::string& path) {
    for (const ListenerConfig& listener : config_->listeners) {
      const bool serves = !route.listeners || std::ranges::find(*route.listeners, listener.name) !=
                                                  route.listeners->end();
      if (serves && listener.login == LoginMode::kRelay) {
        Error(path, "route " + Quote(route.name) + " has users but can serve listener " +
                        Quote(listener.name) +
                        ", which relays logins (users apply only to listeners with login "
                        "\"proxy\"; give the route \"listeners\")");
      }
    }
  }

  std::vector<std::string> RouteListeners(const Json& v, const std::string& path) {
    std::vector<std::string> names;
    if (!IsArray(v, path, false)) return names;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::optional<std::string> name = String(v[i], Index(path, i));
      if (name && !listener_names_.contains(*name)) {
        Error(Index(path, i), "no listener is named " + Quote(*name));
      }
      if (name) names.push_back(*name);
    }
    return names;
  }

  // Host names are resolved when a session connects, not here.
  std::vector<BackendAddress> Backends(const Json& v, const std::string& path) {
    std::vector<BackendAddress> backends;
    if (!IsArray(v, path, false)) return backends;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::optional<std::string> text = String(v[i], Index(path, i));
      if (!text) continue;
      std::string error;
      if (auto address = ParseBackendAddress(*text, &error)) {
        // /stats and /metrics name a backend by route and address: one
        // address twice in a route would be two backends under one name.
        const auto same = std::ranges::find_if(backends, [&](const BackendAddress& b) {
          return b.port == address->port && imap::EqualsIgnoreCase(b.host, address->host);
        });
        if (same != backends.end()) {
          Error(Index(path, i),
                Quote(*text) + " is listed twice in this route (also " + Quote(same->text) + ")");
          continue;
        }
        backends.push_back(std::move(*address));
      } else {
        Error(Index(path, i), error);
      }
    }
    return backends;
  }

  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  std::set<std::string, std::less<>> listener_names_;  // all, even those with errors
  std::set<std::string, std::less<>> route_names_;
  bool trusted_errors_ = false;  // trusted_proxies had errors (named there already)
};

}  // namespace

std::vector<std::string> KnownKeyPaths() {
  std::vector<std::string> out;
  auto add = [&](const std::string& prefix, std::span<const std::string_view> keys) {
    for (std::string_view key : keys) out.push_back(prefix + std::string(key));
  };
  add("", kRootKeys);
  add("stats.", kStatsKeys);
  add("log.", kLogKeys);
  add("tls.", kTlsKeys);
  add("tls.certificates[].", kCertificateKeys);
  add("listeners[].", kListenerKeys);
  add("routes[].", kRouteKeys);
  add("routes[].health_check.", kHealthCheckKeys);
  add("routes[].compat.", kCompatKeys);
  add("routes[].compat.capabilities.", kCompatCapabilityKeys);
  add("limits.", LimitKeys());
  return out;
}

ConfigResult Validate(const JsonDocument& document, const std::string& file) {
  return ConfigValidator(file).Run(document, file);
}

}  // namespace imapfront::config
