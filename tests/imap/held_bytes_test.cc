// HeldBytes: a framer's held bytes, owning memory only while it holds some.
#include "imap/held_bytes.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>

namespace imapfront::imap {
namespace {

TEST_CASE("held bytes: appended bytes come back in order, whatever the growth") {
  HeldBytes held;
  CHECK(held.empty());
  CHECK(held.view().empty());
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    const std::string piece(static_cast<size_t>(i % 7 + 1), static_cast<char>('a' + i % 26));
    if (i % 3 == 0) {
      held.push_back(piece[0]);
      expected.push_back(piece[0]);
    } else {
      held.append(piece);
      expected += piece;
    }
  }
  CHECK(held.size() == expected.size());
  CHECK(held.view() == expected);
  CHECK(held.back() == expected.back());
  CHECK(held[17] == expected[17]);
  CHECK(held.bytes().size() == expected.size());
}

TEST_CASE("held bytes: clear frees the memory, truncate keeps it") {
  HeldBytes held;
  CHECK_FALSE(held.owns_memory());
  held.append(std::string_view("a1 OK done\r\n"));
  CHECK(held.owns_memory());
  held.truncate(2);
  CHECK(held.view() == "a1");
  CHECK(held.owns_memory());
  held.append(std::string_view(" NO"));
  CHECK(held.view() == "a1 NO");
  held.clear();
  CHECK(held.empty());
  CHECK_FALSE(held.owns_memory());
  held.append(std::string_view(""));  // nothing to hold: nothing allocated
  CHECK_FALSE(held.owns_memory());
}

TEST_CASE("held bytes: a move leaves the source empty") {
  HeldBytes a;
  a.append(std::string_view("partial line"));
  HeldBytes b(std::move(a));
  CHECK(b.view() == "partial line");
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK_FALSE(a.owns_memory());
  a.append(std::string_view("x"));
  CHECK(a.view() == "x");
  b = std::move(a);
  CHECK(b.view() == "x");
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace imapfront::imap
