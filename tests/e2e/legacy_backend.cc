#include "tests/e2e/legacy_backend.h"

#include <algorithm>
#include <thread>

namespace imapfront::testing {
namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// One command, its literals read: tag, name and the first line.
struct Command {
  std::string tag, name, line;
};

std::string Answer(const LegacyScript& s, const Command& c, size_t* polls) {
  static const std::vector<std::string> kUnknown = {"IDLE",         "UNSELECT", "ID",
                                                    "AUTHENTICATE", "CLOSE",    "DONE"};
  const std::string& t = c.tag;
  if (c.name.empty() || std::find(kUnknown.begin(), kUnknown.end(), c.name) != kUnknown.end()) {
    return t + " BAD Command not recognized\r\n";
  }
  if (c.name == "CAPABILITY") {
    return "* CAPABILITY " + s.capabilities + "\r\n" + t + " OK CAPABILITY completed\r\n";
  }
  if (c.name == "NOOP") {
    if (t.rfind("imapfront", 0) != 0) return t + " OK NOOP completed\r\n";
    const size_t n = (*polls)++;
    return (n < s.poll_untagged.size() ? s.poll_untagged[n] : std::string()) + "\x01" + t +
           " OK NOOP completed\r\n";  // \x01: where poll_delay goes
  }
  if (c.name == "SELECT" && c.line.find("imapfront/unselect") != std::string::npos) {
    return t + " " + s.no_such_mailbox + "\r\n";
  }
  if (c.name == "SELECT") {
    return "* 3 EXISTS\r\n* FLAGS (\\Seen)\r\n" + t + " OK [READ-WRITE] SELECT completed\r\n";
  }
  if (c.name == "LIST" || c.name == "LSUB") {
    const std::string r = "* " + c.name + " ";
    return r + "(\\HasNoChildren) \"/\" \"Sent Items\"\r\n" + r +
           "() \"/\" {13}\r\nDeleted Items\r\n" + r + "(\\HasNoChildren) \"/\" Inbox\r\n" + r +
           "(\\HasNoChildren) \"/\" Notes\r\n" + r + "(\\Drafts) \"/\" Drafts\r\n" + t + " OK " +
           c.name + " completed\r\n";
  }
  if (c.name == "LOGIN") {
    return t + " OK [CAPABILITY " + s.capabilities + "] LOGIN completed\r\n";
  }
  return t + " OK " + c.name + " completed\r\n";
}

}  // namespace

ScriptedBackend::Script LegacyImap(LegacyScript script) {
  return [script](BackendConnection& c) {
    c.Send(script.greeting);
    size_t pos = 0;
    size_t polls = 0;
    Command command;
    for (int step = 0; step < 100000; ++step) {
      std::string all = c.received();
      const size_t eol = all.find("\r\n", pos);
      if (eol == std::string::npos) {
        if (!c.ReadBytes(all.size() + 1)) return;
        continue;
      }
      const std::string line = all.substr(pos, eol - pos);
      if (command.line.empty()) {
        command.line = line;
        command.tag = line.substr(0, line.find(' '));
        const size_t name_start = std::min(line.size(), command.tag.size() + 1);
        command.name = Upper(line.substr(name_start, line.find(' ', name_start) - name_start));
      }
      const size_t open = line.rfind('{');
      if (!line.empty() && line.back() == '}' && open != std::string::npos) {
        std::string size = line.substr(open + 1, line.size() - open - 2);
        const bool plus = !size.empty() && size.back() == '+';
        if (plus) size.pop_back();
        if (!plus) c.Send("+ Ready for additional command text\r\n");
        pos = eol + 2 + std::stoull(size);
        if (!c.ReadBytes(pos)) return;
        continue;
      }
      pos = eol + 2;
      if (script.answer_delay.count() > 0) std::this_thread::sleep_for(script.answer_delay);
      // Pipelined: the next command is here before this one's answer.
      if (script.answer_delay.count() > 0) c.ReadBytes(pos + 1, Duration(5));
      if (c.received().size() > pos) ++*script.pipelined;
      if (command.name == "LOGOUT") {
        c.Send("* BYE Microsoft Exchange Server 2003 IMAP4rev1 server signing off\r\n" +
               command.tag + " OK LOGOUT completed\r\n");
        c.socket().Close();
        return;
      }
      const std::string answer = Answer(script, command, &polls);
      const size_t split = answer.find('\x01');
      if (split == std::string::npos) {
        c.Send(answer);
      } else {
        c.Send(answer.substr(0, split));
        if (script.poll_delay.count() > 0) std::this_thread::sleep_for(script.poll_delay);
        c.Send(answer.substr(split + 1));
      }
      command = Command();
    }
  };
}

}  // namespace imapfront::testing
