#include "proxy/session.h"

#include <atomic>
#include <cmath>

#include <nlohmann/json.hpp>

#include "imap/login.h"
#include "proxy/log.h"
#include "proxy/worker.h"

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
uv_handle_t* Handle(void* h) {
  return static_cast<uv_handle_t*>(h);
}

std::string PeerAddress(const sockaddr_storage& ss) {
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return "?";
  char ip[64] = "?";
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  uv_ip4_name(a, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
}

}  // namespace

Session::Session(Worker* worker, std::shared_ptr<const Runtime> runtime,
                 const ListenerConfig* listener)
    : worker_(worker),
      runtime_(std::move(runtime)),
      listener_(listener),
      id_(g_next_session_id.fetch_add(1, std::memory_order_relaxed)) {
  worker_->stats().sessions.accepted.Add(1);
  uv_tcp_init(worker_->loop(), &client_.tcp);
  client_.tcp.data = this;
  client_.open = true;
  uv_timer_init(worker_->loop(), &timer_);
  timer_.data = this;
  open_handles_ = 2;
  born_ms_ = uv_now(worker_->loop());
  worker_->Attach(this);
}

Session::~Session() {
  // The one place a session's end is counted.
  const size_t reason = static_cast<size_t>(reason_.value_or(CloseReason::kClientClosed));
  worker_->stats().sessions.closed[reason].Add(1);
  if (route_counters_) route_counters_->closed[reason].Add(1);
  WriteAccessLog(static_cast<CloseReason>(reason));
  worker_->Detach(this);
}

const Limits& Session::limits() const {
  return route_ ? route_->limits : runtime_->config->limits;
}

void Session::Start() {
  sockaddr_storage peer{};
  int peer_len = sizeof(peer);
  uv_tcp_getpeername(&client_.tcp, reinterpret_cast<sockaddr*>(&peer), &peer_len);
  client_address_ = PeerAddress(peer);
  // Counted now, checked now; the client learns it after the handshake, as a
  // BYE instead of the greeting.
  slot_.emplace(&worker_->counts(), peer);
  const Limits& global = runtime_->config->limits;
  if (global.max_connections && slot_->total() > global.max_connections) {
    over_limit_ = "max_connections";
  } else if (global.max_connections_per_ip && slot_->from_ip() > global.max_connections_per_ip) {
    over_limit_ = "max_connections_per_ip";
  }
  uv_tcp_nodelay(&client_.tcp, 1);
  last_activity_ms_ = uv_now(worker_->loop());
  tls_ = std::make_unique<tls::Endpoint>(runtime_->tls->NewSession(),
                                         static_cast<tls::CiphertextSink*>(this));
  Logf(LogLevel::kDebug, "conn=%llu client=%s listener=%s accepted",
       static_cast<unsigned long long>(id_), client_address_.c_str(), listener_->name.c_str());
  // handshake_timeout runs from accept to TLS, the plaintext part included.
  ArmTimer(limits().handshake_timeout);
  if (listener_->mode == ListenerMode::kStartTls) {
    phase_ = Phase::kPlain;
    if (over_limit_) {
      Close(CloseReason::kLimit, "[UNAVAILABLE] Too many connections, try again later");
      return;
    }
    // Literals are refused before TLS: no '+' is ever sent, and {n+} data is
    // read and dropped.
    commands_.emplace(imap::CommandFramerOptions{.max_line_bytes = global.max_line_bytes,
                                                 .max_literal_bytes = 0});
    WritePlain("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imapfront ready\r\n");
  }
  Pump();
}

void Session::WritePlain(std::string_view text) {
  bytes_out_ += text.size();
  client_.out.Append({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

void Session::PlainBytes(std::span<const uint8_t> bytes) {
  while (!bytes.empty() && phase_ == Phase::kPlain) {
    imap::CommandStep step = commands_->Next(bytes);
    bytes = bytes.subspan(step.consumed);
    switch (step.kind) {
      case imap::CommandStep::Kind::kNeedInput:
      case imap::CommandStep::Kind::kLiteralData:  // refused {n+} data: dropped
        break;
      case imap::CommandStep::Kind::kBlocked:
        return;  // cannot happen: every command is answered (and unblocked) here
      case imap::CommandStep::Kind::kLineTooLong:
        Close(CloseReason::kProtocolError, "Line too long");
        return;
      case imap::CommandStep::Kind::kLine:
        // A command ends here, or a synchronizing literal (even {0}) waits
        // for a "+" that imapfront will not send: answer it now.
        if (step.command_end || (step.literal && !step.literal->non_sync)) AnswerBeforeTls(step);
        break;
    }
  }
  // Whatever followed STARTTLS in plaintext is dropped, never executed
  // (CVE-2011-0411): the next bytes that count are the TLS handshake's.
}

void Session::AnswerBeforeTls(const imap::CommandStep& step) {
  const std::string tag = commands_->tag().empty() ? "*" : commands_->tag();
  const std::string name = commands_->name();
  ++commands_count_;
  // Answered here: nothing is pending, so the next line starts afresh.
  commands_.emplace(imap::CommandFramerOptions{
      .max_line_bytes = runtime_->config->limits.max_line_bytes, .max_literal_bytes = 0});
  if (step.literal || step.disposition != imap::LineDisposition::kForward) {
    WritePlain(tag + " BAD Literals are not accepted before STARTTLS\r\n");
  } else if (name == "CAPABILITY") {
    WritePlain("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n" + tag +
               " OK CAPABILITY completed\r\n");
  } else if (name == "NOOP") {
    WritePlain(tag + " OK NOOP completed\r\n");
  } else if (name == "LOGOUT") {
    WritePlain("* BYE Logging out\r\n" + tag + " OK LOGOUT completed\r\n");
    logout_seen_ = true;
    Close(CloseReason::kLogout);
  } else if (name == "STARTTLS") {
    WritePlain(tag + " OK Begin TLS negotiation now\r\n");
    phase_ = Phase::kHandshake;
  } else if (name == "LOGIN" || name == "AUTHENTICATE") {
    WritePlain(tag + " NO [PRIVACYREQUIRED] Use STARTTLS first\r\n");
  } else {
    WritePlain(tag + " BAD Only CAPABILITY, NOOP, LOGOUT and STARTTLS before STARTTLS\r\n");
  }
}

// ---- events ---------------------------------------------------------------

void Session::OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Session*>(handle->data);
  std::span<uint8_t> b = self->worker_->read_buffer();
  *buf = uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(b.size()));
}

void Session::OnClientRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread > 0) {
    self->last_activity_ms_ = uv_now(self->worker_->loop());
    self->ClientBytes({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)});
  } else if (nread == UV_EOF) {
    self->ClientEof();
  } else if (nread < 0) {
    Logf(LogLevel::kDebug, "conn=%llu client=%s read error: %s",
         static_cast<unsigned long long>(self->id_), self->client_address_.c_str(),
         uv_strerror(static_cast<int>(nread)));
    self->client_.dead = true;
    self->ClientEof();
  }
  self->Pump();
}

void Session::OnBackendRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread > 0) {
    self->last_activity_ms_ = uv_now(self->worker_->loop());
    self->BackendBytes({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)});
  } else if (nread < 0) {
    if (nread != UV_EOF) self->backend_.dead = true;
    if (self->phase_ == Phase::kConnecting) {
      self->BackendConnectFailed(nread == UV_EOF ? "closed before greeting"
                                                 : uv_strerror(static_cast<int>(nread)));
    } else {
      self->backend_.eof = true;
    }
  }
  self->Pump();
}

void Session::OnWriteDone(uv_write_t* req, int status) {
  if (status == UV_ECANCELED) return;  // the handle is closing
  auto* self = static_cast<Session*>(req->data);
  Side& side = req->handle == Stream(&self->client_.tcp) ? self->client_ : self->backend_;
  side.out.Consume(side.in_flight);
  side.in_flight = 0;
  if (status < 0) side.dead = true;
  self->Pump();
}

void Session::OnShutdownDone(uv_shutdown_t* req, int status) {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<Session*>(req->data);
  if (status < 0) self->backend_.dead = true;
  self->Pump();
}

void Session::OnConnect(uv_connect_t* req, int status) {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<Session*>(req->data);
  if (self->phase_ != Phase::kConnecting) return;
  if (status < 0) {
    self->BackendConnectFailed(uv_strerror(status));
  } else {
    uv_tcp_nodelay(&self->backend_.tcp, 1);
    self->backend_.connected = true;
  }
  self->Pump();
}

void Session::OnTimer(uv_timer_t* timer) {
  auto* self = static_cast<Session*>(timer->data);
  switch (self->phase_) {
    case Phase::kPlain:
      self->Close(CloseReason::kHandshakeTimeout, "Autologout; no STARTTLS in time");
      break;
    case Phase::kHandshake:
      self->Close(CloseReason::kHandshakeTimeout);
      break;
    case Phase::kConnecting:
      self->BackendConnectFailed("timed out");
      break;
    case Phase::kRelay:
      self->RelayDeadlines(uv_now(self->worker_->loop()));
      break;
    case Phase::kClosing:
      self->CloseHandles();  // the last bytes could not be delivered in time
      return;
  }
  self->Pump();
}

void Session::OnHandleClosed(uv_handle_t* handle) {
  auto* self = static_cast<Session*>(handle->data);
  --self->open_handles_;
  if (handle == Handle(&self->backend_.tcp) && !self->reason_) {
    self->ConnectNextBackend();  // a failed attempt's handle; try the next backend
    self->Pump();
    return;
  }
  if (self->open_handles_ == 0 && self->reason_) delete self;
}

// ---- client side ------------------------------------------------------------

void Session::ClientBytes(std::span<const uint8_t> ciphertext) {
  if (phase_ == Phase::kPlain) {
    PlainBytes(ciphertext);
    return;
  }
  client_sent_bytes_ = true;
  tls_->Feed(ciphertext);
  std::span<uint8_t> plain = worker_->plain_buffer();
  // Drain: read until the library has consumed every fed byte and holds no
  // decryptable record. Nothing may be left for a socket event that might
  // never come.
  for (;;) {
    const bool was_established = tls_->handshake_done();
    tls::Endpoint::ReadResult r = tls_->Read(plain);
    if (!was_established && tls_->handshake_done()) {
      HandshakeDone();
      if (phase_ == Phase::kClosing) return;
    }
    switch (r.status) {
      case tls::Endpoint::Status::kData:
        ClientPlaintext(plain.first(r.bytes));
        if (phase_ == Phase::kClosing) return;
        continue;
      case tls::Endpoint::Status::kWantInput:
        return;
      case tls::Endpoint::Status::kClosed:
        ClientEof();
        return;
      case tls::Endpoint::Status::kError:
        if (!tls_->handshake_done()) worker_->stats().Add(Counter::kTlsHandshakeFailures);
        Logf(LogLevel::kInfo, "conn=%llu client=%s listener=%s TLS error: %s",
             static_cast<unsigned long long>(id_), client_address_.c_str(), listener_->name.c_str(),
             tls_->error().c_str());
        Close(CloseReason::kTlsError);
        return;
    }
  }
}

void Session::ClientEof() {
  client_.eof = true;
  switch (phase_) {
    case Phase::kPlain:
      Close(CloseReason::kClientClosed);
      break;
    case Phase::kHandshake:
      // A bare connect-and-close (a port check) is not a TLS failure.
      if (client_sent_bytes_) worker_->stats().Add(Counter::kTlsHandshakeFailures);
      Close(client_sent_bytes_ ? CloseReason::kTlsError : CloseReason::kClientClosed);
      break;
    case Phase::kConnecting:
      // Commands the client sent before it half-closed still go to the
      // backend once it has greeted; the pump then passes the end on.
      if (client_.dead || (backend_.out.empty() && client_hold_.empty())) Close(EndReason(true));
      break;
    case Phase::kRelay:
      if (client_.dead) Close(EndReason(true));
      break;  // otherwise the pump passes the end on to the backend
    case Phase::kClosing:
      break;
  }
}

void Session::HandshakeDone() {
  worker_->stats().Add(Counter::kTlsHandshakes);
  const char* sni = tls_->server_name();
  route_ = runtime_->config->SelectRoute(listener_->name, sni);
  if (!route_) {
    Logf(LogLevel::kWarn, "conn=%llu client=%s listener=%s sni=%s no route matches",
         static_cast<unsigned long long>(id_), client_address_.c_str(), listener_->name.c_str(),
         Sanitize(sni).c_str());
    Close(CloseReason::kBackendUnavailable, "[UNAVAILABLE] No server for this name");
    return;
  }
  const Limits& l = limits();
  commands_.emplace(imap::CommandFramerOptions{
      .max_line_bytes = l.max_line_bytes,
      .max_literal_bytes = l.max_literal_bytes,
      .emulate_literal_plus = route_->literal_plus == LiteralPlus::kEmulate});
  responses_.emplace(l.max_line_bytes);
  capability_edit_.add_literal_plus = route_->literal_plus == LiteralPlus::kEmulate;
  route_counters_ = worker_->RouteCounters(route_->name);
  route_counters_->accepted.Add(1);
  if (slot_->EnterRoute(route_->name) > l.max_connections && l.max_connections && !over_limit_) {
    over_limit_ = "route max_connections";
  }
  if (over_limit_) {
    Logf(LogLevel::kWarn, "conn=%llu client=%s route=%s over %s; refused",
         static_cast<unsigned long long>(id_), client_address_.c_str(), route_->name.c_str(),
         over_limit_);
    Close(CloseReason::kLimit, "[UNAVAILABLE] Too many connections, try again later");
    return;
  }
  phase_ = Phase::kConnecting;
  ConnectNextBackend();
}

void Session::ClientPlaintext(std::span<const uint8_t> plaintext) {
  if (!client_hold_.empty()) {
    client_hold_.Append(plaintext);  // behind bytes already waiting
    return;
  }
  size_t used = FrameClient(plaintext);
  if (used < plaintext.size() && phase_ != Phase::kClosing) {
    client_hold_.Append(plaintext.subspan(used));
  }
}

// Frames and forwards as much of |plaintext| as the framer takes; returns
// how much that was (less when it waits for the server).
size_t Session::FrameClient(std::span<const uint8_t> plaintext) {
  size_t used = 0;
  while (used < plaintext.size() && phase_ != Phase::kClosing) {
    imap::CommandStep step = commands_->Next(plaintext.subspan(used));
    used += step.consumed;
    switch (step.kind) {
      case imap::CommandStep::Kind::kNeedInput:
        break;
      case imap::CommandStep::Kind::kBlocked:
        return used;
      case imap::CommandStep::Kind::kLineTooLong:
        Logf(LogLevel::kInfo, "conn=%llu client=%s line longer than %llu bytes",
             static_cast<unsigned long long>(id_), client_address_.c_str(),
             static_cast<unsigned long long>(limits().max_line_bytes));
        Close(CloseReason::kProtocolError, "Line too long");
        return plaintext.size();
      case imap::CommandStep::Kind::kLiteralData:
        if (user_next_ == UserSource::kLoginLiteral && user_.size() < 256) {
          user_.append(reinterpret_cast<const char*>(step.bytes.data()),
                       std::min<size_t>(step.bytes.size(), 256 - user_.size()));
        }
        if (!step.discard) {
          worker_->stats().Add(Counter::kImapLiteralBytes, step.bytes.size());
          ForwardToBackend(step.bytes);
        }
        break;
      case imap::CommandStep::Kind::kLine:
        HandleClientLine(step);
        break;
    }
  }
  return used;
}

void Session::HandleClientLine(const imap::CommandStep& step) {
  if (step.command_start) {
    worker_->stats().Add(Counter::kImapCommands);
    ++commands_count_;
    const std::string& name = commands_->name();
    if (name == "APPEND") {
      worker_->stats().Add(Counter::kImapAppends);
      ++appends_count_;
    }
    if (name == "LOGOUT") logout_seen_ = true;
    if (step.command_end && (name == "STARTTLS" || name == "COMPRESS")) {
      // TLS is already up, and compression would hide the stream from the
      // framers: both belong between the client and imapfront, which offers
      // neither here. The backend never sees them.
      commands_->AnsweredLocally();
      AnswerClient(commands_->tag() + " BAD " + name + " is not available here\r\n");
      return;
    }
  }
  NoteUser(step);
  switch (step.disposition) {
    case imap::LineDisposition::kForward:
      ForwardToBackend(step.bytes);
      return;
    case imap::LineDisposition::kForwardAsSync: {
      const std::string sync = imap::ToSyncLiteral(
          {reinterpret_cast<const char*>(step.bytes.data()), step.bytes.size()});
      ForwardToBackend({reinterpret_cast<const uint8_t*>(sync.data()), sync.size()});
      return;
    }
    case imap::LineDisposition::kDrop:
      return;
    case imap::LineDisposition::kRefuseTooBigSync:
      AnswerClient(commands_->tag() + " NO [TOOBIG] Literal too large\r\n");
      return;
    case imap::LineDisposition::kRefuseTooBigNonSync:
      AnswerClient(commands_->tag() + " BAD [TOOBIG] Literal too large\r\n");
      return;
    case imap::LineDisposition::kTooBigMidCommand:
      Close(CloseReason::kProtocolError, "[TOOBIG] Literal too large");
      return;
  }
}

// Remembers who logs in; never the password, which is never kept.
void Session::NoteUser(const imap::CommandStep& step) {
  std::string_view line(reinterpret_cast<const char*>(step.bytes.data()), step.bytes.size());
  line = imap::StripLineEnding(line);
  if (user_next_ == UserSource::kLoginLiteral) user_next_ = UserSource::kNone;  // it has ended
  if (step.continuation) {
    if (user_next_ == UserSource::kPlainResponse) {
      if (auto user = imap::PlainAuthcid(line)) user_ = *user;
      user_next_ = UserSource::kNone;
    }
    return;
  }
  if (!step.command_start) return;
  user_next_ = UserSource::kNone;  // a refused AUTHENTICATE leaves nothing pending
  const std::string& name = commands_->name();
  if (name == "LOGIN") {
    if (auto login = imap::ParseLoginUser(line)) {
      user_ = login->user;
      if (login->in_literal) user_next_ = UserSource::kLoginLiteral;
    }
  } else if (name == "AUTHENTICATE") {
    if (auto plain = imap::ParseAuthenticatePlain(line)) {
      if (!plain->user.empty()) user_ = plain->user;
      if (plain->response_follows) user_next_ = UserSource::kPlainResponse;
    }
  }
}

void Session::WriteAccessLog(CloseReason reason) const {
  const std::shared_ptr<AccessLog>& log = runtime_->access_log;
  if (!log) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char when[40];
  size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
  const bool tls_up = tls_ && tls_->handshake_done();
  using nlohmann::json;
  auto text_or_null = [](bool present, std::string_view v) {
    return present ? json(Sanitize(v, 256)) : json(nullptr);
  };
  json entry = {
      {"ts", when},
      {"conn", id_},
      {"client", client_address_},
      {"listener", listener_->name},
      {"route", route_ ? json(route_->name) : json(nullptr)},
      {"sni", text_or_null(tls_up && *tls_->server_name(), tls_up ? tls_->server_name() : "")},
      {"tls_version", text_or_null(tls_up, tls_up ? tls_->version() : "")},
      {"cipher", text_or_null(tls_up, tls_up ? tls_->cipher() : "")},
      {"user", text_or_null(!user_.empty(), user_)},
      {"duration_seconds", static_cast<double>(uv_now(worker_->loop()) - born_ms_) / 1000},
      {"bytes_in", bytes_in_},
      {"bytes_out", bytes_out_},
      {"commands", commands_count_},
      {"appends", appends_count_},
      {"reason", CloseReasonName(reason)},
  };
  log->Write(entry.dump(-1, ' ', false, json::error_handler_t::replace));
}

void Session::ResumeClient() {
  resume_client_ = false;
  std::span<const uint8_t> first[1];
  while (!client_hold_.empty() && phase_ != Phase::kClosing && !commands_->blocked()) {
    client_hold_.Gather(first);
    size_t used = FrameClient(first[0]);
    client_hold_.Consume(used);
    if (used < first[0].size()) break;
  }
}

void Session::AnswerClient(const std::string& line) {
  local_answers_ += line;
  if (phase_ == Phase::kRelay && !responses_->mid_response()) OnResponseEnd();
}

void Session::ForwardToBackend(std::span<const uint8_t> plaintext) {
  worker_->stats().Add(Counter::kBytesClientToBackend, plaintext.size());
  bytes_in_ += plaintext.size();
  if (phase_ == Phase::kRelay && backend_.out.empty() && backend_.in_flight == 0 &&
      !backend_.dead) {
    // Fast path: straight from the worker's buffer to the socket.
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(plaintext.data())),
                               static_cast<unsigned>(plaintext.size()));
    int n = uv_try_write(Stream(&backend_.tcp), &buf, 1);
    if (n > 0) {
      plaintext = plaintext.subspan(static_cast<size_t>(n));
    } else if (n != UV_EAGAIN) {
      backend_.dead = true;
      return;
    }
  }
  // Held: until the backend has greeted, or while it is slower than the client.
  backend_.out.Append(plaintext);
}

// ---- backend side -----------------------------------------------------------

void Session::ConnectNextBackend() {
  if (backend_index_ >= route_->backends.size()) {
    Close(CloseReason::kBackendUnavailable, "[UNAVAILABLE] Backend unavailable");
    return;
  }
  const SocketAddress& address = route_->backends[backend_index_];
  backend_.tcp = {};
  uv_tcp_init(worker_->loop(), &backend_.tcp);
  backend_.tcp.data = this;
  backend_.open = true;
  backend_.connected = backend_.reading = backend_.eof = backend_.dead = false;
  ++open_handles_;
  greeting_.emplace(limits().max_line_bytes);
  greeting_line_.clear();
  connect_req_.data = this;
  int r = uv_tcp_connect(&connect_req_, &backend_.tcp, address.sa(), &Session::OnConnect);
  if (r < 0) {
    BackendConnectFailed(uv_strerror(r));
    return;
  }
  ArmTimer(limits().backend_connect_timeout);
}

void Session::BackendConnectFailed(const char* why) {
  if (!backend_.open) return;  // this attempt is already being abandoned
  Logf(LogLevel::kWarn, "conn=%llu client=%s route=%s backend=%s failed: %s",
       static_cast<unsigned long long>(id_), client_address_.c_str(), route_->name.c_str(),
       route_->backends[backend_index_].text.c_str(), why);
  ++backend_index_;
  uv_timer_stop(&timer_);
  backend_.open = false;
  backend_.reading = false;
  // The next attempt starts from the close callback, once the handle is free.
  uv_close(Handle(&backend_.tcp), &Session::OnHandleClosed);
}

void Session::BackendBytes(std::span<const uint8_t> bytes) {
  if (phase_ == Phase::kConnecting) {
    size_t n = greeting_->Feed(bytes);
    greeting_line_.append(reinterpret_cast<const char*>(bytes.data()), n);
    bytes = bytes.subspan(n);
    if (!greeting_->done()) return;
    switch (greeting_->kind()) {
      case imap::GreetingScanner::Kind::kInvalid:
        BackendConnectFailed("sent no IMAP greeting");
        return;
      case imap::GreetingScanner::Kind::kBye:
        // A backend at its own connection limit; another may have room.
        BackendConnectFailed(("refused: " + Sanitize(greeting_line_)).c_str());
        return;
      default:
        break;
    }
    BackendGreeted();
  }
  if (phase_ == Phase::kRelay && !bytes.empty()) responses_->Feed(bytes, *this);
  if (resume_client_) ResumeClient();
}

void Session::BackendGreeted() {
  phase_ = Phase::kRelay;
  greeting_.reset();
  std::string line = std::move(greeting_line_);
  greeting_line_ = std::string();
  Logf(LogLevel::kInfo, "conn=%llu client=%s listener=%s sni=%s route=%s backend=%s tls=%s %s",
       static_cast<unsigned long long>(id_), client_address_.c_str(), listener_->name.c_str(),
       Sanitize(tls_->server_name()).c_str(), route_->name.c_str(),
       route_->backends[backend_index_].text.c_str(), tls_->version(), tls_->cipher());
  ArmRelayTimer();
  // After STARTTLS the client has had imapfront's greeting already.
  if (listener_->mode != ListenerMode::kStartTls) {
    ForwardStatusLine({reinterpret_cast<const uint8_t*>(line.data()), line.size()}, false);
  }
  OnResponseEnd();  // answers imapfront gave before the greeting go after it
}

void Session::ForwardStatusLine(std::span<const uint8_t> line, bool capability_response) {
  auto rewritten =
      imap::RewriteCapabilities({reinterpret_cast<const char*>(line.data()), line.size()},
                                capability_response, capability_edit_);
  if (rewritten) {
    ForwardToClient({reinterpret_cast<const uint8_t*>(rewritten->data()), rewritten->size()});
  } else {
    ForwardToClient(line);
  }
}

void Session::OnResponseBytes(std::span<const uint8_t> bytes) {
  if (phase_ == Phase::kRelay) ForwardToClient(bytes);
}

void Session::OnResponseLine(const imap::ResponseLine& line) {
  if (phase_ != Phase::kRelay) return;
  bool pass = true;
  switch (line.kind) {
    case imap::ResponseLine::Kind::kContinuation:
      pass = commands_->OnServerContinuation();
      break;
    case imap::ResponseLine::Kind::kTagged:
      commands_->OnServerTagged(line.tag);
      break;
    case imap::ResponseLine::Kind::kStatus:
    case imap::ResponseLine::Kind::kCapability:
      break;
  }
  resume_client_ = resume_client_ || !commands_->blocked();
  if (pass && !line.passed_on) {
    ForwardStatusLine(line.bytes, line.kind == imap::ResponseLine::Kind::kCapability);
  }
}

void Session::OnResponseEnd() {
  if (local_answers_.empty() || phase_ != Phase::kRelay) return;
  std::string answers = std::move(local_answers_);
  local_answers_ = std::string();
  bytes_out_ += answers.size();
  if (!tls_->Write({reinterpret_cast<const uint8_t*>(answers.data()), answers.size()})) {
    Close(CloseReason::kTlsError);
  }
}

void Session::ForwardToClient(std::span<const uint8_t> plaintext) {
  worker_->stats().Add(Counter::kBytesBackendToClient, plaintext.size());
  bytes_out_ += plaintext.size();
  if (!tls_->Write(plaintext)) {
    Logf(LogLevel::kInfo, "conn=%llu client=%s TLS write error: %s",
         static_cast<unsigned long long>(id_), client_address_.c_str(), tls_->error().c_str());
    Close(CloseReason::kTlsError);
  }
}

void Session::OnCiphertext(std::span<const uint8_t> bytes) {
  client_.out.Append(bytes);
}

// ---- the pump ---------------------------------------------------------------

void Session::Pump() {
  if (pumping_) return;
  pumping_ = true;
  PumpOnce();
  pumping_ = false;
}

void Session::PumpOnce() {
  if (phase_ == Phase::kClosing) {
    Flush(client_);
    if (client_.dead || (client_.out.empty() && client_.in_flight == 0)) CloseHandles();
    return;
  }
  Flush(client_);
  if (phase_ == Phase::kRelay) Flush(backend_);
  if (client_.dead) {
    Close(EndReason(true));
    return;
  }
  if (backend_.dead && phase_ == Phase::kRelay) {
    Close(EndReason(client_.eof));
    return;
  }
  if (phase_ == Phase::kRelay) {
    // Pass ends on once everything before them has been delivered.
    // Bytes held for the framer still go first.
    if (client_.eof && !backend_.shut_down && backend_.out.empty() && backend_.in_flight == 0 &&
        client_hold_.empty() && !commands_->blocked()) {
      backend_.shut_down = true;
      backend_.shutdown_req.data = this;
      if (uv_shutdown(&backend_.shutdown_req, Stream(&backend_.tcp), &Session::OnShutdownDone) <
          0) {
        Close(EndReason(true));
        return;
      }
    }
    if (backend_.eof && client_.out.empty() && client_.in_flight == 0) {
      Close(EndReason(client_.eof));
      return;
    }
  }
  if (pending_end_ && phase_ == Phase::kRelay && !commands_->CommandInProgress() &&
      !responses_->mid_response() && client_hold_.empty()) {
    Close(*pending_end_, *pending_end_ == CloseReason::kLifetime ? kLifetimeBye : kShutdownBye);
    return;
  }
  const uint64_t limit = limits().buffer_bytes;
  // imapfront's own answers count against the client's side too: a client
  // that sends refused commands without reading the answers is stopped.
  const bool client_room = backend_.out.size() < limit && client_hold_.size() < limit &&
                           client_.out.size() + local_answers_.size() < limit;
  UpdateReading(client_, !client_.eof && client_room, &Session::OnClientRead);
  UpdateReading(backend_,
                backend_.open && backend_.connected && !backend_.eof && client_.out.size() < limit,
                &Session::OnBackendRead);
}

void Session::Flush(Side& side) {
  if (!side.open || side.dead || side.in_flight > 0 || side.out.empty()) return;
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
    side.dead = true;
    return;
  }
  if (side.out.empty()) return;
  unsigned count = gather();
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  side.write_req.data = this;
  if (uv_write(&side.write_req, Stream(&side.tcp), bufs, count, &Session::OnWriteDone) < 0) {
    side.dead = true;
    return;
  }
  side.in_flight = total;
}

void Session::UpdateReading(Side& side, bool want, uv_read_cb cb) {
  if (!side.open) return;
  if (want && !side.reading) {
    if (uv_read_start(Stream(&side.tcp), &Session::OnAlloc, cb) == 0) side.reading = true;
  } else if (!want && side.reading) {
    uv_read_stop(Stream(&side.tcp));
    side.reading = false;
  }
}

void Session::RelayDeadlines(uint64_t now) {
  const Limits& l = limits();
  if (now - last_activity_ms_ >= Ms(l.idle_timeout)) {
    Close(CloseReason::kIdleTimeout, "Autologout; idle for too long");
    return;
  }
  if (pending_end_ && now >= pending_deadline_ms_) {
    // The grace is over: end even with a command in progress.
    Close(*pending_end_, *pending_end_ == CloseReason::kLifetime ? kLifetimeBye : kShutdownBye);
    return;
  }
  if (!pending_end_ && l.max_lifetime > 0 && now - born_ms_ >= Ms(l.max_lifetime)) {
    Logf(LogLevel::kInfo,
         "conn=%llu client=%s lifetime reached; ending when no command is in progress",
         static_cast<unsigned long long>(id_), client_address_.c_str());
    EndWhenQuiet(CloseReason::kLifetime, now + Ms(l.lifetime_grace));
    return;
  }
  ArmRelayTimer();
}

void Session::ArmRelayTimer() {
  const Limits& l = limits();
  uint64_t deadline = last_activity_ms_ + Ms(l.idle_timeout);
  if (pending_end_) {
    deadline = std::min(deadline, pending_deadline_ms_);
  } else if (l.max_lifetime > 0) {
    deadline = std::min(deadline, born_ms_ + Ms(l.max_lifetime));
  }
  const uint64_t now = uv_now(worker_->loop());
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
  if (phase_ != Phase::kRelay) {
    Close(CloseReason::kShutdown, kShutdownBye);
    return;
  }
  if (pending_end_) {
    // A lifetime end is already waiting; the shutdown grace may be shorter.
    pending_end_ = CloseReason::kShutdown;
    pending_deadline_ms_ =
        std::min(pending_deadline_ms_, uv_now(worker_->loop()) + Ms(limits().shutdown_grace));
    ArmRelayTimer();
    Pump();
    return;
  }
  EndWhenQuiet(CloseReason::kShutdown, uv_now(worker_->loop()) + Ms(limits().shutdown_grace));
}

void Session::ArmTimer(double seconds) {
  auto ms = static_cast<uint64_t>(std::ceil(seconds * 1000));
  uv_timer_start(&timer_, &Session::OnTimer, ms > 0 ? ms : 1, 0);
}

// ---- the end ----------------------------------------------------------------

// A session that ends after a LOGOUT ended by logout, whichever side closed;
// otherwise the side that went away first.
CloseReason Session::EndReason(bool client_first) const {
  if (logout_seen_) return CloseReason::kLogout;
  return client_first ? CloseReason::kClientClosed : CloseReason::kBackendClosed;
}

void Session::Close(CloseReason reason, const char* bye) {
  if (reason_) return;
  reason_ = reason;
  Logf(LogLevel::kInfo, "conn=%llu client=%s listener=%s route=%s closed reason=%s",
       static_cast<unsigned long long>(id_), client_address_.c_str(), listener_->name.c_str(),
       route_ ? route_->name.c_str() : "-", CloseReasonName(reason));
  // A BYE inside a response the backend has not finished would corrupt it;
  // then the client only sees the connection end.
  const bool mid_response = phase_ == Phase::kRelay && responses_->mid_response();
  const bool was_plain = phase_ == Phase::kPlain;
  phase_ = Phase::kClosing;
  uv_timer_stop(&timer_);
  UpdateReading(client_, false, nullptr);
  UpdateReading(backend_, false, nullptr);
  if (was_plain && bye && !client_.dead) WritePlain(std::string("* BYE ") + bye + "\r\n");
  if (tls_ && tls_->handshake_done() && !client_.dead) {
    if (bye && !mid_response) {
      std::string line = std::string("* BYE ") + bye + "\r\n";
      tls_->Write({reinterpret_cast<const uint8_t*>(line.data()), line.size()});
    }
    tls_->SendCloseNotify();
  }
  // Deliver what is queued for the client (the backend's last words, a BYE,
  // a TLS alert), but no longer than close_timeout.
  Flush(client_);
  if (client_.dead || (client_.out.empty() && client_.in_flight == 0)) {
    CloseHandles();
  } else {
    ArmTimer(limits().close_timeout);
  }
}

void Session::CloseHandles() {
  for (Side* side : {&client_, &backend_}) {
    if (side->open) {
      side->open = false;
      uv_close(Handle(&side->tcp), &Session::OnHandleClosed);
    }
  }
  if (!uv_is_closing(Handle(&timer_))) uv_close(Handle(&timer_), &Session::OnHandleClosed);
}

}  // namespace imapfront
