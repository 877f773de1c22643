#include "proxy/config_warnings.h"

#include <algorithm>

#include "tls/server_name.h"

namespace imapfront {
namespace {

bool Covered(const std::vector<std::vector<std::string>>& certificates, const std::string& name) {
  return std::ranges::any_of(certificates, [&](const std::vector<std::string>& names) {
    return std::ranges::any_of(names, [&](const std::string& pattern) {
      // A route's wildcard is covered only by the same wildcard.
      return tls::IsWildcardPattern(name) ? tls::EqualsIgnoreAsciiCase(pattern, name)
                                          : tls::ServerNameMatches(pattern, name);
    });
  });
}

std::string Quoted(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

std::string UnresolvedBackendWarning(const Config& config, size_t route, size_t backend,
                                     const std::string& error) {
  return config.path + ": routes[" + std::to_string(route) + "].backends[" +
         std::to_string(backend) + "]: " + error + " (looked up again when a session connects)";
}

std::vector<std::string> ConfigWarnings(const Runtime& runtime, ResolveCheck resolve) {
  const Config& config = *runtime.config;
  const std::string file = config.path + ": ";
  std::vector<std::string> out;
  const std::vector<std::vector<std::string>> names = runtime.tls->CertificateNames();
  for (size_t r = 0; r < config.routes.size(); ++r) {
    const RouteConfig& route = config.routes[r];
    if (!route.sni) continue;
    for (size_t i = 0; i < route.sni->size(); ++i) {
      const std::string& name = (*route.sni)[i];
      if (!Covered(names, name)) {
        out.push_back(file + "routes[" + std::to_string(r) + "].sni[" + std::to_string(i) +
                      "]: no certificate covers " + Quoted(name) +
                      "; its clients get the default certificate");
      }
    }
  }
  if (config.tls_min_version == tls::Version::kTls10 ||
      config.tls_min_version == tls::Version::kTls11) {
    const bool ten = config.tls_min_version == tls::Version::kTls10;
    out.push_back(file + "tls.min_version: " + Quoted(ten ? "1.0" : "1.1") + " lets clients use " +
                  (ten ? "TLS 1.0 and 1.1" : "TLS 1.1") +
                  " (deprecated by RFC 8996) with AES-CBC-SHA suites; set \"1.2\" once the old "
                  "clients are gone");
  }
  for (size_t i : runtime.tls->NeverSelected()) {
    out.push_back(file + "tls.certificates[" + std::to_string(i) + "]: can never be selected: " +
                  (names[i].empty() ? "it has no names (none given, none in the certificate)"
                                    : "an earlier certificate with the same kind of key has all "
                                      "its names"));
  }
  for (size_t l = 0; l < config.listeners.size(); ++l) {
    const ListenerConfig& listener = config.listeners[l];
    if (!config.SelectRoute(listener.name, "")) {
      out.push_back(file + "listeners[" + std::to_string(l) + "]: a client without SNI on " +
                    Quoted(listener.name) +
                    " matches no route (it gets \"* BYE [UNAVAILABLE] No server for this "
                    "name\"); add a route without \"sni\"");
    }
  }
  const bool any_proxy_protocol = std::ranges::any_of(
      config.listeners, [](const ListenerConfig& l) { return l.proxy_protocol; });
  if (!config.trusted_proxies.empty() && !any_proxy_protocol) {
    out.push_back(file +
                  "trusted_proxies: no listener has \"proxy_protocol\": true, so no PROXY "
                  "header is read anywhere");
  }
  for (size_t r = 0; r < config.routes.size(); ++r) {
    const RouteConfig& route = config.routes[r];
    const bool header = route.forward_client == ForwardClient::kProxyV1 ||
                        route.forward_client == ForwardClient::kProxyV2;
    if (header && route.health_check) {
      out.push_back(file + "routes[" + std::to_string(r) +
                    "].health_check: checks connect without a PROXY header; a backend port "
                    "that requires one (Dovecot's haproxy = yes) fails them all");
    }
  }
  if (resolve == ResolveCheck::kNow) {
    for (size_t r = 0; r < config.routes.size(); ++r) {
      const RouteConfig& route = config.routes[r];
      for (size_t b = 0; b < route.backends.size(); ++b) {
        std::string error;
        if (!route.backends[b].numeric && !ResolveNow(route.backends[b], &error)) {
          out.push_back(UnresolvedBackendWarning(config, r, b, error));
        }
      }
    }
  }
  return out;
}

}  // namespace imapfront
