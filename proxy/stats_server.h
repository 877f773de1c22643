// The HTTP/1.1 stats endpoint (SPEC "Stats endpoint"): /healthz, /stats,
// /metrics. Requests are parsed with Node's http_parser; one request per
// connection, answered and closed.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "proxy/config/config.h"
#include "proxy/stats.h"

namespace imapfront {

class StatsServer {
 public:
  // |snapshot| is called on the loop's thread for every /stats or /metrics.
  StatsServer(uv_loop_t* loop, std::function<StatsSnapshot()> snapshot);

  // Binds and listens; returns "" or the reason it could not.
  std::string Listen(const SocketAddress& address);
  void Close();

 private:
  struct Connection;
  static void OnConnection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  std::function<StatsSnapshot()> snapshot_;
  uv_tcp_t tcp_{};
  bool open_ = false;
};

}  // namespace imapfront
