// One event-loop thread. It accepts on every listener (its own SO_REUSEPORT
// socket for each) and runs the sessions it accepted until they end.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/limits.h"
#include "proxy/runtime.h"
#include "proxy/session_host.h"
#include "proxy/stats.h"

namespace imapfront {

class Session;

// A listening socket, bound by the server before the workers start.
struct ListenSocket {
  std::string listener;  // the listener's name
  std::string key;       // name@address: what a reload compares
  int fd = -1;
};

// name@address of a configured listener.
std::string ListenerKey(const ListenerConfig& l);

class Worker final : public SessionHost {
 public:
  Worker(size_t index, Stats* stats, ConnectionCounts* counts, AuthThrottle* throttle,
         std::shared_ptr<const Runtime> runtime, std::vector<ListenSocket> sockets);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Thread control, callable from any thread.
  void Start();
  void RequestStop();
  // A reloaded config: listeners |added| start accepting (their sockets are
  // bound already), listeners whose key is in |removed| stop.
  void SetRuntime(std::shared_ptr<const Runtime> runtime, std::vector<ListenSocket> added = {},
                  std::vector<std::string> removed = {});
  void Join();
  // The worker's loop has run to its end (all its sessions are gone).
  bool finished() const { return finished_.load(std::memory_order_acquire); }

  // SessionHost, for sessions on this worker's thread.
  uv_loop_t* loop() override { return &loop_; }
  WorkerStats& stats() override { return stats_->worker(index_); }
  ConnectionCounts& counts() override { return *counts_; }
  AuthThrottle& auth_throttle() override { return *throttle_; }
  DeadlineQueue& deadlines() override { return deadlines_; }
  Resolver& resolver() override { return resolver_; }
  SessionCounters* RouteCounters(const std::string& route) override;
  std::span<uint8_t> read_buffer() override { return read_buffer_; }
  std::span<uint8_t> plain_buffer() override { return plain_buffer_; }
  void Attach(Session* s) override;
  void Detach(Session* s) override;

 private:
  struct Listener {
    uv_tcp_t tcp{};
    Worker* worker = nullptr;
    std::string name;
    std::string key;
    bool closing = false;
    // The config the socket was opened under; serves its connections if a
    // reload drops or renames the listener (listener changes need a restart).
    std::shared_ptr<const Runtime> opened_with;
  };

  static void OnConnection(uv_stream_t* server, int status);
  void AddListener(const ListenSocket& socket, std::shared_ptr<const Runtime> runtime);
  void CloseListener(Listener* l);
  static void OnAsync(uv_async_t* async);
  void Run();
  void Stop();
  void MaybeFinish();

  size_t index_;
  Stats* stats_;
  ConnectionCounts* counts_;
  AuthThrottle* throttle_;
  uv_loop_t loop_{};
  uv_async_t async_{};
  Resolver resolver_{&loop_};
  DeadlineQueue deadlines_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<std::string, SessionCounters*> route_counters_;
  Session* sessions_ = nullptr;
  bool stopping_ = false;

  std::mutex mu_;  // guards the two below, set by other threads
  std::shared_ptr<const Runtime> next_runtime_;
  std::vector<ListenSocket> added_;
  std::vector<std::string> removed_;
  bool stop_requested_ = false;
  std::shared_ptr<const Runtime> runtime_;  // this thread's copy

  // One read takes what a busy client has sent (measured: 64 KiB reads cost
  // 0.93 s/GB on the bulk path, 256 KiB 0.71, 1 MiB no better); its
  // plaintext goes to the backend in one write.
  static constexpr size_t kBufferBytes = 256 * 1024;
  std::unique_ptr<uint8_t[]> read_storage_{new uint8_t[kBufferBytes]};
  std::unique_ptr<uint8_t[]> plain_storage_{new uint8_t[kBufferBytes]};
  std::span<uint8_t> read_buffer_{read_storage_.get(), kBufferBytes};
  std::span<uint8_t> plain_buffer_{plain_storage_.get(), kBufferBytes};
};

}  // namespace imapfront
