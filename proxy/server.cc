#include "proxy/server.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include "proxy/limits.h"
#include "proxy/log.h"
#include "proxy/stats_server.h"
#include "proxy/worker.h"

namespace imapfront {
namespace {

// SO_REUSEPORT would let us share a port with another process of the same
// user (a second imapfront, started by mistake, would silently take half the
// connections). A plain bind finds any such holder first.
bool AddressIsFree(const SocketAddress& address, std::string* error) {
  int fd = socket(address.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return false;
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (address.addr.ss_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  }
  bool free = bind(fd, address.sa(), address.addr_len) == 0;
  if (!free) *error = std::strerror(errno);
  close(fd);
  return free;
}

// A listening socket of our own, so that every worker can have one on the
// same address (SO_REUSEPORT: the kernel spreads connections over them).
int OpenListenSocket(const SocketAddress& address, std::string* error) {
  int fd = socket(address.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
  if (address.addr.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  if (bind(fd, address.sa(), address.addr_len) != 0 || listen(fd, 511) != 0) {
    *error = std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// Each session needs two descriptors; take all the kernel allows us.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

class Server {
 public:
  Server(std::string path, Runtime runtime)
      : path_(std::move(path)), runtime_(std::make_shared<Runtime>(std::move(runtime))) {}

  int Run();

 private:
  bool OpenWorkers(size_t count);
  void Reload();
  bool ApplyReload(Runtime next);
  void ReopenAccessLog();
  void Stop();
  double Uptime() { return static_cast<double>(uv_hrtime() - start_ns_) / 1e9; }

  std::string path_;
  std::shared_ptr<const Runtime> runtime_;
  uv_loop_t loop_{};
  uv_signal_t sigterm_{}, sigint_{}, sighup_{}, sigusr1_{};
  uv_timer_t stop_timer_{};  // while stopping: waits for the workers to finish
  // Every access log a running session may still write to (a reload can
  // change the path while older sessions keep the old one).
  std::vector<std::weak_ptr<AccessLog>> access_logs_;
  std::unique_ptr<Stats> stats_;
  ConnectionCounts counts_;
  std::unique_ptr<StatsServer> stats_server_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint64_t start_ns_ = uv_hrtime();
  bool stopping_ = false;
};

bool Server::OpenWorkers(size_t count) {
  const Config& config = *runtime_->config;
  stats_ = std::make_unique<Stats>(count);
  auto report = [&](size_t i, const std::string& error) {
    const ListenerConfig& l = config.listeners[i];
    Logf(LogLevel::kError, "cannot listen on %s (listeners[%zu] \"%s\"): %s", l.listen.text.c_str(),
         i, l.name.c_str(), error.c_str());
  };
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    std::string error;
    if (!AddressIsFree(config.listeners[i].listen, &error)) {
      report(i, error);
      return false;
    }
  }
  for (size_t w = 0; w < count; ++w) {
    std::vector<ListenSocket> sockets;
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      const ListenerConfig& l = config.listeners[i];
      std::string error;
      int fd = OpenListenSocket(l.listen, &error);
      if (fd < 0) {
        report(i, error);
        for (ListenSocket& s : sockets) close(s.fd);
        return false;
      }
      sockets.push_back({l.name, ListenerKey(l), fd});
    }
    workers_.push_back(
        std::make_unique<Worker>(w, stats_.get(), &counts_, runtime_, std::move(sockets)));
  }
  return true;
}

int Server::Run() {
  const Config& config = *runtime_->config;
  access_logs_.push_back(runtime_->access_log);
  SetLogLevel(config.log_level);
  RaiseDescriptorLimit();
  size_t count = config.workers ? config.workers : uv_available_parallelism();
  if (!OpenWorkers(count)) {
    workers_.clear();  // never started: their loops hold only unstarted handles
    return 2;
  }
  uv_loop_init(&loop_);
  if (config.stats_listen) {
    stats_server_ =
        std::make_unique<StatsServer>(&loop_, [this] { return stats_->Snapshot(Uptime()); });
    std::string error = stats_server_->Listen(*config.stats_listen);
    if (!error.empty()) {
      Logf(LogLevel::kError, "cannot listen on %s (stats.listen): %s",
           config.stats_listen->text.c_str(), error.c_str());
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  for (auto [handle, signum] : {std::pair{&sigterm_, SIGTERM},
                                {&sigint_, SIGINT},
                                {&sighup_, SIGHUP},
                                {&sigusr1_, SIGUSR1}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          auto* self = static_cast<Server*>(h->data);
          if (sig == SIGHUP) {
            if (self->stopping_) return;  // no new sessions will start anyway
            self->Reload();
          } else if (sig == SIGUSR1) {
            self->ReopenAccessLog();
          } else {
            self->Stop();
          }
        },
        signum);
  }
  for (auto& w : workers_) w->Start();
  for (const ListenerConfig& l : config.listeners) {
    Logf(LogLevel::kInfo, "listening listener=%s address=%s workers=%zu", l.name.c_str(),
         l.listen.text.c_str(), count);
  }
  sd_notify(0, "READY=1");
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->Join();
  workers_.clear();
  uv_loop_close(&loop_);
  Logf(LogLevel::kInfo, "stopped");
  return 0;
}

void Server::ReopenAccessLog() {
  std::vector<std::weak_ptr<AccessLog>> alive;
  for (const auto& weak : access_logs_) {
    auto log = weak.lock();
    if (!log) continue;
    alive.push_back(log);
    std::string error;
    if (!log->Reopen(&error)) {
      Logf(LogLevel::kError, "access log: %s", error.c_str());
    } else {
      Logf(LogLevel::kInfo, "access log reopened: %s", log->path().c_str());
    }
  }
  access_logs_ = std::move(alive);
}

bool Server::ApplyReload(Runtime next) {
  std::set<std::string> old_keys, old_addresses;
  for (const auto& l : runtime_->config->listeners) {
    old_keys.insert(ListenerKey(l));
    old_addresses.insert(l.listen.text);
  }
  std::set<std::string> new_keys;
  // Open every added listener on every worker first: if one fails, nothing
  // changes.
  std::vector<std::vector<ListenSocket>> added(workers_.size());
  auto close_all = [&] {
    for (auto& per_worker : added) {
      for (ListenSocket& s : per_worker) close(s.fd);
    }
  };
  for (size_t i = 0; i < next.config->listeners.size(); ++i) {
    const ListenerConfig& l = next.config->listeners[i];
    new_keys.insert(ListenerKey(l));
    if (old_keys.count(ListenerKey(l))) continue;
    std::string error;
    // An address we hold already (a renamed listener) is shared through
    // SO_REUSEPORT; any other must be free.
    if (!old_addresses.count(l.listen.text) && !AddressIsFree(l.listen, &error)) {
      Logf(LogLevel::kError, "reload: cannot listen on %s (listeners[%zu] \"%s\"): %s",
           l.listen.text.c_str(), i, l.name.c_str(), error.c_str());
      close_all();
      return false;
    }
    for (size_t w = 0; w < workers_.size(); ++w) {
      int fd = OpenListenSocket(l.listen, &error);
      if (fd < 0) {
        Logf(LogLevel::kError, "reload: cannot listen on %s (listeners[%zu] \"%s\"): %s",
             l.listen.text.c_str(), i, l.name.c_str(), error.c_str());
        close_all();
        return false;
      }
      added[w].push_back({l.name, ListenerKey(l), fd});
    }
    Logf(LogLevel::kInfo, "reload: listening listener=%s address=%s", l.name.c_str(),
         l.listen.text.c_str());
  }
  std::vector<std::string> removed;
  for (const std::string& key : old_keys) {
    if (!new_keys.count(key)) {
      removed.push_back(key);
      Logf(LogLevel::kInfo, "reload: closing listener %s (open sessions go on)", key.c_str());
    }
  }
  SetLogLevel(next.config->log_level);
  runtime_ = std::make_shared<Runtime>(std::move(next));
  for (size_t w = 0; w < workers_.size(); ++w) {
    workers_[w]->SetRuntime(runtime_, std::move(added[w]), removed);
  }
  return true;
}

void Server::Reload() {
  sd_notify(0, "RELOADING=1");
  std::vector<std::string> errors;
  Runtime next = LoadRuntime(path_, &errors);
  if (next.config) {
    if (next.config->access_log == runtime_->access_log->path()) {
      next.access_log = runtime_->access_log;
    } else {
      std::string error;
      next.access_log = AccessLog::Open(next.config->access_log, &error);
      if (!next.access_log) {
        errors.push_back(path_ + ": log.access_log: " + error);
        next.config = nullptr;
      } else {
        access_logs_.push_back(next.access_log);
      }
    }
  }
  if (!next.config) {
    Logf(LogLevel::kError, "reload of %s failed; keeping the running config", path_.c_str());
    for (const std::string& e : errors) Logf(LogLevel::kError, "%s", e.c_str());
  } else if (!ApplyReload(std::move(next))) {
    Logf(LogLevel::kError, "reload of %s failed; keeping the running config", path_.c_str());
  } else {
    Logf(LogLevel::kInfo, "reloaded %s", path_.c_str());
  }
  sd_notify(0, "READY=1");
}

void Server::Stop() {
  if (stopping_) return;
  stopping_ = true;
  sd_notify(0, "STOPPING=1");
  Logf(LogLevel::kInfo, "stopping: closing listeners and sessions");
  for (auto& w : workers_) w->RequestStop();
  if (stats_server_) stats_server_->Close();
  // Sessions may take up to shutdown_grace to finish. The signal handles stay
  // open meanwhile: closing them would restore the default actions, and a
  // logrotate SIGUSR1 or a reload's SIGHUP would kill the process.
  uv_timer_init(&loop_, &stop_timer_);
  stop_timer_.data = this;
  uv_timer_start(
      &stop_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Server*>(t->data);
        for (auto& w : self->workers_) {
          if (!w->finished()) return;
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_timer_), nullptr);
        for (uv_signal_t* h : {&self->sigterm_, &self->sigint_, &self->sighup_, &self->sigusr1_}) {
          uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
        }
      },
      20, 20);
}

}  // namespace

Runtime LoadRuntime(const std::string& path, std::vector<std::string>* errors) {
  ConfigResult result = LoadConfig(path);
  if (!result.config) {
    *errors = std::move(result.errors);
    return {};
  }
  const Config& config = *result.config;
  tls::ServerOptions options;
  options.min_version = config.tls_min_version;
  for (const CertificateConfig& c : config.certificates) {
    options.certificates.push_back({c.cert, c.key, c.names});
  }
  std::vector<std::string> tls_errors;
  auto context = tls::ServerContext::Create(options, &tls_errors);
  if (!context) {
    for (const std::string& e : tls_errors) errors->push_back(path + ": " + e);
    return {};
  }
  return Runtime{std::move(result.config), std::move(context), nullptr};
}

int RunServer(const std::string& config_path) {
  std::vector<std::string> errors;
  Runtime runtime = LoadRuntime(config_path, &errors);
  if (!runtime.config) {
    for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  std::string error;
  runtime.access_log = AccessLog::Open(runtime.config->access_log, &error);
  if (!runtime.access_log) {
    std::fprintf(stderr, "%s: log.access_log: %s\n", config_path.c_str(), error.c_str());
    return 2;
  }
  Server server(config_path, std::move(runtime));
  return server.Run();
}

}  // namespace imapfront
