// The client's address at the network edges (SPEC "Client addresses"): on
// a proxy_protocol listener the PROXY header from a trusted balancer comes
// first and names the client; toward a backend, routes[].forward_client
// passes the address on as a PROXY header (v1 or v2) at the start of the
// connection, or as Dovecot's ID command before any client byte.
#include "imap/forward_id.h"
#include "proxy/log.h"
#include "proxy/session.h"

namespace imapfront {

void Session::ProxyHeaderBytes(std::span<const uint8_t> bytes) {
  const size_t used = proxy_header_->Feed(bytes);
  switch (proxy_header_->state()) {
    case net::ProxyHeaderParser::State::kNeedMore:
      return;
    case net::ProxyHeaderParser::State::kInvalid:
      // Not a byte back: whoever this is, it does not speak to imapfront.
      LogEvent(LogLevel::kWarn, "proxy_header_invalid", id_, client_address())
          .Add("listener", listener_->name)
          .Add("error", proxy_header_->error());
      Close(CloseReason::kProtocolError);
      return;
    case net::ProxyHeaderParser::State::kDone:
      break;
  }
  const std::string balancer = client_address();
  if (proxy_header_->has_addresses()) {
    forwarded_source_ = std::make_unique<sockaddr_storage>(proxy_header_->source());
    slot_->SetClient(*forwarded_source_, true);
  }
  LogEvent(LogLevel::kDebug, "proxy_header", id_, client_address())
      .Add("listener", listener_->name)
      .Add("proxy", balancer)
      .Add("version", proxy_header_->version())
      .Add("local", !proxy_header_->has_addresses());
  proxy_header_.reset();
  Admit();
  // The ClientHello (or a first command) may have come in the same read.
  if (used < bytes.size() && phase_ != Phase::kClosing) ClientBytes(bytes.subspan(used));
}

std::string Session::client_address() const {
  if (forwarded_source_) return net::EndpointText(*forwarded_source_);
  if (!slot_) return "-";  // gone before its address was asked for
  // The peer: its address is the slot's (the connection counts' key).
  return net::EndpointText(AddressOf(slot_->ip(), client_port_, client_v6_));
}

bool Session::ClientAddresses(sockaddr_storage* source, sockaddr_storage* local) const {
  int len = sizeof(*local);
  if (uv_tcp_getsockname(&client_.tcp, reinterpret_cast<sockaddr*>(local), &len) < 0) {
    return false;
  }
  if (forwarded_source_) {
    *source = *forwarded_source_;
    return true;
  }
  len = sizeof(*source);
  return uv_tcp_getpeername(&client_.tcp, reinterpret_cast<sockaddr*>(source), &len) == 0;
}

std::optional<std::string> Session::ForwardIdCommand() const {
  sockaddr_storage source{}, local{};
  if (!ClientAddresses(&source, &local)) return std::nullopt;
  return imap::ForwardIdCommand({.ip = net::AddressText(source),
                                 .port = net::PortOf(source),
                                 .local_ip = net::AddressText(local),
                                 .local_port = net::PortOf(local),
                                 .session = id_});
}

// A backend connection has just been made: the PROXY header is its first
// bytes (backend_.out holds nothing else before the greeting).
void Session::BackendConnected() {
  const ForwardClient forward = route_->forward_client;
  if (forward != ForwardClient::kProxyV1 && forward != ForwardClient::kProxyV2) return;
  sockaddr_storage source{}, local{};
  if (!ClientAddresses(&source, &local)) {
    // Reset meanwhile: nobody to forward, and no false address sent.
    Close(EndReason(true));
    return;
  }
  const std::string header = forward == ForwardClient::kProxyV1 ? net::ProxyV1Header(source, local)
                                                                : net::ProxyV2Header(source, local);
  backend_.out.Append({reinterpret_cast<const uint8_t*>(header.data()), header.size()});
}

}  // namespace imapfront
