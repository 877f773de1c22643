#include "tls/endpoint.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "tls/context.h"

namespace imapfront::tls {

const BIO_METHOD* Endpoint::Method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "imapfront");
    BIO_meth_set_read(m, &Endpoint::BioRead);
    BIO_meth_set_write(m, &Endpoint::BioWrite);
    BIO_meth_set_ctrl(m, &Endpoint::BioCtrl);
    return m;
  }();
  return method;
}

Endpoint::Endpoint(bssl::UniquePtr<SSL> ssl, CiphertextSink* sink)
    : ssl_(std::move(ssl)), sink_(sink) {
  BIO* bio = BIO_new(Method());
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio);  // takes our one reference, for both directions
  // The certificate, key and cipher configuration are not needed once the
  // handshake is done (a server never renegotiates): an idle session does
  // not keep its copy. Servers only: a client endpoint (in tests) keeps it.
  if (SSL_is_server(ssl_.get())) SSL_set_shed_handshake_config(ssl_.get(), 1);
}

Endpoint::~Endpoint() = default;

int Endpoint::BioRead(BIO* bio, char* out, int len) {
  auto* self = static_cast<Endpoint*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self->input_.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  size_t n = std::min(self->input_.size(), static_cast<size_t>(len));
  std::memcpy(out, self->input_.data(), n);
  self->input_ = self->input_.subspan(n);
  return static_cast<int>(n);
}

int Endpoint::BioWrite(BIO* bio, const char* in, int len) {
  auto* self = static_cast<Endpoint*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self->sink_->OnCiphertext(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(in), static_cast<size_t>(len)));
  return len;
}

long Endpoint::BioCtrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

void Endpoint::Feed(std::span<const uint8_t> ciphertext) {
  input_ = ciphertext;
}

Endpoint::Status Endpoint::Fail(int ret) {
  int err = SSL_get_error(ssl_.get(), ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return Status::kWantInput;
    case SSL_ERROR_ZERO_RETURN:
      return Status::kClosed;
    default:
      error_ = std::make_unique<std::string>(
          TakeErrorString(err == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "TLS failure"));
      input_ = {};
      return Status::kError;
  }
}

Endpoint::ReadResult Endpoint::Read(std::span<uint8_t> out) {
  if (!handshake_done_) {
    int ret = SSL_do_handshake(ssl_.get());
    if (ret != 1) return {Fail(ret)};
    handshake_done_ = true;
  }
  if (out.empty()) return {input_.empty() ? Status::kWantInput : Status::kData, 0};
  int len = static_cast<int>(std::min(out.size(), static_cast<size_t>(INT_MAX)));
  int ret = SSL_read(ssl_.get(), out.data(), len);
  if (ret > 0) return {Status::kData, static_cast<size_t>(ret)};
  return {Fail(ret)};
}

bool Endpoint::Write(std::span<const uint8_t> plaintext) {
  while (!plaintext.empty()) {
    int len = static_cast<int>(std::min(plaintext.size(), static_cast<size_t>(INT_MAX)));
    int ret = SSL_write(ssl_.get(), plaintext.data(), len);
    if (ret <= 0) {
      error_ = std::make_unique<std::string>(TakeErrorString("TLS write failed"));
      return false;
    }
    plaintext = plaintext.subspan(static_cast<size_t>(ret));
  }
  return true;
}

void Endpoint::SendCloseNotify() {
  if (close_notify_sent_ || !handshake_done_) return;
  close_notify_sent_ = true;
  SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

std::optional<Version> Endpoint::protocol_version() const {
  const int wire = SSL_version(ssl_.get());
  for (size_t v = 0; v < kVersionCount; ++v) {
    if (kWireVersions[v] == wire) return static_cast<Version>(v);
  }
  return std::nullopt;
}

const char* Endpoint::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
  return c ? SSL_CIPHER_standard_name(c) : "";
}

const char* Endpoint::server_name() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

}  // namespace imapfront::tls
