// routes[].compat: what imapfront emulates for a backend that lacks it
// (SPEC "Legacy backends"). The options are the route's; Emulations are what
// one session actually emulates, decided from the backend's capabilities.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imap/capabilities.h"

namespace imapfront::imap {

struct CompatOptions {
  bool emulate_idle = false;
  double idle_poll_interval = 30;  // seconds
  bool emulate_unselect = false;
  bool local_id = false;
  bool emulate_auth_plain = false;
  // Mailbox name (as LIST sends it) -> attribute ("\\Sent"), in config order.
  std::vector<std::pair<std::string, std::string>> special_use;
  bool pipelining = true;
  std::vector<std::string> remove;  // capabilities.remove
  std::vector<std::string> add;     // capabilities.add

  // Some emulation is asked for: the backend's capabilities must be known
  // before the client sees anything.
  bool Discovers() const {
    return emulate_idle || emulate_unselect || local_id || emulate_auth_plain ||
           !special_use.empty();
  }
  // Anything differs from a plain relay.
  bool Any() const { return Discovers() || !pipelining || !remove.empty() || !add.empty(); }
};

struct Emulations {
  bool idle = false;
  bool unselect = false;
  bool id = false;
  bool auth_plain = false;
  bool special_use = false;
};

// What to emulate for a backend that advertised |backend| (its capability
// names): what |options| asks for and the backend lacks.
Emulations Decide(const CompatOptions& options, const std::vector<std::string>& backend);

// The edit of every list clients see: the route's remove, then the emulated
// names and the route's add.
CapabilityEdit ClientCapabilityEdit(const CompatOptions& options, const Emulations& on,
                                    bool emulate_literal_plus);

// imapfront's own answer to ID (RFC 2971), its untagged part:
// * ID ("name" "imapfront" "version" "|version|")
std::string IdResponse(std::string_view version);

}  // namespace imapfront::imap
