// JSON -> Config. The text is parsed without exceptions (a SAX reader builds
// the document and records duplicate keys and the syntax error's position),
// then validated section by section, collecting every error with its path.
#include "proxy/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <system_error>
#include <utility>

#include "tls/server_name.h"

namespace imapfront {
namespace {

// Ordered, so that errors come out in the order of the file.
using Json = nlohmann::ordered_json;

constexpr uint64_t kMaxWorkers = 1024;
// Keeps every duration representable as libuv's uint64_t milliseconds.
constexpr double kMaxSeconds = 1e9;
constexpr std::string_view kDefaultStatsListen = "127.0.0.1:9100";

// --- small text helpers ---------------------------------------------------

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Operator-written text, quoted; control bytes are shown as \xHH.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
      continue;
    }
    constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out + "\"";
}

// "an object", "a string", ... for "must be X, not Y" messages.
std::string Kind(const Json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "null";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

// " (did you mean "idle_timeout"?)" when |key| looks like a typo of a known key.
std::string Suggestion(std::string_view key, std::span<const std::string_view> known) {
  std::string_view best;
  size_t best_distance = 3;  // more than two edits is not a typo
  for (std::string_view candidate : known) {
    const size_t distance = EditDistance(key, candidate);
    if (distance < best_distance && distance < key.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best.empty() ? "" : " (did you mean " + Quote(best) + "?)";
}

// "A", "A or B", "A, B or C", each quoted.
std::string Alternatives(std::span<const std::string_view> names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += Quote(names[i]);
  }
  return out;
}

// A host name, or "*." followed by one (a wildcard for exactly one label).
bool IsServerNamePattern(std::string_view name) {
  if (tls::IsWildcardPattern(name)) name.remove_prefix(2);
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  return std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

bool SameAddress(const SocketAddress& a, const SocketAddress& b) {
  return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}

// --- socket addresses ------------------------------------------------------

struct HostPort {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
};

bool SplitHostPort(std::string_view text, HostPort* out, std::string* error) {
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = Quote(text) + ": missing \"]\" after the IPv6 address";
      return false;
    }
    out->host = text.substr(1, close - 1);
    out->bracketed = true;
    text.remove_prefix(close + 1);
    if (!text.starts_with(':')) {
      *error = "missing \":port\" after \"]\"";
      return false;
    }
    out->port = text.substr(1);
    return true;
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *error = Quote(text) + " has no port (expected host:port)";
    return false;
  }
  out->host = text.substr(0, colon);
  out->port = text.substr(colon + 1);
  if (out->host.find(':') != std::string_view::npos) {
    *error = "IPv6 addresses need brackets, as in \"[::1]:993\"";
    return false;
  }
  return true;
}

bool ParsePort(std::string_view text, uint16_t* port, std::string* error) {
  const bool digits =
      !text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    *error = "port " + Quote(text) + " is not a number";
    return false;
  }
  uint64_t value = 0;
  const std::errc ec = std::from_chars(text.data(), text.data() + text.size(), value).ec;
  if (ec != std::errc() || value < 1 || value > 65535) {
    *error = "port " + std::string(text) + " out of range 1..65535";
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

void SetPort(SocketAddress* address, uint16_t port) {
  if (address->addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&address->addr)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&address->addr)->sin6_port = htons(port);
  }
}

// inet_pton only: "10.0.0.5" unbracketed, "::1" bracketed.
bool ParseNumericHost(const std::string& host, bool bracketed, SocketAddress* out) {
  if (bracketed) {
    sockaddr_in6 sin6{};
    if (inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr) != 1) return false;
    sin6.sin6_family = AF_INET6;
    std::memcpy(&out->addr, &sin6, sizeof(sin6));
    out->addr_len = sizeof(sin6);
    return true;
  }
  sockaddr_in sin{};
  if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) return false;
  sin.sin_family = AF_INET;
  std::memcpy(&out->addr, &sin, sizeof(sin));
  out->addr_len = sizeof(sin);
  return true;
}

// The first address getaddrinfo gives for |host|.
bool ResolveHost(const std::string& host, SocketAddress* out, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    const std::string why = rc == EAI_SYSTEM ? std::generic_category().message(errno)
                            : rc != 0        ? gai_strerror(rc)
                                             : "no address";
    *error = "cannot resolve " + Quote(host) + ": " + why;
    return false;
  }
  const bool fits = result->ai_addrlen <= sizeof(out->addr);
  if (fits) {
    std::memcpy(&out->addr, result->ai_addr, result->ai_addrlen);
    out->addr_len = result->ai_addrlen;
  }
  freeaddrinfo(result);
  if (!fits) *error = "cannot resolve " + Quote(host) + ": address too long";
  return fits;
}

// --- reading the document without exceptions --------------------------------

// Builds the document from SAX events; remembers duplicate keys (by path) and
// the syntax error, if any.
class JsonReader : public nlohmann::json_sax<Json> {
 public:
  const Json& root() const { return root_; }
  const std::vector<std::string>& duplicate_keys() const { return duplicate_keys_; }
  size_t error_byte() const { return error_byte_; }
  const std::string& error_reason() const { return error_reason_; }

  bool null() override { return Value(nullptr); }
  bool boolean(bool v) override { return Value(v); }
  bool number_integer(number_integer_t v) override { return Value(v); }
  bool number_unsigned(number_unsigned_t v) override { return Value(v); }
  bool number_float(number_float_t v, const string_t&) override { return Value(v); }
  bool string(string_t& v) override { return Value(std::move(v)); }
  bool binary(binary_t&) override { return false; }  // not produced by JSON text
  bool start_object(std::size_t) override { return Open(Json::object()); }
  bool start_array(std::size_t) override { return Open(Json::array()); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(string_t& name) override {
    const Frame& top = stack_.back();
    if (top.node->contains(name)) duplicate_keys_.push_back(Join(top.path, name));
    key_ = name;
    return true;
  }

  bool parse_error(std::size_t byte, const std::string&, const Json::exception& ex) override {
    error_byte_ = byte;
    error_reason_ = Reason(ex.what());
    return false;
  }

 private:
  struct Frame {
    Json* node;
    std::string path;
  };

  // "[json.exception.parse_error.101] parse error at line 1, column 2: REASON" -> "REASON";
  // "[json.exception.out_of_range.406] number overflow ..." -> "number overflow ...".
  static std::string Reason(std::string_view what) {
    const size_t bracket = what.starts_with('[') ? what.find("] ") : what.npos;
    if (bracket != what.npos) what.remove_prefix(bracket + 2);
    const size_t colon = what.starts_with("parse error") ? what.find(": ") : what.npos;
    if (colon != what.npos) what.remove_prefix(colon + 2);
    return std::string(what);
  }

  std::string ChildPath() const {
    if (stack_.empty()) return "";
    const Frame& top = stack_.back();
    return top.node->is_array() ? Index(top.path, top.node->size()) : Join(top.path, key_);
  }

  Json* Add(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& top = *stack_.back().node;
    if (top.is_array()) {
      top.push_back(std::move(value));
      return &top.back();
    }
    Json& slot = top[key_];
    slot = std::move(value);
    return &slot;
  }

  bool Value(Json value) {
    Add(std::move(value));
    return true;
  }

  bool Open(Json container) {
    std::string path = ChildPath();
    stack_.push_back({Add(std::move(container)), std::move(path)});
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  Json root_;
  std::vector<Frame> stack_;  // open containers; each is the last child of the one before
  std::string key_;
  std::vector<std::string> duplicate_keys_;
  size_t error_byte_ = 0;
  std::string error_reason_;
};

// "line L column C" of the byte nlohmann reports (1-based; the byte it stopped at).
std::string LineColumn(std::string_view text, size_t byte) {
  const size_t pos = std::min(byte > 0 ? byte - 1 : 0, text.size());
  const auto line = 1 + std::count(text.begin(), text.begin() + pos, '\n');
  const size_t newline = pos == 0 ? std::string_view::npos : text.rfind('\n', pos - 1);
  const size_t column = newline == std::string_view::npos ? pos + 1 : pos - newline;
  return "line " + std::to_string(line) + " column " + std::to_string(column);
}

// --- validation ----------------------------------------------------------------

constexpr std::string_view kRootKeys[] = {"workers",   "stats",  "log",   "tls",
                                          "listeners", "routes", "limits"};
constexpr std::string_view kStatsKeys[] = {"listen"};
constexpr std::string_view kLogKeys[] = {"level", "access_log"};
constexpr std::string_view kTlsKeys[] = {"min_version", "certificates"};
constexpr std::string_view kCertificateKeys[] = {"cert", "key", "names"};
constexpr std::string_view kListenerKeys[] = {"name", "listen", "mode"};
constexpr std::string_view kRouteKeys[] = {"name",     "sni",          "listeners",
                                           "backends", "literal_plus", "limits"};

template <typename T>
struct Choice {
  std::string_view name;
  T value;
};

constexpr Choice<LogLevel> kLogLevels[] = {{"debug", LogLevel::kDebug},
                                           {"info", LogLevel::kInfo},
                                           {"warn", LogLevel::kWarn},
                                           {"error", LogLevel::kError}};
constexpr Choice<tls::MinVersion> kTlsVersions[] = {{"1.2", tls::MinVersion::kTls12},
                                                    {"1.3", tls::MinVersion::kTls13}};
constexpr Choice<ListenerMode> kListenerModes[] = {{"implicit_tls", ListenerMode::kImplicitTls},
                                                   {"starttls", ListenerMode::kStartTls}};
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
};

std::vector<std::string_view> LimitKeys() {
  std::vector<std::string_view> keys;
  for (const LimitField& field : kLimitFields) keys.push_back(field.name);
  return keys;
}

class ConfigParser {
 public:
  explicit ConfigParser(const std::string& file) : file_(file) {}

  ConfigResult Run(std::string_view text) {
    JsonReader reader;
    const bool ok = Json::sax_parse(text.begin(), text.end(), &reader);
    for (const std::string& path : reader.duplicate_keys()) Error(path, "duplicate key");
    if (!ok) {
      Error("", LineColumn(text, reader.error_byte()) + ": " + reader.error_reason());
    } else {
      config_->path = file_;
      ParseRoot(reader.root());
    }
    if (!errors_.empty()) return {nullptr, std::move(errors_)};
    return {std::move(config_), {}};
  }

 private:
  void Error(const std::string& path, const std::string& reason) {
    errors_.push_back(file_ + ": " + (path.empty() ? "" : path + ": ") + reason);
  }

  // --- typed access; each reports what is wrong and returns null/false ---

  static const Json* Find(const Json& object, std::string_view key) {
    const auto it = object.find(std::string(key));
    return it == object.end() ? nullptr : &*it;
  }

  const Json* Required(const Json& object, const std::string& path, std::string_view key) {
    const Json* value = Find(object, key);
    if (value == nullptr) Error(Join(path, key), "missing required key");
    return value;
  }

  bool IsObject(const Json& v, const std::string& path) {
    if (!v.is_object()) Error(path, "must be an object, not " + Kind(v));
    return v.is_object();
  }

  bool IsArray(const Json& v, const std::string& path, bool allow_empty) {
    if (!v.is_array()) {
      Error(path, "must be an array, not " + Kind(v));
      return false;
    }
    if (v.empty() && !allow_empty) Error(path, "must not be empty");
    return !v.empty() || allow_empty;
  }

  void CheckKeys(const Json& object, const std::string& path,
                 std::span<const std::string_view> known) {
    for (const auto& [key, value] : object.items()) {
      if (std::ranges::find(known, key) != known.end()) continue;
      Error(Join(path, key), "unknown key" + Suggestion(key, known));
    }
  }

  std::optional<std::string> String(const Json& v, const std::string& path) {
    if (!v.is_string()) {
      Error(path, "must be a string, not " + Kind(v));
      return std::nullopt;
    }
    const auto& text = v.get_ref<const std::string&>();
    if (text.empty()) Error(path, "must not be empty");
    return text.empty() ? std::nullopt : std::optional<std::string>(text);
  }

  std::optional<std::string> RequiredString(const Json& object, const std::string& path,
                                            std::string_view key) {
    const Json* value = Required(object, path, key);
    return value == nullptr ? std::nullopt : String(*value, Join(path, key));
  }

  template <typename T, size_t N>
  std::optional<T> OneOf(const Json& v, const std::string& path, const Choice<T> (&choices)[N]) {
    const std::optional<std::string> text = String(v, path);
    if (!text) return std::nullopt;
    std::vector<std::string_view> names;
    for (const Choice<T>& choice : choices) {
      if (choice.name == *text) return choice.value;
      names.push_back(choice.name);
    }
    Error(path, Quote(*text) + " is not " + Alternatives(names));
    return std::nullopt;
  }

  std::optional<double> Seconds(const Json& v, const std::string& path, bool positive) {
    if (!v.is_number()) {
      Error(path, "must be a number of seconds, not " + Kind(v));
      return std::nullopt;
    }
    const double seconds = v.get<double>();
    std::string problem;
    if (seconds < 0) {
      problem = "must not be negative";
    } else if (seconds == 0 && positive) {
      problem = "must be greater than 0";
    } else if (!(seconds <= kMaxSeconds)) {
      problem =
          "must be at most " + std::to_string(static_cast<uint64_t>(kMaxSeconds)) + " seconds";
    }
    if (problem.empty()) return seconds;
    Error(path, problem);
    return std::nullopt;
  }

  std::optional<uint64_t> Count(const Json& v, const std::string& path, uint64_t min, uint64_t max,
                                std::string_view why = "") {
    if (!v.is_number_integer()) {
      Error(path, v.is_number() ? "must be an integer, not " + v.dump()
                                : "must be an integer, not " + Kind(v));
      return std::nullopt;
    }
    if (!v.is_number_unsigned()) {
      Error(path, "must not be negative");
      return std::nullopt;
    }
    if (v.get<uint64_t>() < min) {
      Error(path, "must be at least " + std::to_string(min) + std::string(why));
      return std::nullopt;
    }
    if (v.get<uint64_t>() > max) {
      Error(path, "must be at most " + std::to_string(max));
      return std::nullopt;
    }
    return v.get<uint64_t>();
  }

  std::optional<SocketAddress> Address(const Json& v, const std::string& path, bool resolve) {
    const std::optional<std::string> text = String(v, path);
    if (!text) return std::nullopt;
    std::string error;
    std::optional<SocketAddress> address = ParseSocketAddress(*text, resolve, &error);
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
    if (const Json* v = Find(root, "workers")) {
      if (auto n = Count(*v, "workers", 0, kMaxWorkers))
        config_->workers = static_cast<unsigned>(*n);
    }
    ParseStats(Find(root, "stats"));
    if (const Json* v = Find(root, "log")) ParseLog(*v);
    // Before routes: route limits start from the global ones, wherever they are in the file.
    if (const Json* v = Find(root, "limits")) ParseLimits(*v, "limits", &config_->limits);
    ParseTls(Find(root, "tls"));
    if (const Json* v = Required(root, "", "listeners")) ParseListeners(*v);
    if (const Json* v = Required(root, "", "routes")) ParseRoutes(*v);
  }

  void ParseStats(const Json* stats) {
    std::string unused;
    config_->stats_listen = ParseSocketAddress(kDefaultStatsListen, false, &unused);
    if (stats == nullptr || !IsObject(*stats, "stats")) return;
    CheckKeys(*stats, "stats", kStatsKeys);
    const Json* listen = Find(*stats, "listen");
    if (listen == nullptr) return;
    config_->stats_listen =
        listen->is_null() ? std::nullopt : Address(*listen, "stats.listen", false);
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
    config_->certificates.push_back(std::move(certificate));
  }

  void ParseListeners(const Json& listeners) {
    if (!IsArray(listeners, "listeners", false)) return;
    for (size_t i = 0; i < listeners.size(); ++i) {
      ParseListener(listeners[i], Index("listeners", i));
    }
  }

  void ParseListener(const Json& v, const std::string& path) {
    const size_t errors_before = errors_.size();
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
      if (auto address = Address(*listen, Join(path, "listen"), false)) {
        CheckListenUnique(*address, Join(path, "listen"));
        listener.listen = std::move(*address);
      }
    }
    if (const Json* mode = Find(v, "mode")) {
      listener.mode = OneOf(*mode, Join(path, "mode"), kListenerModes).value_or(listener.mode);
    }
    if (errors_.size() == errors_before) config_->listeners.push_back(std::move(listener));
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
    const size_t errors_before = errors_.size();
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
    if (const Json* limits = Find(v, "limits"))
      ParseLimits(*limits, Join(path, "limits"), &route.limits);
    if (errors_.size() == errors_before) config_->routes.push_back(std::move(route));
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

  std::vector<SocketAddress> Backends(const Json& v, const std::string& path) {
    std::vector<SocketAddress> backends;
    if (!IsArray(v, path, false)) return backends;
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto address = Address(v[i], Index(path, i), true)) {
        backends.push_back(std::move(*address));
      }
    }
    return backends;
  }

  const std::string& file_;
  std::vector<std::string> errors_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  std::set<std::string, std::less<>> listener_names_;  // all, even those with errors
  std::set<std::string, std::less<>> route_names_;
};

bool ReadFile(const std::string& path, std::string* text, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::generic_category().message(errno);
    return false;
  }
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      text->append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      if (n < 0) *error = std::generic_category().message(errno);
      close(fd);
      return n == 0;
    }
  }
}

}  // namespace

const ListenerConfig* Config::FindListener(std::string_view name) const {
  for (const ListenerConfig& l : listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

const RouteConfig* Config::SelectRoute(std::string_view listener,
                                       std::string_view server_name) const {
  for (const RouteConfig& route : routes) {
    const bool sni_ok =
        !route.sni ||
        (!server_name.empty() && std::ranges::any_of(*route.sni, [&](const std::string& pattern) {
          return tls::ServerNameMatches(pattern, server_name);
        }));
    const bool listener_ok =
        !route.listeners || std::ranges::find(*route.listeners, listener) != route.listeners->end();
    if (sni_ok && listener_ok) return &route;
  }
  return nullptr;
}

ConfigResult ParseConfig(std::string_view text, const std::string& path) {
  return ConfigParser(path).Run(text);
}

ConfigResult LoadConfig(const std::string& path) {
  std::string text;
  std::string error;
  if (!ReadFile(path, &text, &error)) return {nullptr, {path + ": cannot read: " + error}};
  return ParseConfig(text, path);
}

std::optional<SocketAddress> ParseSocketAddress(std::string_view text, bool resolve_names,
                                                std::string* error) {
  HostPort parts;
  uint16_t port = 0;
  if (!SplitHostPort(text, &parts, error) || !ParsePort(parts.port, &port, error)) {
    return std::nullopt;
  }
  if (parts.host.empty()) {
    *error = "missing host in " + Quote(text) + " (for all addresses use 0.0.0.0 or [::])";
    return std::nullopt;
  }
  SocketAddress address;
  address.text = std::string(text);
  const std::string host(parts.host);
  if (!ParseNumericHost(host, parts.bracketed, &address)) {
    if (parts.bracketed) {
      *error = Quote(host) + " is not an IPv6 address";
      return std::nullopt;
    }
    if (!resolve_names) {
      *error = Quote(host) + " is not an IP address (host names are not allowed here)";
      return std::nullopt;
    }
    if (!ResolveHost(host, &address, error)) return std::nullopt;
  }
  SetPort(&address, port);
  return address;
}

}  // namespace imapfront
