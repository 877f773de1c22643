// What a Session needs from the worker that runs it, and nothing more: the
// loop, the shared read buffers, the counters and the caps.
#pragma once

#include <uv.h>

#include <cstdint>
#include <span>
#include <string>

#include "proxy/auth_throttle.h"
#include "proxy/deadline_queue.h"
#include "proxy/limits.h"
#include "proxy/resolver.h"
#include "proxy/stats.h"

namespace imapfront {

class Session;

class SessionHost {
 public:
  virtual uv_loop_t* loop() = 0;
  // Socket reads land here (one read at a time per loop), so idle sessions
  // own no read buffer.
  virtual std::span<uint8_t> read_buffer() = 0;
  // Decrypted bytes land here before they are written or queued.
  virtual std::span<uint8_t> plain_buffer() = 0;
  virtual WorkerStats& stats() = 0;
  virtual ConnectionCounts& counts() = 0;
  // Failed logins per client address, shared by every worker.
  virtual AuthThrottle& auth_throttle() = 0;
  // The sessions' deadlines, on one timer; it fires Session::OnDeadline.
  virtual DeadlineQueue& deadlines() = 0;
  // Backend host names, resolved off the loop and cached.
  virtual Resolver& resolver() = 0;
  // This host's counters for |route|; the pointer stays valid.
  virtual SessionCounters* RouteCounters(const std::string& route) = 0;
  // A session is born (in its constructor) and dies (in its destructor).
  virtual void Attach(Session* session) = 0;
  virtual void Detach(Session* session) = 0;

 protected:
  ~SessionHost() = default;
};

}  // namespace imapfront
