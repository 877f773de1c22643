// SPECIAL-USE attributes added to LIST/LSUB responses.
#include <doctest/doctest.h>

#include "imap/emulation/special_use.h"

namespace imapfront::imap {
namespace {

const SpecialUseMap kMap = {{"Sent Items", "\\Sent"}, {"Junk", "\\Junk"}, {"INBOX", "\\Important"}};

TEST_CASE("special_use: atom, quoted string and literal names get their attribute") {
  CHECK(AddSpecialUse("* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n", kMap) ==
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n");
  CHECK(AddSpecialUse("* LSUB () \".\" Junk\r\n", kMap) == "* LSUB (\\Junk) \".\" Junk\r\n");
  CHECK(AddSpecialUse("* LIST () NIL {10}\r\nSent Items\r\n", kMap) ==
        "* LIST (\\Sent) NIL {10}\r\nSent Items\r\n");
  CHECK(AddSpecialUse("* LIST (\\Marked) \"/\" inbox\r\n", kMap) ==
        "* LIST (\\Marked \\Important) \"/\" inbox\r\n");
  // Extended data after the name stays as it was.
  CHECK(AddSpecialUse("* LIST () \"/\" Junk (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n", kMap) ==
        "* LIST (\\Junk) \"/\" Junk (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
}

TEST_CASE("special_use: nothing changes when the name differs or the attribute is there") {
  CHECK_FALSE(AddSpecialUse("* LIST () \"/\" \"sent items\"\r\n", kMap));  // exact, not INBOX
  CHECK_FALSE(AddSpecialUse("* LIST (\\sent) \"/\" \"Sent Items\"\r\n", kMap));
  CHECK_FALSE(AddSpecialUse("* LIST () \"/\" \"Sent Items/Old\"\r\n", kMap));
  CHECK_FALSE(AddSpecialUse("* LIST () \"/\" {10}\r\nSent Itemz\r\n", kMap));
  CHECK_FALSE(AddSpecialUse("* LIST () \"/\" {10}\r\nSent\r\n", kMap));  // cut short
  CHECK_FALSE(AddSpecialUse("* LIST broken\r\n", kMap));
  CHECK_FALSE(AddSpecialUse("* LIST (\\X\r\n", kMap));
  CHECK_FALSE(AddSpecialUse("* LIST () \"/\r\n", kMap));
}

}  // namespace
}  // namespace imapfront::imap
