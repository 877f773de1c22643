#include "proxy/config/json_checks.h"

#include <algorithm>

namespace imapfront::config {
namespace {

// Keeps every duration representable as libuv's uint64_t milliseconds.
constexpr double kMaxSeconds = 1e9;

}  // namespace

std::string Kind(const Json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "null";
}

void JsonChecks::Error(const std::string& path, const std::string& reason) {
  errors_.push_back(file_ + ": " + (path.empty() ? "" : path + ": ") + reason);
}

const Json* JsonChecks::Find(const Json& object, std::string_view key) {
  const auto it = object.find(std::string(key));
  return it == object.end() ? nullptr : &*it;
}

const Json* JsonChecks::Required(const Json& object, const std::string& path,
                                 std::string_view key) {
  const Json* value = Find(object, key);
  if (value == nullptr) Error(Join(path, key), "missing required key");
  return value;
}

bool JsonChecks::IsObject(const Json& v, const std::string& path) {
  if (!v.is_object()) Error(path, "must be an object, not " + Kind(v));
  return v.is_object();
}

bool JsonChecks::IsArray(const Json& v, const std::string& path, bool allow_empty) {
  if (!v.is_array()) {
    Error(path, "must be an array, not " + Kind(v));
    return false;
  }
  if (v.empty() && !allow_empty) Error(path, "must not be empty");
  return !v.empty() || allow_empty;
}

void JsonChecks::CheckKeys(const Json& object, const std::string& path,
                           std::span<const std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::ranges::find(known, key) != known.end()) continue;
    Error(Join(path, key), "unknown key" + Suggestion(key, known));
  }
}

std::optional<std::string> JsonChecks::String(const Json& v, const std::string& path) {
  if (!v.is_string()) {
    Error(path, "must be a string, not " + Kind(v));
    return std::nullopt;
  }
  const auto& text = v.get_ref<const std::string&>();
  if (text.empty()) Error(path, "must not be empty");
  return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

std::optional<std::string> JsonChecks::RequiredString(const Json& object, const std::string& path,
                                                      std::string_view key) {
  const Json* value = Required(object, path, key);
  return value == nullptr ? std::nullopt : String(*value, Join(path, key));
}

std::optional<double> JsonChecks::Seconds(const Json& v, const std::string& path, bool positive) {
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
    problem = "must be at most " + std::to_string(static_cast<uint64_t>(kMaxSeconds)) + " seconds";
  }
  if (problem.empty()) return seconds;
  Error(path, problem);
  return std::nullopt;
}

std::optional<uint64_t> JsonChecks::Count(const Json& v, const std::string& path, uint64_t min,
                                          uint64_t max, std::string_view why) {
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

}  // namespace imapfront::config
