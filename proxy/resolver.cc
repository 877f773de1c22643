#include "proxy/resolver.h"

#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "proxy/config/socket_address.h"

namespace imapfront {

namespace {

ResolveResult WithPort(const ResolveResult& r, uint16_t port) {
  ResolveResult out = r;
  SetPort(&out.addr, port);
  return out;
}

}  // namespace

Resolver::~Resolver() {
  // The loop has run to its end: no lookup can still be in flight (libuv
  // keeps the loop alive for them). Waits left are simply forgotten.
  for (auto& [host, lookup] : lookups_) {
    for (ResolveWait* w = lookup->waiters; w; w = w->next) w->lookup = nullptr;
  }
}

bool Resolver::Lookup(const std::string& host, ResolveWait* wait, ResolveResult* result) {
  const uint64_t now = uv_now(loop_);
  if (auto it = cache_.find(host); it != cache_.end()) {
    if (now < it->second.expires_ms) {
      *result = WithPort(it->second.result, wait->port);
      return true;
    }
    cache_.erase(it);
  }
  auto it = lookups_.find(host);
  if (it == lookups_.end()) {
    auto lookup = std::make_unique<ResolverLookup>();
    lookup->owner = this;
    lookup->host = host;
    lookup->req.data = lookup.get();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const int r =
        uv_getaddrinfo(loop_, &lookup->req, &Resolver::OnResolved, host.c_str(), nullptr, &hints);
    if (r < 0) {
      result->error = std::string("cannot resolve \"") + host + "\": " + uv_strerror(r);
      return true;
    }
    it = lookups_.emplace(host, std::move(lookup)).first;
  }
  ResolverLookup* lookup = it->second.get();
  wait->prev = nullptr;
  wait->next = lookup->waiters;
  if (lookup->waiters) lookup->waiters->prev = wait;
  lookup->waiters = wait;
  wait->lookup = lookup;
  return false;
}

void Resolver::Cancel(ResolveWait* wait) {
  ResolverLookup* lookup = wait->lookup;
  if (!lookup) return;
  if (wait->prev) {
    wait->prev->next = wait->next;
  } else {
    lookup->waiters = wait->next;
  }
  if (wait->next) wait->next->prev = wait->prev;
  wait->next = wait->prev = nullptr;
  wait->lookup = nullptr;
  // The lookup itself runs on: its answer fills the cache for the next one.
}

void Resolver::CancelLookups() {
  for (auto& [host, lookup] : lookups_) uv_cancel(reinterpret_cast<uv_req_t*>(&lookup->req));
}

void Resolver::OnResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* lookup = static_cast<ResolverLookup*>(req->data);
  ResolveResult result;
  if (status < 0 || res == nullptr) {
    result.error = "cannot resolve \"" + lookup->host +
                   "\": " + (status < 0 ? uv_strerror(status) : "no address");
  } else if (res->ai_addrlen <= sizeof(result.addr)) {
    std::memcpy(&result.addr, res->ai_addr, res->ai_addrlen);
    result.addr_len = res->ai_addrlen;
  } else {
    result.error = "cannot resolve \"" + lookup->host + "\": address too long";
  }
  uv_freeaddrinfo(res);
  lookup->owner->Finish(lookup, std::move(result));
}

void Resolver::Finish(ResolverLookup* lookup, ResolveResult result) {
  const uint64_t ttl = result.ok() ? answer_ttl_ms_ : failure_ttl_ms_;
  cache_[lookup->host] = Cached{result, uv_now(loop_) + ttl};
  // Take the lookup out first: a waiter's callback may start a new Lookup.
  auto node = lookups_.extract(lookup->host);
  std::vector<ResolveWait*> waiters;
  for (ResolveWait* w = lookup->waiters; w; w = w->next) waiters.push_back(w);
  lookup->waiters = nullptr;
  for (ResolveWait* w : waiters) {
    w->next = w->prev = nullptr;
    w->lookup = nullptr;
  }
  for (ResolveWait* w : waiters) w->done(w, WithPort(result, w->port));
}

}  // namespace imapfront
