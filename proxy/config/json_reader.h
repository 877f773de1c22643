// Reading the config text into a JSON document without exceptions. A SAX
// reader builds the document, records duplicate keys (by path) and turns a
// syntax error into "line L column C: reason". Comments (// and /* */) are
// skipped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace imapfront::config {

// Ordered, so that errors come out in the order of the file.
using Json = nlohmann::ordered_json;

struct JsonDocument {
  Json root;                                // complete only when syntax_error is empty
  std::vector<std::string> duplicate_keys;  // JSON paths, in the order of the file
  std::string syntax_error;                 // "line 3 column 3: syntax error ..."; "" if none
};

JsonDocument ReadJson(std::string_view text);

}  // namespace imapfront::config
