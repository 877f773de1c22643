// Literal headers at a line's end.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "imap/literal.h"
#include "tests/support/framer_driver.h"

namespace imapfront::imap {
namespace {

using namespace testing;

TEST_CASE("literal headers") {
  CHECK(ParseLiteralHeader("a APPEND INBOX {12}") == LiteralHeader{12, false, false, 4});
  CHECK(ParseLiteralHeader("a APPEND INBOX {12+}") == LiteralHeader{12, true, false, 5});
  CHECK(ParseLiteralHeader("a APPEND INBOX ~{0}") == LiteralHeader{0, false, true, 4});
  CHECK_FALSE(ParseLiteralHeader("a LOGIN \"{5}\""));
  CHECK_FALSE(ParseLiteralHeader("a X {}"));
  CHECK_FALSE(ParseLiteralHeader("a X {+}"));
  CHECK_FALSE(ParseLiteralHeader("a X {12345678901234567890}"));
  CHECK_FALSE(ParseLiteralHeader("a X 5}"));
}
}  // namespace
}  // namespace imapfront::imap
