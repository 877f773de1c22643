#include "proxy/health_check.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "imap/greeting.h"
#include "proxy/log.h"
#include "proxy/uv_handle.h"

namespace imapfront {
namespace {

constexpr size_t kMaxGreetingBytes = 8192;
constexpr char kLogout[] = "imapfront1 LOGOUT\r\n";

uint64_t Ms(double seconds) {
  const auto ms = static_cast<uint64_t>(std::ceil(seconds * 1000));
  return ms > 0 ? ms : 1;
}

}  // namespace

// One backend's checks: an interval timer, and per check a connection and
// a timeout.
class HealthChecker::Probe {
 public:
  // |address| and |config| belong to |owner|, which the probe keeps alive.
  Probe(uv_loop_t* loop, Resolver* resolver, std::shared_ptr<const Config> owner,
        const BackendAddress* address, const HealthCheckConfig* config,
        std::shared_ptr<BackendState> state)
      : loop_(loop),
        resolver_(resolver),
        owner_(std::move(owner)),
        address_(address),
        config_(config),
        state_(std::move(state)) {
    uv_timer_init(loop_, &interval_);
    handles_.Add(&interval_);
    uv_timer_init(loop_, &timeout_);
    handles_.Add(&timeout_);
    // The first check at once: a backend that is down at start is known soon.
    uv_timer_start(&interval_, &Probe::OnInterval, 0, Ms(config_->interval));
  }

  // Checks |address| with |config| into |state|: nothing to change.
  bool Same(const BackendAddress& address, const HealthCheckConfig& config,
            const BackendState* state) const {
    return state == state_.get() && address.text == address_->text &&
           config.interval == config_->interval && config.timeout == config_->timeout &&
           config.fall == config_->fall && config.rise == config_->rise;
  }

  void Retire() {
    retired_ = true;
    resolver_->Cancel(&wait_);
    CloseConnection();
    handles_.Close(&interval_);
    handles_.Close(&timeout_);
  }

  HandleGroup<Probe>& handle_group() { return handles_; }
  void OnHandlesClosed() {
    if (retired_) delete this;
  }

 private:
  enum class Stage { kIdle, kResolving, kConnecting, kGreeting, kLoggingOut, kClosing };

  static void OnInterval(uv_timer_t* timer) {
    auto* self = static_cast<Probe*>(timer->data);
    if (self->stage_ != Stage::kIdle) return;  // the last check is still running
    self->Begin();
  }

  void Begin() {
    greeting_.emplace(kMaxGreetingBytes);
    line_.clear();
    uv_timer_start(&timeout_, &Probe::OnTimeout, Ms(config_->timeout), 0);
    if (address_->numeric) {
      Connect(address_->numeric->sa());
      return;
    }
    stage_ = Stage::kResolving;
    wait_.done = &Probe::OnResolved;
    wait_.data = this;
    wait_.port = address_->port;
    ResolveResult cached;
    if (resolver_->Lookup(address_->host, &wait_, &cached)) Resolved(cached);
  }

  static void OnResolved(ResolveWait* wait, const ResolveResult& result) {
    static_cast<Probe*>(wait->data)->Resolved(result);
  }

  void Resolved(const ResolveResult& result) {
    if (stage_ != Stage::kResolving) return;
    if (!result.ok()) {
      Record(false, "cannot resolve: " + result.error);
      stage_ = Stage::kIdle;
      uv_timer_stop(&timeout_);
      return;
    }
    Connect(result.sa());
  }

  void Connect(const sockaddr* address) {
    stage_ = Stage::kConnecting;
    tcp_ = {};
    uv_tcp_init(loop_, &tcp_);
    handles_.Add(&tcp_);
    tcp_open_ = true;
    connect_.data = this;
    const int r = uv_tcp_connect(&connect_, &tcp_, address, &Probe::OnConnect);
    if (r < 0) End(false, std::string("connect: ") + uv_strerror(r));
  }

  static void OnConnect(uv_connect_t* req, int status) {
    auto* self = static_cast<Probe*>(req->data);
    if (status == UV_ECANCELED || self->stage_ != Stage::kConnecting) return;
    if (status < 0) {
      self->End(false, std::string("connect: ") + uv_strerror(status));
      return;
    }
    self->stage_ = Stage::kGreeting;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &Probe::OnAlloc, &Probe::OnRead);
  }

  static void OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
    auto* self = static_cast<Probe*>(handle->data);
    *buf = uv_buf_init(self->buffer_, sizeof(self->buffer_));
  }

  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Probe*>(stream->data);
    if (nread < 0) {
      if (self->stage_ == Stage::kGreeting) {
        self->End(false, nread == UV_EOF
                             ? "closed before greeting"
                             : std::string("read: ") + uv_strerror(static_cast<int>(nread)));
      } else {
        self->End(true, "");  // the LOGOUT's end
      }
      return;
    }
    if (self->stage_ != Stage::kGreeting || nread == 0) return;  // LOGOUT's answer: not read
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(buf->base),
                                         static_cast<size_t>(nread));
    const size_t n = self->greeting_->Feed(bytes);
    if (self->line_.size() < 200) {
      self->line_.append(buf->base, std::min<size_t>(n, 200 - self->line_.size()));
    }
    if (!self->greeting_->done()) return;
    self->Greeted();
  }

  void Greeted() {
    switch (greeting_->kind()) {
      case imap::GreetingScanner::Kind::kOk:
        break;
      case imap::GreetingScanner::Kind::kBye:
        End(false, "refused: " + line_.substr(0, line_.find_first_of("\r\n")));
        return;
      case imap::GreetingScanner::Kind::kPreauth:
        End(false, "greeted with PREAUTH, not OK");
        return;
      default:
        End(false, "sent no IMAP greeting");
        return;
    }
    Record(true, "");
    stage_ = Stage::kLoggingOut;
    write_.data = this;
    uv_buf_t buf = uv_buf_init(const_cast<char*>(kLogout), sizeof(kLogout) - 1);
    if (uv_write(&write_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, [](uv_write_t*, int) {}) <
        0) {
      End(true, "");
    }
  }

  static void OnTimeout(uv_timer_t* timer) {
    auto* self = static_cast<Probe*>(timer->data);
    switch (self->stage_) {
      case Stage::kResolving:
        self->resolver_->Cancel(&self->wait_);
        self->Record(false, "cannot resolve in time");
        self->stage_ = Stage::kIdle;
        return;
      case Stage::kConnecting:
        self->End(false, "connect timed out");
        return;
      case Stage::kGreeting:
        self->End(false, "no greeting in time");
        return;
      case Stage::kLoggingOut:
        self->End(true, "");  // passed already; the backend only lingers
        return;
      default:
        return;
    }
  }

  // The check is over: |passed| is recorded unless it was already (a pass
  // is recorded at the greeting).
  void End(bool passed, const std::string& why) {
    if (!passed) Record(false, why);
    uv_timer_stop(&timeout_);
    CloseConnection();
  }

  void CloseConnection() {
    if (!tcp_open_) {
      if (!retired_ && stage_ != Stage::kClosing) stage_ = Stage::kIdle;
      return;
    }
    tcp_open_ = false;
    stage_ = Stage::kClosing;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
      auto* self = static_cast<Probe*>(h->data);
      if (!self->retired_) self->stage_ = Stage::kIdle;
      self->handles_.Closed();  // last: it may delete the probe
    });
  }

  void Record(bool passed, const std::string& why) {
    if (retired_) return;
    BackendState& s = *state_;
    if (passed) {
      s.failed_in_row = 0;
      ++s.passed_in_row;
      if (!s.up.load(std::memory_order_relaxed) && s.passed_in_row >= config_->rise) {
        s.up.store(true, std::memory_order_relaxed);
        LogEvent(LogLevel::kInfo, "backend_up")
            .Add("route", s.route)
            .Add("backend", s.backend)
            .Add("checks_passed", s.passed_in_row);
      }
      return;
    }
    s.checks_failed.fetch_add(1, std::memory_order_relaxed);
    s.passed_in_row = 0;
    ++s.failed_in_row;
    LogEvent(LogLevel::kDebug, "backend_check_failed")
        .Add("route", s.route)
        .Add("backend", s.backend)
        .Add("why", why);
    if (s.up.load(std::memory_order_relaxed) && s.failed_in_row >= config_->fall) {
      s.up.store(false, std::memory_order_relaxed);
      LogEvent(LogLevel::kWarn, "backend_down")
          .Add("route", s.route)
          .Add("backend", s.backend)
          .Add("why", why)
          .Add("checks_failed", s.failed_in_row);
    }
  }

  uv_loop_t* loop_;
  Resolver* resolver_;
  std::shared_ptr<const Config> owner_;
  const BackendAddress* address_;
  const HealthCheckConfig* config_;
  std::shared_ptr<BackendState> state_;
  HandleGroup<Probe> handles_{this};
  uv_timer_t interval_{};
  uv_timer_t timeout_{};
  uv_tcp_t tcp_{};
  bool tcp_open_ = false;
  uv_connect_t connect_{};
  uv_write_t write_{};
  ResolveWait wait_;
  std::optional<imap::GreetingScanner> greeting_;
  std::string line_;  // the greeting's start, for the log
  char buffer_[4096];
  Stage stage_ = Stage::kIdle;
  bool retired_ = false;
};

HealthChecker::~HealthChecker() {
  Stop();
}

void HealthChecker::Watch(std::shared_ptr<const Config> config,
                          std::shared_ptr<const BackendTable> table) {
  std::vector<Probe*> old = std::move(probes_);
  probes_.clear();
  for (size_t r = 0; r < config->routes.size(); ++r) {
    const RouteConfig& route = config->routes[r];
    if (!route.health_check) continue;
    for (size_t b = 0; b < route.backends.size(); ++b) {
      const std::shared_ptr<BackendState>& state = table->Route(r)[b];
      auto kept = std::find_if(old.begin(), old.end(), [&](Probe* p) {
        return p && p->Same(route.backends[b], *route.health_check, state.get());
      });
      if (kept != old.end()) {
        probes_.push_back(*kept);
        *kept = nullptr;
        continue;
      }
      probes_.push_back(
          new Probe(loop_, &resolver_, config, &route.backends[b], &*route.health_check, state));
    }
  }
  for (Probe* p : old) {
    if (p) p->Retire();
  }
}

void HealthChecker::Stop() {
  for (Probe* p : probes_) p->Retire();
  probes_.clear();
  resolver_.CancelLookups();  // the loop may end without waiting for DNS
}

}  // namespace imapfront
