#include "proxy/server.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <set>

#include "proxy/config_warnings.h"
#include "proxy/health_check.h"
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

// "imaps=0.0.0.0:993,imap=0.0.0.0:143"
std::string ListenerList(const Config& config) {
  std::string out;
  for (const ListenerConfig& l : config.listeners) {
    if (!out.empty()) out += ',';
    out += l.name;
    out += '=';
    out += l.listen.text;
  }
  return out;
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

// The warnings that need no DNS; backend names are checked on the loop's
// thread pool (Server::CheckBackendNames), so that neither startup nor a
// reload waits for a resolver.
void LogWarnings(const Runtime& runtime) {
  for (const std::string& w : ConfigWarnings(runtime, ResolveCheck::kSkip)) {
    LogEvent(LogLevel::kWarn, "config_warning")
        .Add("config", runtime.config->path)
        .Add("warning", w);
  }
}

// |runtime| with its backend states: |previous|'s for the backends that stay.
std::shared_ptr<const Runtime> WithBackends(Runtime runtime, const BackendTable* previous) {
  runtime.backends = BackendTable::Build(*runtime.config, previous);
  return std::make_shared<Runtime>(std::move(runtime));
}

class Server {
 public:
  Server(ServerOptions options, Runtime runtime)
      : path_(std::move(options.config_path)), runtime_(WithBackends(std::move(runtime), nullptr)) {
    process_.version = std::move(options.version);
    process_.boringssl = tls::LibraryVersion();
    process_.libuv = uv_version_string();
    process_.start_time_seconds = options.start_time_seconds;
  }

  int Run();

 private:
  bool OpenWorkers(size_t count);
  void Reload();
  bool ApplyReload(Runtime next);
  void ReopenAccessLog();
  void Stop();
  // Opens the stats endpoint on |address| (null: none) in place of the one
  // on |old|; "" or the error (then the old one is kept).
  std::string OpenStats(const std::optional<SocketAddress>& address,
                        const std::optional<SocketAddress>& old = std::nullopt);
  void RetireStats(std::unique_ptr<StatsServer> s);
  // A warning for each backend name that does not resolve now.
  void CheckBackendNames(const std::shared_ptr<const Config>& config);
  struct NameCheck;
  static void OnNameChecked(uv_getaddrinfo_t* req, int status, addrinfo* res);
  StatsSnapshot Snapshot();
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
  AuthThrottle auth_throttle_;  // kept across reloads, like the counts
  std::unique_ptr<StatsServer> stats_server_;
  std::unique_ptr<HealthChecker> health_;  // on loop_, for the whole process
  // Stats servers a reload moved away from: closed, kept until exit because
  // a request they were answering may still refer to them.
  std::vector<std::unique_ptr<StatsServer>> retired_stats_servers_;
  ProcessInfo process_;
  size_t worker_count_ = 0;
  std::set<NameCheck*> name_checks_;  // lookups in flight, cancelled at Stop
  std::vector<std::unique_ptr<Worker>> workers_;
  uint64_t start_ns_ = uv_hrtime();
  bool stopping_ = false;
};

bool Server::OpenWorkers(size_t count) {
  const Config& config = *runtime_->config;
  stats_ = std::make_unique<Stats>(count);
  auto report = [&](size_t i, const std::string& error) {
    const ListenerConfig& l = config.listeners[i];
    LogEvent(LogLevel::kError, "listen_failed")
        .Add("listener", l.name)
        .Add("address", l.listen.text)
        .Add("config", "listeners[" + std::to_string(i) + "]")
        .Add("error", error);
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
    workers_.push_back(std::make_unique<Worker>(w, stats_.get(), &counts_, &auth_throttle_,
                                                runtime_, std::move(sockets)));
  }
  return true;
}

StatsSnapshot Server::Snapshot() {
  StatsSnapshot s = stats_->Snapshot(Uptime());
  for (size_t r = 0; r < runtime_->backends->route_count(); ++r) {
    for (const auto& b : runtime_->backends->Route(r)) {
      s.backends.push_back({.route = b->route,
                            .backend = b->backend,
                            .up = b->up.load(std::memory_order_relaxed),
                            .sessions = b->sessions.load(std::memory_order_relaxed),
                            .connect_failures = b->connect_failures.load(std::memory_order_relaxed),
                            .checks_failed = b->checks_failed.load(std::memory_order_relaxed)});
    }
  }
  s.process = process_;
  ReadProcessFigures(&s.process);
  return s;
}

void Server::RetireStats(std::unique_ptr<StatsServer> s) {
  if (!s) return;
  s->Close();  // the socket is closed now; the object lives until exit
  retired_stats_servers_.push_back(std::move(s));
}

std::string Server::OpenStats(const std::optional<SocketAddress>& address,
                              const std::optional<SocketAddress>& old) {
  if (!address) {
    RetireStats(std::move(stats_server_));
    return "";
  }
  auto open = [&](const SocketAddress& a, std::string* error) {
    auto s = std::make_unique<StatsServer>(&loop_, [this] { return Snapshot(); });
    *error = s->Listen(a);
    if (!error->empty()) RetireStats(std::move(s));
    return s;
  };
  std::string error;
  auto next = open(*address, &error);
  if (!next && stats_server_ && old) {
    // The old endpoint may hold the port (0.0.0.0:9100 -> 127.0.0.1:9100):
    // close it, try again, and put it back if the new address still fails.
    RetireStats(std::move(stats_server_));
    next = open(*address, &error);
    if (!next) {
      std::string again;
      stats_server_ = open(*old, &again);
      if (!stats_server_) {
        LogEvent(LogLevel::kError, "listen_failed")
            .Add("listener", "stats")
            .Add("address", old->text)
            .Add("error", again);
      }
    }
  }
  if (!next) return error;
  RetireStats(std::move(stats_server_));
  stats_server_ = std::move(next);
  return "";
}

struct Server::NameCheck {
  uv_getaddrinfo_t req{};
  Server* server = nullptr;
  std::shared_ptr<const Config> config;
  size_t route = 0;
  size_t backend = 0;
};

void Server::CheckBackendNames(const std::shared_ptr<const Config>& shared) {
  const Config& config = *shared;
  std::set<std::string> seen;
  for (size_t r = 0; r < config.routes.size(); ++r) {
    for (size_t b = 0; b < config.routes[r].backends.size(); ++b) {
      const BackendAddress& backend = config.routes[r].backends[b];
      if (backend.numeric || !seen.insert(backend.host).second) continue;
      auto check = std::make_unique<NameCheck>();
      check->server = this;
      check->config = shared;
      check->route = r;
      check->backend = b;
      check->req.data = check.get();
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      if (uv_getaddrinfo(&loop_, &check->req, &Server::OnNameChecked, backend.host.c_str(), nullptr,
                         &hints) == 0) {
        name_checks_.insert(check.release());
      }
    }
  }
}

void Server::OnNameChecked(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  std::unique_ptr<NameCheck> check(static_cast<NameCheck*>(req->data));
  check->server->name_checks_.erase(check.get());
  uv_freeaddrinfo(res);
  if (status == 0 || status == UV_EAI_CANCELED) return;
  const Config& config = *check->config;
  const std::string& host = config.routes[check->route].backends[check->backend].host;
  LogEvent(LogLevel::kWarn, "config_warning")
      .Add("config", config.path)
      .Add("warning",
           UnresolvedBackendWarning(config, check->route, check->backend,
                                    "cannot resolve \"" + host + "\": " + uv_strerror(status)));
}

int Server::Run() {
  const Config& config = *runtime_->config;
  access_logs_.push_back(runtime_->access_log);
  SetLogLevel(config.log_level);
  RaiseDescriptorLimit();
  size_t count = config.workers ? config.workers : uv_available_parallelism();
  worker_count_ = count;
  LogWarnings(*runtime_);
  if (!OpenWorkers(count)) {
    workers_.clear();  // never started: their loops hold only unstarted handles
    return 2;
  }
  uv_loop_init(&loop_);
  if (std::string error = OpenStats(config.stats_listen); !error.empty()) {
    LogEvent(LogLevel::kError, "listen_failed")
        .Add("listener", "stats")
        .Add("address", config.stats_listen->text)
        .Add("config", "stats.listen")
        .Add("error", error);
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets the failed handle close
    retired_stats_servers_.clear();
    uv_loop_close(&loop_);
    return 2;
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
  health_ = std::make_unique<HealthChecker>(&loop_);
  health_->Watch(runtime_->config, runtime_->backends);
  CheckBackendNames(runtime_->config);
  LogEvent(LogLevel::kInfo, "start")
      .Add("version", process_.version)
      .Add("pid", static_cast<int64_t>(getpid()))
      .Add("config", path_)
      .Add("workers", count)
      .Add("listeners", ListenerList(config))
      .Add("stats", config.stats_listen ? config.stats_listen->text : std::string())
      .Add("access_log", config.access_log);
  sd_notify(0, "READY=1");
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->Join();
  workers_.clear();
  health_.reset();  // stopped in Stop(); its handles closed with the loop
  stats_server_.reset();
  retired_stats_servers_.clear();
  uv_loop_close(&loop_);
  LogEvent(LogLevel::kInfo, "stopped").Add("uptime_seconds", Uptime());
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
      LogEvent(LogLevel::kError, "reopen_failed")
          .Add("access_log", log->path())
          .Add("error", error);
    } else {
      LogEvent(LogLevel::kInfo, "reopen").Add("access_log", log->path());
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
    auto fail = [&] {
      LogEvent(LogLevel::kError, "reload_failed")
          .Add("config", path_)
          .Add("error", "cannot listen on " + l.listen.text + " (listeners[" + std::to_string(i) +
                            "] \"" + l.name + "\"): " + error);
      close_all();
      return false;
    };
    if (!old_addresses.count(l.listen.text) && !AddressIsFree(l.listen, &error)) return fail();
    for (size_t w = 0; w < workers_.size(); ++w) {
      int fd = OpenListenSocket(l.listen, &error);
      if (fd < 0) return fail();
      added[w].push_back({l.name, ListenerKey(l), fd});
    }
  }
  // The stats endpoint moves now, before anything else changes: if the new
  // address cannot be opened the reload is refused whole.
  const auto& old_stats = runtime_->config->stats_listen;
  const auto& new_stats = next.config->stats_listen;
  const bool stats_moved = old_stats.has_value() != new_stats.has_value() ||
                           (old_stats && new_stats && !SameAddress(*old_stats, *new_stats));
  if (stats_moved) {
    if (std::string error = OpenStats(new_stats, old_stats); !error.empty()) {
      LogEvent(LogLevel::kError, "reload_failed")
          .Add("config", path_)
          .Add("error", "cannot listen on " + new_stats->text + " (stats.listen): " + error);
      close_all();
      return false;
    }
    LogEvent(LogLevel::kInfo, "stats_moved")
        .Add("from", old_stats ? old_stats->text : std::string())
        .Add("to", new_stats ? new_stats->text : std::string());
  }
  for (const ListenerConfig& l : next.config->listeners) {
    if (!old_keys.count(ListenerKey(l))) {
      LogEvent(LogLevel::kInfo, "listener_open")
          .Add("listener", l.name)
          .Add("address", l.listen.text);
    }
  }
  std::vector<std::string> removed;
  for (const std::string& key : old_keys) {
    if (!new_keys.count(key)) {
      removed.push_back(key);
      LogEvent(LogLevel::kInfo, "listener_close").Add("listener", key).Add("sessions", "kept");
    }
  }
  const size_t wanted = next.config->workers ? next.config->workers : uv_available_parallelism();
  if (next.config->workers != runtime_->config->workers && wanted != worker_count_) {
    LogEvent(LogLevel::kWarn, "reload_partial")
        .Add("config", path_)
        .Add("key", "workers")
        .Add("running", worker_count_)
        .Add("configured", wanted)
        .Add("note", "a change of workers takes effect at restart");
  }
  SetLogLevel(next.config->log_level);
  runtime_ = WithBackends(std::move(next), runtime_->backends.get());
  for (size_t w = 0; w < workers_.size(); ++w) {
    workers_[w]->SetRuntime(runtime_, std::move(added[w]), removed);
  }
  health_->Watch(runtime_->config, runtime_->backends);
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
    for (const std::string& e : errors) {
      LogEvent(LogLevel::kError, "reload_failed").Add("config", path_).Add("error", e);
    }
    LogEvent(LogLevel::kError, "reload_refused").Add("config", path_).Add("kept", "running config");
  } else {
    const std::vector<std::string> changed = ChangedSections(*runtime_->config, *next.config);
    if (!ApplyReload(std::move(next))) {
      LogEvent(LogLevel::kError, "reload_refused")
          .Add("config", path_)
          .Add("kept", "running config");
    } else {
      LogEvent(LogLevel::kInfo, "reload")
          .Add("config", path_)
          .Add("changed", changed.empty() ? std::string("nothing") : Joined(changed));
      LogWarnings(*runtime_);
      CheckBackendNames(runtime_->config);
    }
  }
  sd_notify(0, "READY=1");
}

void Server::Stop() {
  if (stopping_) return;
  stopping_ = true;
  sd_notify(0, "STOPPING=1");
  LogEvent(LogLevel::kInfo, "shutdown")
      .Add("sessions", "ending")
      .Add("shutdown_grace", runtime_->config->limits.shutdown_grace);
  for (auto& w : workers_) w->RequestStop();
  if (stats_server_) stats_server_->Close();
  health_->Stop();
  // A name check waiting for a dead resolver must not hold up the exit.
  for (NameCheck* check : name_checks_) uv_cancel(reinterpret_cast<uv_req_t*>(&check->req));
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
    options.certificates.push_back({c.cert, c.key, c.names, c.ocsp});
  }
  std::vector<std::string> tls_errors;
  auto context = tls::ServerContext::Create(options, &tls_errors);
  if (!context) {
    for (const std::string& e : tls_errors) errors->push_back(path + ": " + e);
    return {};
  }
  return Runtime{std::move(result.config), std::move(context), nullptr, nullptr};
}

int RunServer(ServerOptions options) {
  const std::string config_path = options.config_path;
  std::vector<std::string> errors;
  Runtime runtime = LoadRuntime(config_path, &errors);
  if (!runtime.config) {
    for (const std::string& e : errors) {
      LogEvent(LogLevel::kError, "config_error").Add("config", config_path).Add("error", e);
    }
    return 1;
  }
  std::string error;
  runtime.access_log = AccessLog::Open(runtime.config->access_log, &error);
  if (!runtime.access_log) {
    LogEvent(LogLevel::kError, "config_error")
        .Add("config", config_path)
        .Add("error", config_path + ": log.access_log: " + error);
    return 2;
  }
  Server server(std::move(options), std::move(runtime));
  return server.Run();
}

}  // namespace imapfront
