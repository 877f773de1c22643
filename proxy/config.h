// Forwarding header: the config lives in proxy/config/.
#pragma once

#include "proxy/config/config.h"  // IWYU pragma: export
