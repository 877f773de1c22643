// What a config may say that is legal but almost certainly not meant (SPEC
// "Operating it"): --check-config prints these and still exits 0, the
// server logs them at start and reload.
#pragma once

#include <string>
#include <vector>

#include "proxy/runtime.h"

namespace imapfront {

enum class ResolveCheck { kSkip, kNow };

// "FILE: JSON.PATH: text" lines for: a route sni name no certificate covers,
// a certificate that can never be selected, a listener on which a connection
// without SNI matches no route, and (kNow: blocking lookups, never on a
// worker loop) a backend name that does not resolve now.
std::vector<std::string> ConfigWarnings(const Runtime& runtime, ResolveCheck resolve);

// The warning for routes[|route|].backends[|backend|] of |config|, whose
// name did not resolve: |error| is "cannot resolve "NAME": why".
std::string UnresolvedBackendWarning(const Config& config, size_t route, size_t backend,
                                     const std::string& error);

}  // namespace imapfront
