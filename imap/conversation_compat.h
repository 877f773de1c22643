// The Conversation's routes[].compat state: made only for a route that has
// compat. Private to imap/conversation*.cc.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "imap/conversation.h"

namespace imapfront::imap {

struct Conversation::Compat {
  const CompatOptions* options = nullptr;
  std::string version;
  Base64Decoder decode_base64 = nullptr;
  bool emulate_literal_plus = false;

  bool discovering = false;
  std::optional<std::string> held_greeting;  // shown once discovery has ended
  std::vector<std::string> probed;           // the probe's CAPABILITY names
  Emulations on;
  CapabilityEdit edit;  // the capability lists clients see
  // Client tags in flight that imapfront answers itself (an emulated IDLE
  // or UNSELECT): the backend is not busy with them.
  size_t local_tags = 0;
  // An emulated command that came while the backend still had earlier ones:
  // served once they are answered, so that its answers come in order. The
  // client's stream waits behind it.
  std::optional<std::string> deferred;
  bool deferred_end = false;

  // Emulated IDLE.
  std::string idle_tag;
  bool idling = false;        // between "+ idling" and DONE
  bool done_pending = false;  // DONE came while a poll was outstanding
  bool done_bad = false;      // ... and it was not "DONE"
  bool poll_outstanding = false;

  // Emulated AUTHENTICATE PLAIN.
  std::string auth_tag;
  bool awaiting_response = false;  // imapfront sent "+ "; the client's response comes
  std::vector<std::string> login;  // LOGIN pieces still to send (hold the password)
  size_t login_next = 0;
};

}  // namespace imapfront::imap
