#include "tests/e2e/login_backend.h"

#include <vector>

namespace imapfront::testing {
namespace {

// The arguments of a command: atoms, quoted strings (unescaped) and
// literals, in order; |text| holds the lines, literals marked by index.
struct Command {
  std::vector<std::string> arguments;
  std::string tag;
  std::string name;
};

Command Parse(const std::vector<std::string>& pieces, const std::vector<bool>& literal) {
  Command c;
  std::vector<std::string> tokens;
  for (size_t p = 0; p < pieces.size(); ++p) {
    if (literal[p]) {
      tokens.push_back(pieces[p]);
      continue;
    }
    const std::string& s = pieces[p];
    for (size_t i = 0; i < s.size();) {
      if (s[i] == ' ') {
        ++i;
      } else if (s[i] == '"') {
        std::string t;
        for (++i; i < s.size() && s[i] != '"'; ++i) {
          if (s[i] == '\\') ++i;
          if (i < s.size()) t += s[i];
        }
        ++i;
        tokens.push_back(t);
      } else {
        size_t end = s.find(' ', i);
        if (end == std::string::npos) end = s.size();
        tokens.push_back(s.substr(i, end - i));
        i = end;
      }
    }
  }
  if (!tokens.empty()) c.tag = tokens[0];
  if (tokens.size() > 1) c.name = tokens[1];
  for (size_t i = 2; i < tokens.size(); ++i) c.arguments.push_back(tokens[i]);
  return c;
}

}  // namespace

ScriptedBackend::Script LoginImap(LoginScript script) {
  return [script](BackendConnection& c) {
    c.Send(script.greeting);
    size_t pos = 0;
    std::vector<std::string> pieces;
    std::vector<bool> literal;
    bool logged_in = false;
    for (int step = 0; step < 100000; ++step) {
      const std::string all = c.received();
      const size_t eol = all.find("\r\n", pos);
      if (eol == std::string::npos) {
        if (!c.ReadBytes(all.size() + 1)) return;
        continue;
      }
      std::string line = all.substr(pos, eol - pos);
      pos = eol + 2;
      const size_t open = line.rfind('{');
      if (!line.empty() && line.back() == '}' && open != std::string::npos) {
        const std::string size = line.substr(open + 1, line.size() - open - 2);
        pieces.push_back(line.substr(0, open));
        literal.push_back(false);
        c.Send("+ Ready for literal data\r\n");
        const size_t n = std::stoull(size);
        if (!c.ReadBytes(pos + n)) return;
        pieces.push_back(c.received().substr(pos, n));
        literal.push_back(true);
        pos += n;
        continue;
      }
      pieces.push_back(line);
      literal.push_back(false);
      const Command command = Parse(pieces, literal);
      pieces.clear();
      literal.clear();
      std::string name = command.name;
      for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (name == "LOGIN" && !logged_in) {
        const auto it = command.arguments.size() == 2 ? script.accounts.find(command.arguments[0])
                                                      : script.accounts.end();
        if (it != script.accounts.end() && it->second == command.arguments[1]) {
          logged_in = true;
          c.Send(command.tag + " OK" + (script.ok_text.empty() ? "" : " " + script.ok_text) +
                 "\r\n");
        } else {
          c.Send(command.tag + " NO [AUTHENTICATIONFAILED] Backend secret text: bad password\r\n");
        }
      } else if (name == "CAPABILITY") {
        c.Send(script.capability + command.tag + " OK CAPABILITY completed\r\n");
      } else if (name == "LOGOUT") {
        c.Send("* BYE logging out\r\n" + command.tag + " OK LOGOUT completed\r\n");
        c.socket().Close();
        return;
      } else {
        c.Send("* OK [" + script.name + "] here\r\n" + command.tag + " OK done\r\n");
      }
    }
  };
}

}  // namespace imapfront::testing
