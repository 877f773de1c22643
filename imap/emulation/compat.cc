#include "imap/emulation/compat.h"

namespace imapfront::imap {

Emulations Decide(const CompatOptions& options, const std::vector<std::string>& backend) {
  Emulations on;
  on.idle = options.emulate_idle && !HasCapability(backend, "IDLE");
  on.unselect = options.emulate_unselect && !HasCapability(backend, "UNSELECT");
  on.id = options.local_id && !HasCapability(backend, "ID");
  on.auth_plain = options.emulate_auth_plain && !HasCapability(backend, "AUTH=PLAIN");
  on.special_use = !options.special_use.empty() && !HasCapability(backend, "SPECIAL-USE");
  return on;
}

CapabilityEdit ClientCapabilityEdit(const CompatOptions& options, const Emulations& on,
                                    bool emulate_literal_plus) {
  CapabilityEdit edit;
  edit.add_literal_plus = emulate_literal_plus;
  edit.remove = options.remove;
  if (on.idle) edit.add.emplace_back("IDLE");
  if (on.unselect) edit.add.emplace_back("UNSELECT");
  if (on.id) edit.add.emplace_back("ID");
  if (on.auth_plain) {
    edit.add.emplace_back("AUTH=PLAIN");
    edit.add.emplace_back("SASL-IR");
  }
  if (on.special_use) edit.add.emplace_back("SPECIAL-USE");
  edit.add.insert(edit.add.end(), options.add.begin(), options.add.end());
  return edit;
}

std::string IdResponse(std::string_view version) {
  std::string answer = "* ID (\"name\" \"imapfront\" \"version\" \"";
  answer += version;
  answer += "\")\r\n";
  return answer;
}

}  // namespace imapfront::imap
