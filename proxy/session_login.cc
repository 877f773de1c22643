// login: "proxy" listeners (SPEC "Logging in through imapfront"): after TLS
// the imap::LoginGate conducts the not-authenticated state; each login
// attempt is throttled per client address, routed by its login name,
// connected (with failover) and carried out by an imap::BackendLogin. On
// success the session becomes a relay like any other, counted in its route
// from then on; on failure the backend connection is closed and the client
// may try again, up to max_login_attempts.
//
// The password lives in the gate's attempt and the BackendLogin's pieces,
// both zeroed when done; it is never given to a log.
#include <cmath>

#include "proxy/log.h"
#include "proxy/session.h"
#include "tls/base64.h"

namespace imapfront {
namespace {

constexpr const char* kFailedAnswer = "NO [AUTHENTICATIONFAILED] Authentication failed";
constexpr const char* kTooManyFailuresBye = "Too many failed logins";

uint64_t Ms(double seconds) {
  return static_cast<uint64_t>(std::ceil(seconds * 1000));
}

// One clock for every worker: the throttle's records are shared.
uint64_t MonotonicMs() {
  return uv_hrtime() / 1000000;
}

}  // namespace

ThrottlePolicy Session::throttle_policy() const {
  const Limits& l = runtime_->config->limits;  // process-wide keys
  return {.delay_cap_seconds = l.auth_failure_delay,
          .max_failures = l.max_auth_failures_per_ip,
          .window_seconds = l.auth_failure_window};
}

void Session::StartLogin() {
  phase_ = Phase::kLogin;
  login_ = std::make_unique<LoginState>();
  login_->gate = std::make_unique<imap::LoginGate>(imap::LoginGateOptions{
      .max_line_bytes = runtime_->config->limits.max_line_bytes,
      .version = IMAPFRONT_VERSION,
      .decode_base64 = &tls::DecodeBase64,
  });
  // After STARTTLS the client has had imapfront's plaintext greeting.
  if (listener_->mode == ListenerMode::kImplicitTls) WriteClient(imap::LoginGate::Greeting());
  last_activity_ms_ = uv_now(host_->loop());
  ArmLoginTimer();
}

void Session::WriteClient(std::string_view text) {
  if (text.empty() || phase_ == Phase::kClosing) return;
  ToClient({reinterpret_cast<const uint8_t*>(text.data()), text.size()},
           ToClientKind::kLocalAnswer);
}

// Offers the held client bytes to the gate, while it may take them: not
// during an attempt, a delayed answer or the close of a dropped backend.
void Session::FeedLoginGate() {
  if (!login_ || !login_->gate || login_->feeding)
    return;  // an attempt that ended at once: the loop below goes on
  login_->feeding = true;
  std::span<const uint8_t> first[1];
  while (phase_ == Phase::kLogin && login_->delayed_answer.empty() && !login_->backend_closing &&
         !client_hold_.empty()) {
    client_hold_.Gather(first);
    imap::LoginGate::Result r = login_->gate->Feed(first[0]);
    client_hold_.Consume(r.consumed);
    bytes_in_ += r.consumed;
    commands_count_ += r.commands;
    host_->stats().Add(Counter::kImapCommands, r.commands);
    host_->stats().Add(Counter::kAuthAttempts, r.refused_attempts);
    WriteClient(r.answers);
    switch (r.outcome) {
      case imap::LoginGate::Outcome::kMore:
        continue;
      case imap::LoginGate::Outcome::kAttempt:
        BeginAttempt();
        continue;
      case imap::LoginGate::Outcome::kLogout:
        logout_seen_ = true;
        Close(CloseReason::kLogout);
        break;
      case imap::LoginGate::Outcome::kEnd:
        Close(CloseReason::kProtocolError, r.bye);
        break;
    }
  }
  login_->feeding = false;
  if (phase_ == Phase::kLogin && client_.input_ended() && client_hold_.empty() &&
      login_->delayed_answer.empty()) {
    Close(EndReason(true));
  }
}

void Session::BeginAttempt() {
  const imap::LoginAttempt& attempt = login_->gate->attempt();
  host_->stats().Add(Counter::kAuthAttempts);
  login_->user = attempt.user.substr(0, 256);
  login_->result = imap::Conversation::Login::kFailed;  // until one succeeds
  if (host_->auth_throttle().Blocked(slot_->ip(), throttle_policy(), MonotonicMs())) {
    host_->stats().Add(Counter::kAuthThrottled);
    LogEvent(LogLevel::kWarn, "login", id_, client_address())
        .Add("listener", listener_->name)
        .Add("user", login_->user)
        .Add("result", "throttled");
    WriteClient(attempt.tag + " NO [UNAVAILABLE] Too many failed logins, try later\r\n");
    EndAttempt();
    return;
  }
  route_ = runtime_->config->SelectRoute(listener_->name, tls_->server_name(), &attempt.user);
  if (!route_) {
    // Told apart from a wrong password by nobody: the same answer, delay
    // and counters, so that login names cannot be probed.
    LoginRefused("no route serves this user");
    return;
  }
  const uint64_t max = route_->limits.max_connections;
  if (slot_->EnterRoute(route_->name) > max && max) {
    LogEvent(LogLevel::kWarn, "over_limit", id_, client_address())
        .Add("listener", listener_->name)
        .Add("route", route_->name)
        .Add("limit", "route max_connections");
    WriteClient(attempt.tag + " NO [UNAVAILABLE] Too many connections, try again later\r\n");
    EndAttempt();
    return;
  }
  phase_ = Phase::kConnecting;
  backend_index_ = 0;
  ConnectNextBackend();
}

void Session::LoginBackendGreeted(std::span<const uint8_t> rest) {
  phase_ = Phase::kLoggingIn;
  host_->stats().Observe(Histogram::kBackendConnect,
                         static_cast<double>(uv_hrtime() - connecting_->start_ns) / 1e9);
  EndConnecting();
  const imap::LoginAttempt& attempt = login_->gate->attempt();
  std::string id;
  if (route_->forward_client == ForwardClient::kId) {
    std::optional<std::string> command = ForwardIdCommand();
    if (!command) {
      Close(CloseReason::kClientClosed);  // gone already: nobody to log in
      return;
    }
    id = std::move(*command);
  }
  login_->backend = std::make_unique<imap::BackendLogin>(
      attempt.tag, attempt.user, attempt.password, limits().max_line_bytes, id);
  ArmTimer(limits().login_timeout);
  LoginBackendBytes(rest);
}

void Session::LoginBackendBytes(std::span<const uint8_t> bytes) {
  const size_t used = login_->backend->Feed(bytes);
  if (const std::string& out = login_->backend->output(); !out.empty()) {
    backend_.out.Append({reinterpret_cast<const uint8_t*>(out.data()), out.size()});
    login_->backend->OutputSent();
  }
  switch (login_->backend->state()) {
    case imap::BackendLogin::State::kWaiting:
      return;
    case imap::BackendLogin::State::kLoggedIn:
      LoginSucceeded(bytes.subspan(used));
      return;
    case imap::BackendLogin::State::kRefused:
      LoginRefused("refused by the backend");
      return;
    case imap::BackendLogin::State::kBroken:
      AttemptUnavailable("NO [UNAVAILABLE] Backend unavailable", "no IMAP answer to LOGIN");
      return;
  }
}

void Session::LoginSucceeded(std::span<const uint8_t> rest) {
  host_->stats().Add(Counter::kAuthSuccesses);
  host_->auth_throttle().Success(slot_->ip());
  login_->result = imap::Conversation::Login::kOk;
  const std::string ok_line = login_->backend->ok_line();
  const std::vector<std::string> capabilities = login_->backend->capabilities();
  login_->backend.reset();
  login_->gate->EndAttempt();
  login_->gate.reset();
  backend_used_ = &route_->backends[backend_index_];
  if (BackendState* state = runtime_->BackendsOf(route_).at(backend_index_)) {
    state->sessions.fetch_add(1, std::memory_order_relaxed);
  }
  StartConversation();
  phase_ = Phase::kRelay;
  LogEvent(LogLevel::kInfo, "login", id_, client_address())
      .Add("listener", listener_->name)
      .Add("user", login_->user)
      .Add("result", "ok")
      .Add("route", route_->name)
      .Add("backend", backend_used_->text);
  LogSessionStart();
  last_activity_ms_ = uv_now(host_->loop());
  ArmRelayTimer();
  conversation_->OnBackendLoggedIn(
      {reinterpret_cast<const uint8_t*>(ok_line.data()), ok_line.size()}, capabilities,
      login_->user);
  if (client_.input_ended()) conversation_->OnClientEnded();
  if (phase_ != Phase::kRelay) return;
  conversation_->OnBackendBytes(rest);
  // What the client pipelined after its login goes on now, in order.
  ResumeClient();
  if (phase_ == Phase::kRelay && conversation_->TakeResume()) ResumeClient();
}

void Session::LoginRefused(const char* why) {
  host_->stats().Add(Counter::kAuthFailures);
  const uint64_t delay_ms =
      host_->auth_throttle().Failure(slot_->ip(), throttle_policy(), MonotonicMs());
  ++login_->failures;
  const bool last = login_->failures >= runtime_->config->limits.max_login_attempts;
  LogEvent(LogLevel::kInfo, "login", id_, client_address())
      .Add("listener", listener_->name)
      .Add("user", login_->user)
      .Add("result", "failed")
      .Add("reason", why)
      .Add("route", route_ ? route_->name : std::string())
      .Add("failures", login_->failures)
      .Add("delay_seconds", static_cast<double>(delay_ms) / 1000);
  std::string answer = login_->gate->attempt().tag + " " + kFailedAnswer + "\r\n";
  EndAttempt();
  if (delay_ms == 0) {
    WriteClient(answer);
    if (last) Close(CloseReason::kAuthFailed, kTooManyFailuresBye);
    return;
  }
  login_->delayed_answer = std::move(answer);
  login_->delayed_answer_ms = uv_now(host_->loop()) + delay_ms;
  login_->delayed_answer_ends = last;
  ArmLoginTimer();
}

// The backend could not be reached or did not speak IMAP: not the client's
// failure, and the session stays in the not-authenticated state.
void Session::AttemptUnavailable(const char* answer, const char* why) {
  if (!login_ || !login_->gate || phase_ == Phase::kClosing) return;
  LogEvent(LogLevel::kWarn, "login", id_, client_address())
      .Add("listener", listener_->name)
      .Add("user", login_->user)
      .Add("result", "unavailable")
      .Add("reason", why)
      .Add("route", route_ ? route_->name : std::string())
      .Add("backend", route_ && backend_index_ < route_->backends.size()
                          ? route_->backends[backend_index_].text
                          : std::string());
  WriteClient(login_->gate->attempt().tag + " " + answer + "\r\n");
  EndAttempt();
}

// Back to the not-authenticated state: no route, no backend.
void Session::EndAttempt() {
  login_->backend.reset();
  DropBackend();
  EndConnecting();
  route_ = nullptr;
  slot_->LeaveRoute();
  login_->gate->EndAttempt();
  phase_ = Phase::kLogin;
  if (pending_end_) {
    Close(*pending_end_, "Server shutting down");
    return;
  }
  ArmLoginTimer();
  FeedLoginGate();  // what the client sent meanwhile
}

void Session::DropBackend() {
  if (!backend_.open()) return;
  backend_.state = Side::State::kClosed;
  backend_.reading = false;
  backend_.out.Clear();
  backend_.in_flight = 0;
  login_->backend_closing = true;
  // The next attempt reuses the handle once libuv has let it go.
  handles_.Close(&backend_.tcp, &Session::OnDroppedBackendClosed);
}

void Session::OnDroppedBackendClosed(uv_handle_t* handle) {
  auto* self = static_cast<Session*>(handle->data);
  self->login_->backend_closing = false;
  if (!self->reason_) {
    self->FeedLoginGate();
    self->Pump();
  }
  self->handles_.Closed();  // last: it may free the session
}

void Session::LoginDeadlines(uint64_t now) {
  if (!login_->delayed_answer.empty() && now >= login_->delayed_answer_ms) {
    std::string answer = std::move(login_->delayed_answer);
    login_->delayed_answer.clear();
    WriteClient(answer);
    if (login_->delayed_answer_ends) {
      Close(CloseReason::kAuthFailed, kTooManyFailuresBye);
      return;
    }
    FeedLoginGate();
    if (phase_ != Phase::kLogin) return;
  }
  const Limits& l = limits();
  if (now - last_activity_ms_ >= Ms(l.idle_timeout)) {
    Close(CloseReason::kIdleTimeout, "Autologout; idle for too long");
    return;
  }
  if (l.max_lifetime > 0 && now - born_ms_ >= Ms(l.max_lifetime)) {
    Close(CloseReason::kLifetime, "Session lifetime reached; please reconnect");
    return;
  }
  ArmLoginTimer();
}

// In kLogin the timer serves the idle and lifetime deadlines and a delayed
// failure answer, whichever is nearest.
void Session::ArmLoginTimer() {
  if (phase_ != Phase::kLogin) return;
  const Limits& l = limits();
  uint64_t deadline = last_activity_ms_ + Ms(l.idle_timeout);
  if (l.max_lifetime > 0) deadline = std::min(deadline, born_ms_ + Ms(l.max_lifetime));
  if (!login_->delayed_answer.empty()) deadline = std::min(deadline, login_->delayed_answer_ms);
  const uint64_t now = uv_now(host_->loop());
  ArmTimer(deadline > now ? static_cast<double>(deadline - now) / 1000 : 0);
}

}  // namespace imapfront
