// Session lifecycle: birth and death, the pump, timers, and the one close
// path. See session.h for where the other phases live.
#include "proxy/session.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "proxy/access_log.h"
#include "proxy/log.h"

namespace imapfront {
namespace {

std::atomic<uint64_t> g_next_session_id{1};

constexpr const char* kLifetimeBye = "Session lifetime reached; please reconnect";
constexpr const char* kShutdownBye = "Server shutting down";

uint64_t Ms(double seconds) {
  return static_cast<uint64_t>(std::ceil(seconds * 1000));
}

uv_stream_t* Stream(uv_tcp_t* tcp) {
  return reinterpret_cast<uv_stream_t*>(tcp);
}

}  // namespace

void Session::Side::EndInput() {
  if (state == State::kOpen) {
    state = State::kInputEnded;
  } else if (state == State::kOutputShut) {
    state = State::kBothEnded;
  }
}

void Session::Side::ShutOutput() {
  if (state == State::kOpen) {
    state = State::kOutputShut;
  } else if (state == State::kInputEnded) {
    state = State::kBothEnded;
  }
}

Session::Session(SessionHost* host, std::shared_ptr<const Runtime> runtime,
                 const ListenerConfig* listener)
    : host_(host),
      runtime_(std::move(runtime)),
      listener_(listener),
      id_(g_next_session_id.fetch_add(1, std::memory_order_relaxed)) {
  host_->stats().sessions.accepted.Add(1);
  uv_tcp_init(host_->loop(), &client_.tcp);
  handles_.Add(&client_.tcp);
  client_.state = Side::State::kOpen;
  deadline_.data = this;
  born_ms_ = uv_now(host_->loop());
  host_->Attach(this);
}

Session::~Session() {
  // The one place a session's end is counted.
  const size_t reason = static_cast<size_t>(reason_.value_or(CloseReason::kClientClosed));
  host_->stats().sessions.closed[reason].Add(1);
  if (route_counters_) route_counters_->closed[reason].Add(1);
  const AccessLogEntry end = EndRecord(static_cast<CloseReason>(reason));
  host_->stats().Observe(Histogram::kSessionDuration, end.duration_seconds);
  if (runtime_->access_log) runtime_->access_log->Write(end.ToJson());
  LogEnd(end);
  host_->deadlines().Cancel(&deadline_);
  host_->Detach(this);
}

void Session::OnHandlesClosed() {
  if (reason_) delete this;
}

const Limits& Session::limits() const {
  return route_ ? route_->limits : runtime_->config->limits;
}

// ---- events -------------------------------------------------------------------

// One read takes at most the room its side has left (ReadRoom), and at
// least one TLS record's worth: the pump stops reading once a side is full,
// so a queue passes its limit by less than one record.
void Session::OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Session*>(handle->data);
  std::span<uint8_t> b = self->host_->read_buffer();
  const Side& side =
      handle == reinterpret_cast<uv_handle_t*>(&self->client_.tcp) ? self->client_ : self->backend_;
  const size_t n = static_cast<size_t>(std::clamp<uint64_t>(
      self->ReadRoom(side), tls::kMaxRecordPlaintext, static_cast<uint64_t>(b.size())));
  *buf = uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(n));
}

void Session::OnWriteDone(uv_write_t* req, int status) {
  auto* self = static_cast<Session*>(req->data);
  Side& side = req->handle == Stream(&self->client_.tcp) ? self->client_ : self->backend_;
  side.write_req.reset();              // |req|: libuv is done with it
  if (status == UV_ECANCELED) return;  // the handle is closing
  side.out.Consume(side.in_flight);
  side.in_flight = 0;
  if (status < 0) side.Fail();
  self->Pump();
}

void Session::OnTimer(Session* self) {
  switch (self->phase_) {
    case Phase::kProxyHeader:
      LogEvent(LogLevel::kInfo, "proxy_header_timeout", self->id_, self->client_address())
          .Add("listener", self->listener_->name);
      self->Close(CloseReason::kHandshakeTimeout);  // not a byte: the balancer's client is unknown
      break;
    case Phase::kPlain:
      self->Close(CloseReason::kHandshakeTimeout, "Autologout; no STARTTLS in time");
      break;
    case Phase::kHandshake:
      self->Close(CloseReason::kHandshakeTimeout);
      break;
    case Phase::kConnecting:
      self->BackendConnectFailed("timed out");
      break;
    case Phase::kLogin:
      self->LoginDeadlines(uv_now(self->host_->loop()));
      break;
    case Phase::kLoggingIn:
      self->AttemptUnavailable("NO [UNAVAILABLE] Backend unavailable", "login timed out");
      break;
    case Phase::kRelay:
      self->RelayDeadlines(uv_now(self->host_->loop()));
      break;
    case Phase::kClosing:
      self->CloseHandles();  // the last bytes could not be delivered in time
      return;
  }
  self->Pump();
}

// ---- the pump -----------------------------------------------------------------

void Session::Pump() {
  if (pumping_) return;
  pumping_ = true;
  PumpOnce();
  pumping_ = false;
}

void Session::PumpOnce() {
  if (phase_ == Phase::kClosing) {
    Flush(client_);
    if (client_.failed() || client_.drained()) CloseHandles();
    return;
  }
  Flush(client_);
  // While connecting, backend_.out holds at most the PROXY header for it
  // (client bytes wait in client_hold_ until the greeting).
  if (phase_ == Phase::kRelay || phase_ == Phase::kLoggingIn ||
      (phase_ == Phase::kConnecting && backend_.connected())) {
    Flush(backend_);
  }
  if (phase_ == Phase::kConnecting && backend_.failed()) {
    // The PROXY header could not be written: this backend is gone.
    BackendConnectFailed("connection lost while sending the PROXY header");
  }
  if (client_.failed()) {
    Close(EndReason(true));
    return;
  }
  if (phase_ == Phase::kLoggingIn && (backend_.failed() || backend_.input_ended())) {
    AttemptUnavailable("NO [UNAVAILABLE] Backend unavailable", "closed during login");
    if (phase_ == Phase::kClosing) return;
  }
  if (backend_.failed() && phase_ == Phase::kRelay) {
    Close(EndReason(client_.input_ended()), conversation_->ByeForBackendEnd());
    return;
  }
  if (phase_ == Phase::kRelay) {
    // Pass ends on once everything before them has been delivered.
    // Bytes held for the conversation still go first.
    if (client_.input_ended() && !backend_.output_shut() && backend_.drained() &&
        client_hold_.empty() && !conversation_->client_blocked() &&
        conversation_->own_queued() == 0) {
      backend_.ShutOutput();
      backend_shutdown_req_ = std::make_unique<uv_shutdown_t>();
      backend_shutdown_req_->data = this;
      if (uv_shutdown(backend_shutdown_req_.get(), Stream(&backend_.tcp),
                      &Session::OnShutdownDone) < 0) {
        backend_shutdown_req_.reset();
        Close(EndReason(true));
        return;
      }
    }
    if (backend_.input_ended() && client_.drained()) {
      Close(EndReason(client_.input_ended()), conversation_->ByeForBackendEnd());
      return;
    }
  }
  if (pending_end_ && phase_ == Phase::kRelay && conversation_->Quiet() && client_hold_.empty()) {
    Close(*pending_end_, *pending_end_ == CloseReason::kLifetime ? kLifetimeBye : kShutdownBye);
    return;
  }
  UpdateReading(client_, !client_.input_ended() && ReadRoom(client_) > 0, &Session::OnClientRead);
  UpdateReading(backend_, backend_.connected() && !backend_.input_ended() && ReadRoom(backend_) > 0,
                &Session::OnBackendRead);
}

// Bytes that reading from |side| may still queue before buffer_bytes.
uint64_t Session::ReadRoom(const Side& side) const {
  uint64_t queued = client_.out.size();  // what the backend sends waits for the client
  if (&side == &client_) {
    // imapfront's own answers count against the client's side too: a client
    // that sends refused commands without reading the answers is stopped.
    const size_t answers = conversation_ ? conversation_->pending_answer_bytes() : 0;
    queued = std::max({backend_.out.size(), client_hold_.size(), client_.out.size() + answers});
  }
  const uint64_t limit = limits().buffer_bytes;
  return queued < limit ? limit - queued : 0;
}

void Session::Flush(Side& side) {
  if (!side.open() || side.failed() || side.in_flight > 0 || side.out.empty()) return;
  constexpr size_t kMaxBufs = 32;
  std::span<const uint8_t> spans[kMaxBufs];
  uv_buf_t bufs[kMaxBufs];
  auto gather = [&] {
    size_t n = side.out.Gather(spans);
    for (size_t i = 0; i < n; ++i) {
      bufs[i] = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(spans[i].data())),
                            static_cast<unsigned>(spans[i].size()));
    }
    return static_cast<unsigned>(n);
  };
  int n = uv_try_write(Stream(&side.tcp), bufs, gather());
  if (n > 0) {
    side.out.Consume(static_cast<size_t>(n));
  } else if (n != UV_EAGAIN) {
    side.Fail();
    return;
  }
  if (side.out.empty()) return;
  unsigned count = gather();
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  side.write_req = std::make_unique<uv_write_t>();
  side.write_req->data = this;
  if (uv_write(side.write_req.get(), Stream(&side.tcp), bufs, count, &Session::OnWriteDone) < 0) {
    side.write_req.reset();
    side.Fail();
    return;
  }
  static_assert(kMaxBufs * ByteQueue::kChunkBytes <= UINT32_MAX);
  side.in_flight = static_cast<uint32_t>(total);
}

void Session::UpdateReading(Side& side, bool want, uv_read_cb cb) {
  if (!side.open()) return;
  if (want && !side.reading) {
    if (uv_read_start(Stream(&side.tcp), &Session::OnAlloc, cb) == 0) side.reading = true;
  } else if (!want && side.reading) {
    uv_read_stop(Stream(&side.tcp));
    side.reading = false;
  }
}

// ---- timers -------------------------------------------------------------------

void Session::RelayDeadlines(uint64_t now) {
  const Limits& l = limits();
  if (now - last_activity_ms_ >= Ms(l.idle_timeout)) {
    Close(CloseReason::kIdleTimeout, "Autologout; idle for too long");
    return;
  }
  if (poll_deadline_ms_ && now >= poll_deadline_ms_) {
    poll_deadline_ms_ = 0;
    conversation_->OnPollTimer();  // sets the next one
  }
  if (pending_end_ && now >= pending_deadline_ms_) {
    // The grace is over: end even with a command in progress.
    Close(*pending_end_, *pending_end_ == CloseReason::kLifetime ? kLifetimeBye : kShutdownBye);
    return;
  }
  if (!pending_end_ && l.max_lifetime > 0 && now - born_ms_ >= Ms(l.max_lifetime)) {
    LogEvent(LogLevel::kInfo, "lifetime_reached", id_, client_address()).Add("route", route_->name);
    EndWhenQuiet(CloseReason::kLifetime, now + Ms(l.lifetime_grace));
    return;
  }
  ArmRelayTimer();
}

void Session::ArmRelayTimer() {
  const Limits& l = limits();
  uint64_t deadline = last_activity_ms_ + Ms(l.idle_timeout);
  if (poll_deadline_ms_) deadline = std::min(deadline, poll_deadline_ms_);
  if (pending_end_) {
    deadline = std::min(deadline, pending_deadline_ms_);
  } else if (l.max_lifetime > 0) {
    deadline = std::min(deadline, born_ms_ + Ms(l.max_lifetime));
  }
  const uint64_t now = uv_now(host_->loop());
  ArmTimer(deadline > now ? static_cast<double>(deadline - now) / 1000 : 0);
}

void Session::EndWhenQuiet(CloseReason reason, uint64_t deadline_ms) {
  if (pending_end_ || reason_) return;
  pending_end_ = reason;
  pending_deadline_ms_ = deadline_ms;
  ArmRelayTimer();
  Pump();  // ends now if nothing is in progress
}

void Session::BeginShutdown() {
  if (attempt_in_progress() && login_proxy() && !pending_end_) {
    // A login in progress finishes (its own timeouts bound it); then the
    // session ends as any other.
    pending_end_ = CloseReason::kShutdown;
    pending_deadline_ms_ = uv_now(host_->loop()) + Ms(limits().shutdown_grace);
    return;
  }
  if (phase_ != Phase::kRelay) {
    Close(CloseReason::kShutdown, kShutdownBye);
    return;
  }
  if (pending_end_) {
    // A lifetime end is already waiting; the shutdown grace may be shorter.
    pending_end_ = CloseReason::kShutdown;
    pending_deadline_ms_ =
        std::min(pending_deadline_ms_, uv_now(host_->loop()) + Ms(limits().shutdown_grace));
    ArmRelayTimer();
    Pump();
    return;
  }
  EndWhenQuiet(CloseReason::kShutdown, uv_now(host_->loop()) + Ms(limits().shutdown_grace));
}

void Session::ArmTimer(double seconds) {
  host_->deadlines().Set(&deadline_, static_cast<uint64_t>(std::ceil(seconds * 1000)));
}

// ---- the end ------------------------------------------------------------------

// A session that ends after a LOGOUT ended by logout, whichever side closed;
// otherwise the side that went away first.
CloseReason Session::EndReason(bool client_first) const {
  if (logout_seen_ || (conversation_ && conversation_->logout_seen())) return CloseReason::kLogout;
  return client_first ? CloseReason::kClientClosed : CloseReason::kBackendClosed;
}

void Session::Close(CloseReason reason, const char* bye) {
  if (reason_) return;
  reason_ = reason;
  // A BYE inside a response the backend has not finished would corrupt it;
  // then the client only sees the connection end.
  const bool mid_response = phase_ == Phase::kRelay && conversation_->mid_response();
  const bool was_plain = phase_ == Phase::kPlain;
  phase_ = Phase::kClosing;
  if (conversation_) conversation_->Halt();
  EndConnecting();
  UpdateReading(client_, false, nullptr);
  UpdateReading(backend_, false, nullptr);
  if (was_plain && bye && !client_.failed()) WritePlain(std::string("* BYE ") + bye + "\r\n");
  if (tls_ && tls_->handshake_done() && !client_.failed()) {
    if (bye && !mid_response) {
      std::string line = std::string("* BYE ") + bye + "\r\n";
      tls_->Write({reinterpret_cast<const uint8_t*>(line.data()), line.size()});
    }
    tls_->SendCloseNotify();
  }
  // Deliver what is queued for the client (the backend's last words, a BYE,
  // a TLS alert), but no longer than close_timeout.
  Flush(client_);
  if (client_.failed() || client_.drained()) {
    CloseHandles();
  } else {
    ArmTimer(limits().close_timeout);
  }
}

void Session::CloseHandles() {
  for (Side* side : {&client_, &backend_}) {
    if (side->open()) {
      side->state = Side::State::kClosed;
      handles_.Close(&side->tcp);
    }
  }
  host_->deadlines().Cancel(&deadline_);
}

// The session as it ended: the access log's line, and the operator log's.
AccessLogEntry Session::EndRecord(CloseReason reason) const {
  const bool tls_up = tls_ && tls_->handshake_done();
  auto known = [](bool present, const char* v) {
    return present ? std::optional<std::string>(v) : std::nullopt;
  };
  AccessLogEntry entry;
  entry.ts = UtcTimestamp();
  entry.conn = id_;
  entry.client = client_address();
  entry.listener = listener_->name;
  if (route_) entry.route = route_->name;
  entry.sni = known(tls_up && *tls_->server_name(), tls_up ? tls_->server_name() : "");
  entry.tls_version = known(tls_up, tls_up ? tls_->version() : "");
  entry.cipher = known(tls_up, tls_up ? tls_->cipher() : "");
  if (conversation_ && !conversation_->user().empty()) {
    entry.user = conversation_->user();
  } else if (login_ && !login_->user.empty()) {
    entry.user = login_->user;
  }
  // On a login "proxy" listener the attempts at the proxy say; elsewhere
  // the backend's answer to the client's LOGIN, as the Conversation saw it.
  const imap::Conversation::Login login = login_          ? login_->result
                                          : conversation_ ? conversation_->login()
                                                          : imap::Conversation::Login::kNone;
  if (login != imap::Conversation::Login::kNone) {
    entry.login = login == imap::Conversation::Login::kOk ? "ok" : "failed";
  }
  entry.duration_seconds = static_cast<double>(uv_now(host_->loop()) - born_ms_) / 1000;
  entry.bytes_in = bytes_in_;
  entry.bytes_out = bytes_out_;
  entry.commands = commands_count_;
  entry.appends = appends_count_;
  entry.reason = CloseReasonName(reason);
  return entry;
}

void Session::LogEnd(const AccessLogEntry& end) const {
  LogEvent(LogLevel::kInfo, "session_end", id_, client_address())
      .Add("listener", end.listener)
      .Add("sni", end.sni.value_or(""))
      .Add("route", end.route.value_or(""))
      .Add("backend", backend_used_ ? backend_used_->text : std::string())
      .Add("user", end.user.value_or(""))
      .Add("reason", end.reason)
      .Add("duration_seconds", end.duration_seconds)
      .Add("bytes_in", end.bytes_in)
      .Add("bytes_out", end.bytes_out)
      .Add("commands", end.commands);
}

}  // namespace imapfront
