// Config's own queries, and the way in: read the file, read the JSON,
// validate it (proxy/config/validate.cc).
#include "proxy/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "proxy/config/json_reader.h"
#include "proxy/config/validate.h"
#include "tls/server_name.h"

namespace imapfront {
namespace {

bool ReadFile(const std::string& path, std::string* text, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::generic_category().message(errno);
    return false;
  }
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      text->append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      if (n < 0) *error = std::generic_category().message(errno);
      close(fd);
      return n == 0;
    }
  }
}

}  // namespace

const ListenerConfig* Config::FindListener(std::string_view name) const {
  for (const ListenerConfig& l : listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

bool UserMatches(std::string_view pattern, std::string_view user) {
  // Greedy with one backtrack point (the last "*"): linear enough for names.
  size_t p = 0, u = 0, star = std::string_view::npos, resume = 0;
  auto same = [](char a, char b) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(a) == lower(b);
  };
  while (u < user.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = u;
    } else if (p < pattern.size() && same(pattern[p], user[u])) {
      ++p;
      ++u;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      u = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const RouteConfig* Config::SelectRoute(std::string_view listener, std::string_view server_name,
                                       const std::string* user) const {
  for (const RouteConfig& route : routes) {
    const bool sni_ok =
        !route.sni ||
        (!server_name.empty() && std::ranges::any_of(*route.sni, [&](const std::string& pattern) {
          return tls::ServerNameMatches(pattern, server_name);
        }));
    const bool listener_ok =
        !route.listeners || std::ranges::find(*route.listeners, listener) != route.listeners->end();
    const bool user_ok =
        !user || !route.users || std::ranges::any_of(*route.users, [&](const std::string& pattern) {
          return UserMatches(pattern, *user);
        });
    if (sni_ok && listener_ok && user_ok) return &route;
  }
  return nullptr;
}

std::vector<std::string> ChangedSections(const Config& before, const Config& after) {
  std::vector<std::string> changed;
  for (const auto& [key, text] : after.sections) {
    auto it = before.sections.find(key);
    if (it == before.sections.end() || it->second != text) changed.push_back(key);
  }
  for (const auto& [key, text] : before.sections) {
    if (!after.sections.contains(key)) changed.push_back(key);
  }
  std::sort(changed.begin(), changed.end());
  return changed;
}

ConfigResult ParseConfig(std::string_view text, const std::string& path) {
  return config::Validate(config::ReadJson(text), path);
}

ConfigResult LoadConfig(const std::string& path) {
  std::string text;
  std::string error;
  if (!ReadFile(path, &text, &error)) return {nullptr, {path + ": cannot read: " + error}};
  return ParseConfig(text, path);
}

}  // namespace imapfront
