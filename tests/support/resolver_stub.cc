// A resolver the end-to-end tests own, preloaded into imapfront
// (LD_PRELOAD): names under ".test" (RFC 6761) are looked up in the file
// named by IMAPFRONT_TEST_HOSTS ("NAME ADDRESS" per line, read on every
// call), and nowhere else; any other name goes to the real getaddrinfo.
// So a test can make a backend name fail, then resolve, with no network.
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern "C" {

typedef int (*getaddrinfo_fn)(const char*, const char*, const struct addrinfo*, struct addrinfo**);

static int ends_with_test(const char* node) {
  size_t n = strlen(node);
  return n > 5 && strcasecmp(node + n - 5, ".test") == 0;
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                struct addrinfo** res) {
  const auto real = reinterpret_cast<getaddrinfo_fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  const char* hosts = getenv("IMAPFRONT_TEST_HOSTS");
  if (!node || !hosts || !ends_with_test(node)) return real(node, service, hints, res);
  FILE* f = fopen(hosts, "r");
  if (!f) return EAI_NONAME;
  char name[256], address[64];
  int found = 0;
  while (fscanf(f, "%255s %63s", name, address) == 2) {
    if (strcasecmp(name, node) == 0) {
      found = 1;
      break;
    }
  }
  fclose(f);
  if (!found) return EAI_NONAME;
  struct addrinfo numeric {};
  if (hints) numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  return real(address, service, &numeric, res);
}

}  // extern "C"
