// The client's socket: the start of a session, TLS (fed and drained), the
// plaintext phase of STARTTLS listeners, the end of the handshake and the
// choice of a route.
#include "proxy/log.h"
#include "proxy/session.h"
#include "tls/base64.h"

namespace imapfront {
namespace {

constexpr const char* kTooManyBye = "[UNAVAILABLE] Too many connections, try again later";

}  // namespace

void Session::Start() {
  sockaddr_storage peer{};
  int peer_len = sizeof(peer);
  const int r = uv_tcp_getpeername(&client_.tcp, reinterpret_cast<sockaddr*>(&peer), &peer_len);
  if (r < 0 || (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)) {
    // Gone before we asked (a reset right after accept): nothing to serve,
    // and no address to count it under.
    LogEvent(LogLevel::kDebug, "peer_unknown", id_, client_address())
        .Add("listener", listener_->name)
        .Add("error", r < 0 ? uv_strerror(r) : "not IP");
    Close(CloseReason::kClientClosed);
    return;
  }
  client_port_ = net::PortOf(peer);
  client_v6_ = peer.ss_family == AF_INET6;
  uv_tcp_nodelay(&client_.tcp, 1);
  last_activity_ms_ = uv_now(host_->loop());
  tls_ = std::make_unique<tls::Endpoint>(runtime_->tls->NewSession(),
                                         static_cast<tls::CiphertextSink*>(this));
  // The slot (whose address client_address() reads) is made below.
  LogEvent(LogLevel::kDebug, "accept", id_, net::EndpointText(peer))
      .Add("listener", listener_->name);
  // handshake_timeout runs from accept to TLS, the PROXY header and the
  // plaintext part included.
  ArmTimer(limits().handshake_timeout);
  if (listener_->proxy_protocol) {
    // Counted now; its address (and the per-IP cap) once the header says
    // which client the balancer serves.
    slot_.emplace(&host_->counts());
    slot_->SetClient(peer, false);
    if (!net::AnyContains(runtime_->config->trusted_proxies, peer)) {
      LogEvent(LogLevel::kWarn, "proxy_untrusted", id_, client_address())
          .Add("listener", listener_->name)
          .Add("error", "not in trusted_proxies");
      Close(CloseReason::kProtocolError);
      return;
    }
    phase_ = Phase::kProxyHeader;
    proxy_header_ = std::make_unique<net::ProxyHeaderParser>();
    Pump();
    return;
  }
  slot_.emplace(&host_->counts(), peer);
  Admit();
}

// The client's address is known: the caps, then TLS or the STARTTLS greeting.
void Session::Admit() {
  // Checked now; the client learns it after the handshake, as a BYE
  // instead of the greeting.
  const Limits& global = runtime_->config->limits;
  if (global.max_connections && slot_->total() > global.max_connections) {
    over_limit_ = "max_connections";
  } else if (global.max_connections_per_ip && slot_->from_ip() > global.max_connections_per_ip) {
    over_limit_ = "max_connections_per_ip";
  }
  phase_ = Phase::kHandshake;
  if (listener_->mode == ListenerMode::kStartTls) {
    phase_ = Phase::kPlain;
    if (over_limit_) {
      Close(CloseReason::kLimit, kTooManyBye);
      return;
    }
    gate_ = std::make_unique<imap::StartTlsGate>(global.max_line_bytes);
    WritePlain(imap::StartTlsGate::Greeting());
  }
  Pump();
}

void Session::OnClientRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread > 0) {
    self->last_activity_ms_ = uv_now(self->host_->loop());
    self->ClientBytes({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)});
  } else if (nread == UV_EOF) {
    self->ClientEof();
  } else if (nread < 0) {
    LogEvent(LogLevel::kDebug, "client_read_error", self->id_, self->client_address())
        .Add("error", uv_strerror(static_cast<int>(nread)));
    self->client_.Fail();
    self->ClientEof();
  }
  self->Pump();
}

// ---- before STARTTLS --------------------------------------------------------------

void Session::WritePlain(std::string_view text) {
  bytes_out_ += text.size();
  client_.out.Append({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

// imapfront answers the client itself; nothing reaches a backend (none is
// connected yet).
void Session::PlainBytes(std::span<const uint8_t> bytes) {
  imap::StartTlsGate::Result r = gate_->Feed(bytes);
  commands_count_ += r.commands;
  WritePlain(r.answers);
  switch (r.outcome) {
    case imap::StartTlsGate::Outcome::kMore:
      return;
    case imap::StartTlsGate::Outcome::kStartTls:
      // Whatever followed STARTTLS in plaintext is dropped, never executed
      // (CVE-2011-0411): the next bytes that count are the TLS handshake's.
      phase_ = Phase::kHandshake;
      gate_.reset();
      return;
    case imap::StartTlsGate::Outcome::kLogout:
      logout_seen_ = true;
      Close(CloseReason::kLogout);
      return;
    case imap::StartTlsGate::Outcome::kLineTooLong:
      Close(CloseReason::kProtocolError, "Line too long");
      return;
  }
}

// ---- TLS ---------------------------------------------------------------------------

void Session::ClientBytes(std::span<const uint8_t> ciphertext) {
  if (phase_ == Phase::kProxyHeader) {
    ProxyHeaderBytes(ciphertext);
    return;
  }
  if (phase_ == Phase::kPlain) {
    PlainBytes(ciphertext);
    return;
  }
  if (handshake_start_ns_ == 0) handshake_start_ns_ = uv_hrtime();
  tls_->Feed(ciphertext);
  std::span<uint8_t> plain = host_->plain_buffer();
  // Drain: read until the library has consumed every fed byte and holds no
  // decryptable record. Nothing may be left for a socket event that might
  // never come. The records of one read are gathered into one span, so the
  // conversation (and the backend's socket) sees them in one piece: one
  // write per read, not one per record.
  size_t gathered = 0;
  auto deliver = [&] {
    if (gathered == 0) return true;
    ClientPlaintext(plain.first(gathered));
    gathered = 0;
    return phase_ != Phase::kClosing;
  };
  for (;;) {
    const bool was_established = tls_->handshake_done();
    tls::Endpoint::ReadResult r = tls_->Read(plain.subspan(gathered));
    if (!was_established && tls_->handshake_done()) {
      HandshakeDone();
      if (phase_ == Phase::kClosing) return;
    }
    switch (r.status) {
      case tls::Endpoint::Status::kData:
        gathered += r.bytes;
        // Room for at least one more whole record, or hand over what is here.
        if (plain.size() - gathered < tls::kMaxRecordPlaintext && !deliver()) return;
        continue;
      case tls::Endpoint::Status::kWantInput:
        deliver();
        return;
      case tls::Endpoint::Status::kClosed:
        if (!deliver()) return;
        ClientEof();
        return;
      case tls::Endpoint::Status::kError:
        if (!deliver()) return;
        if (!tls_->handshake_done()) host_->stats().Add(Counter::kTlsHandshakeFailures);
        LogEvent(LogLevel::kInfo, "tls_error", id_, client_address())
            .Add("listener", listener_->name)
            .Add("error", tls_->error());
        Close(CloseReason::kTlsError);
        return;
    }
  }
}

void Session::OnCiphertext(std::span<const uint8_t> bytes) {
  client_.out.Append(bytes);
}

void Session::ClientEof() {
  client_.EndInput();
  if (conversation_) conversation_->OnClientEnded();
  switch (phase_) {
    case Phase::kProxyHeader:
    case Phase::kPlain:
      Close(CloseReason::kClientClosed);
      break;
    case Phase::kHandshake:
      // A bare connect-and-close (a port check) is not a TLS failure.
      if (client_sent_bytes()) host_->stats().Add(Counter::kTlsHandshakeFailures);
      Close(client_sent_bytes() ? CloseReason::kTlsError : CloseReason::kClientClosed);
      break;
    case Phase::kLogin:
      // What it sent before is still answered (a login it pipelined goes on).
      if (client_.failed() || (client_hold_.empty() && login_->delayed_answer.empty())) {
        Close(EndReason(true));
      }
      break;
    case Phase::kLoggingIn:
      if (client_.failed()) Close(EndReason(true));
      break;  // the attempt's outcome decides
    case Phase::kConnecting:
      // Commands the client sent before it half-closed still go to the
      // backend once it has greeted; the pump then passes the end on.
      if (client_.failed() || (!login_proxy() && backend_.out.empty() && client_hold_.empty())) {
        Close(EndReason(true));
      }
      break;
    case Phase::kRelay:
      if (client_.failed()) Close(EndReason(true));
      break;  // otherwise the pump passes the end on to the backend
    case Phase::kClosing:
      break;
  }
}

void Session::HandshakeDone() {
  host_->stats().Add(Counter::kTlsHandshakes);
  // Indexed by tls::Version, oldest first.
  constexpr Counter kByVersion[tls::kVersionCount] = {
      Counter::kTlsVersion10, Counter::kTlsVersion11, Counter::kTlsVersion12,
      Counter::kTlsVersion13};
  if (const std::optional<tls::Version> v = tls_->protocol_version()) {
    host_->stats().Add(kByVersion[static_cast<size_t>(*v)]);
  }
  host_->stats().Observe(Histogram::kTlsHandshake,
                         static_cast<double>(uv_hrtime() - handshake_start_ns_) / 1e9);
  const char* sni = tls_->server_name();
  route_ = runtime_->config->SelectRoute(listener_->name, sni);
  if (!route_) {
    LogEvent(LogLevel::kWarn, "no_route", id_, client_address())
        .Add("listener", listener_->name)
        .Add("sni", sni);
    Close(CloseReason::kNoRoute, "[UNAVAILABLE] No server for this name");
    return;
  }
  if (login_proxy()) {
    // The route is chosen by the login name, at each attempt.
    route_ = nullptr;
    if (over_limit_) {
      LogEvent(LogLevel::kWarn, "over_limit", id_, client_address())
          .Add("listener", listener_->name)
          .Add("limit", over_limit_);
      Close(CloseReason::kLimit, kTooManyBye);
      return;
    }
    StartLogin();
    return;
  }
  const Limits& l = limits();
  StartConversation();
  if (route_->forward_client == ForwardClient::kId) {
    const std::optional<std::string> id = ForwardIdCommand();
    if (!id) {
      Close(CloseReason::kClientClosed);  // gone already: nobody to forward
      return;
    }
    conversation_->SendBeforeClient(*id);
  }
  if (slot_->EnterRoute(route_->name) > l.max_connections && l.max_connections && !over_limit_) {
    over_limit_ = "route max_connections";
  }
  if (over_limit_) {
    LogEvent(LogLevel::kWarn, "over_limit", id_, client_address())
        .Add("listener", listener_->name)
        .Add("route", route_->name)
        .Add("limit", over_limit_);
    Close(CloseReason::kLimit, kTooManyBye);
    return;
  }
  phase_ = Phase::kConnecting;
  ConnectNextBackend();
}

// The route is known (and, on a login "proxy" listener, its user logged
// in): the session counts in the route from now on.
void Session::StartConversation() {
  const Limits& l = limits();
  conversation_.emplace(
      imap::ConversationOptions{
          .max_line_bytes = l.max_line_bytes,
          .max_literal_bytes = l.max_literal_bytes,
          .emulate_literal_plus = route_->literal_plus == LiteralPlus::kEmulate,
          .compat = &route_->compat,
          .version = IMAPFRONT_VERSION,
          .decode_base64 = &tls::DecodeBase64,
      },
      static_cast<imap::ConversationSink*>(this));
  route_counters_ = host_->RouteCounters(route_->name);
  route_counters_->accepted.Add(1);
}

}  // namespace imapfront
