#include "proxy/config/json_reader.h"

#include <algorithm>
#include <utility>

#include "proxy/config/messages.h"

namespace imapfront::config {
namespace {

// Builds the document from SAX events; remembers duplicate keys (by path) and
// the syntax error, if any.
class JsonReader : public nlohmann::json_sax<Json> {
 public:
  Json& root() { return root_; }
  std::vector<std::string>& duplicate_keys() { return duplicate_keys_; }
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

}  // namespace

JsonDocument ReadJson(std::string_view text) {
  JsonReader reader;
  // Comments (// to the end of the line, /* ... */) are allowed, as in the
  // shipped example; otherwise strict JSON.
  const bool ok = Json::sax_parse(text.begin(), text.end(), &reader, Json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/true);
  JsonDocument document;
  document.duplicate_keys = std::move(reader.duplicate_keys());
  if (ok) {
    document.root = std::move(reader.root());
  } else {
    document.syntax_error = LineColumn(text, reader.error_byte()) + ": " + reader.error_reason();
  }
  return document;
}

}  // namespace imapfront::config
