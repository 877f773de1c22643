// Typed access to the config document. Each accessor reports what is wrong as
// "FILE: JSON.PATH: reason" and returns null, nullopt or false; the caller
// goes on, so that one run reports every problem.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/config/json_reader.h"
#include "proxy/config/messages.h"

namespace imapfront::config {

// One accepted spelling of an enumerated setting and what it means.
template <typename T>
struct Choice {
  std::string_view name;
  T value;
};

// "an object", "a string", ... for "must be X, not Y" messages.
std::string Kind(const Json& v);

class JsonChecks {
 public:
  explicit JsonChecks(const std::string& file) : file_(file) {}

  void Error(const std::string& path, const std::string& reason);
  size_t error_count() const { return errors_.size(); }
  std::vector<std::string> TakeErrors() { return std::move(errors_); }

  static const Json* Find(const Json& object, std::string_view key);
  const Json* Required(const Json& object, const std::string& path, std::string_view key);
  bool IsObject(const Json& v, const std::string& path);
  bool IsArray(const Json& v, const std::string& path, bool allow_empty);
  // Reports every key of |object| not in |known|, with a suggestion.
  void CheckKeys(const Json& object, const std::string& path,
                 std::span<const std::string_view> known);

  // A non-empty string.
  std::optional<std::string> String(const Json& v, const std::string& path);
  std::optional<std::string> RequiredString(const Json& object, const std::string& path,
                                            std::string_view key);

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

  // A duration; |positive|: 0 is not allowed.
  std::optional<double> Seconds(const Json& v, const std::string& path, bool positive);
  // An integer in [min, max]; |why| explains |min|.
  std::optional<uint64_t> Count(const Json& v, const std::string& path, uint64_t min, uint64_t max,
                                std::string_view why = "");

 private:
  const std::string& file_;
  std::vector<std::string> errors_;
};

}  // namespace imapfront::config
