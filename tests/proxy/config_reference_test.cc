// The config reference, imapfront.json(5), describes every key the
// validator accepts and no other: deploy/man/imapfront.json.5.scd introduces
// each key with a line that is only its path in bold ("*tls.min_version*").
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "proxy/config/validate.h"

namespace imapfront::config {
namespace {

std::string ReadReference() {
  std::ifstream in(IMAPFRONT_SOURCE_DIR "/deploy/man/imapfront.json.5.scd");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Joined(const std::set<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += "\n  " + k;
  return out;
}

TEST_CASE("config reference: every key the parser knows is described, and no other") {
  const std::string text = ReadReference();
  REQUIRE_MESSAGE(!text.empty(), "deploy/man/imapfront.json.5.scd is missing or empty");
  std::set<std::string> documented;
  const std::regex key_line(R"(^\*([a-z_]+(\[\])?(\.[a-z_]+(\[\])?)*)\*$)");
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, key_line)) {
      CHECK_MESSAGE(documented.insert(m[1]).second, "described twice: ", m[1].str());
    }
  }
  const std::vector<std::string> known_list = KnownKeyPaths();
  const std::set<std::string> known(known_list.begin(), known_list.end());
  // Objects and arrays of objects have a line of their own as well.
  std::set<std::string> expected = known;
  for (const std::string& key : known) {
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
      std::string parent = key.substr(0, dot);
      if (parent.ends_with("[]")) parent.resize(parent.size() - 2);
      expected.insert(parent);
    }
  }
  std::set<std::string> missing, unknown;
  std::ranges::set_difference(expected, documented, std::inserter(missing, missing.end()));
  std::ranges::set_difference(documented, expected, std::inserter(unknown, unknown.end()));
  CHECK_MESSAGE(missing.empty(), "keys the reference does not describe:", Joined(missing));
  CHECK_MESSAGE(unknown.empty(),
                "keys the reference describes but the parser rejects:", Joined(unknown));
  // The test can fail: the parser's list is not empty and has nested keys.
  CHECK(known.contains("tls.certificates[].ocsp"));
  CHECK(known.contains("routes[].health_check.rise"));
  CHECK(known.size() > 50);
}

}  // namespace
}  // namespace imapfront::config
