#include "imap/verb.h"

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

struct Entry {
  Verb verb;
  std::string_view name;
};

constexpr Entry kVerbs[] = {
#define IMAPFRONT_VERB_ENTRY(id, name) {Verb::id, name},
    IMAPFRONT_VERBS(IMAPFRONT_VERB_ENTRY)
#undef IMAPFRONT_VERB_ENTRY
};

}  // namespace

Verb VerbOf(std::string_view name) {
  for (const Entry& e : kVerbs) {
    if (EqualsIgnoreCase(e.name, name)) return e.verb;
  }
  return Verb::kOther;
}

std::string_view VerbName(Verb verb) {
  for (const Entry& e : kVerbs) {
    if (e.verb == verb) return e.name;
  }
  return "";
}

}  // namespace imapfront::imap
