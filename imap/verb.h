// The IMAP commands imapfront treats specially, by name (RFC 9051 6 and the
// extensions it knows). Everything else is kOther and relayed as it is.
#pragma once

#include <cstdint>
#include <string_view>

namespace imapfront::imap {

#define IMAPFRONT_VERBS(X)         \
  X(kAppend, "APPEND")             \
  X(kAuthenticate, "AUTHENTICATE") \
  X(kCapability, "CAPABILITY")     \
  X(kCompress, "COMPRESS")         \
  X(kId, "ID")                     \
  X(kIdle, "IDLE")                 \
  X(kLogin, "LOGIN")               \
  X(kLogout, "LOGOUT")             \
  X(kNoop, "NOOP")                 \
  X(kSelect, "SELECT")             \
  X(kStartTls, "STARTTLS")         \
  X(kUnselect, "UNSELECT")

enum class Verb : uint8_t {
  kOther,
#define IMAPFRONT_VERB_ENUM(id, name) id,
  IMAPFRONT_VERBS(IMAPFRONT_VERB_ENUM)
#undef IMAPFRONT_VERB_ENUM
};

// |name| in any case; kOther when imapfront has no rule for it.
Verb VerbOf(std::string_view name);
// The upper-case name ("" for kOther).
std::string_view VerbName(Verb verb);

}  // namespace imapfront::imap
