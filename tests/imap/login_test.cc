// Login names for the access log.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "imap/literal.h"
#include "imap/login.h"
#include "tests/support/framer_driver.h"
#include "tls/base64.h"

namespace imapfront::imap {
namespace {

using namespace testing;

// BoringSSL's, as the binary gives it.
constexpr Base64Decoder kDecode = &tls::DecodeBase64;

TEST_CASE("login user names: atom, quoted, literal, AUTHENTICATE PLAIN") {
  CHECK(ParseLoginUser("a LOGIN alice secret")->user == "alice");
  CHECK(ParseLoginUser("a LOGIN \"al \\\"ice\" secret")->user == "al \"ice");
  auto literal = ParseLoginUser("a LOGIN {5}");
  REQUIRE(literal);
  CHECK(literal->in_literal);
  CHECK(ParseLoginUser("a LOGIN {5+}")->in_literal);
  CHECK_FALSE(ParseLoginUser("a LOGIN"));
  CHECK(PlainAuthcid("AGJvYgBodW50ZXIy", kDecode) == "bob");          // \0bob\0hunter2
  CHECK(PlainAuthcid("YWRtaW4AYm9iAGh1bnRlcjI=", kDecode) == "bob");  // admin\0bob\0hunter2
  CHECK_FALSE(PlainAuthcid("not base64!", kDecode));
  CHECK_FALSE(PlainAuthcid("Ym9i", kDecode));  // no NULs
  CHECK(ParseAuthenticatePlain("a AUTHENTICATE plain AGJvYgBodW50ZXIy", kDecode)->user == "bob");
  CHECK(ParseAuthenticatePlain("a AUTHENTICATE PLAIN", kDecode)->response_follows);
  CHECK_FALSE(ParseAuthenticatePlain("a AUTHENTICATE PLAIN", kDecode)->user.size());
  CHECK_FALSE(ParseAuthenticatePlain("a AUTHENTICATE XOAUTH2 abc", kDecode));
  CHECK_FALSE(ParseAuthenticatePlain("a AUTHENTICATE PLAINX", kDecode));
  CHECK(ToSyncLiteral("a APPEND x {12+}\r\n") == "a APPEND x {12}\r\n");
  CHECK(ToSyncLiteral(" (\\Seen) ~{3+}\n") == " (\\Seen) ~{3}\n");
}

}  // namespace
}  // namespace imapfront::imap
