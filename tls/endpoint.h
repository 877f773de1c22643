// One TLS connection over borrowed buffers: ciphertext in, plaintext out.
//
// The endpoint does no I/O. The owner feeds it ciphertext as it arrives and
// then calls Read() until it stops returning bytes; only then has every fed
// byte been consumed and every decryptable byte been delivered. Outgoing
// ciphertext (handshake flights, records, alerts) goes to a CiphertextSink as
// soon as BoringSSL produces it, so nothing ever waits inside the library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tls/boringssl.h"
#include "tls/version.h"

namespace imapfront::tls {

// The most plaintext one record carries.
inline constexpr size_t kMaxRecordPlaintext = 16384;

class CiphertextSink {
 public:
  // Takes all of |bytes| (the endpoint never retries a write).
  virtual void OnCiphertext(std::span<const uint8_t> bytes) = 0;

 protected:
  ~CiphertextSink() = default;
};

class Endpoint {
 public:
  enum class Status {
    kData,       // |bytes| plaintext bytes were written to the output
    kWantInput,  // everything fed has been consumed; feed more
    kClosed,     // the peer sent close_notify
    kError,      // fatal: see error()
  };
  struct ReadResult {
    Status status;
    size_t bytes = 0;
  };

  // |ssl| is a fresh SSL object in accept or connect state.
  Endpoint(bssl::UniquePtr<SSL> ssl, CiphertextSink* sink);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // Lends |ciphertext| to the endpoint. It stays borrowed until Read()
  // returns anything but kData; the previous loan must be used up.
  void Feed(std::span<const uint8_t> ciphertext);
  size_t unread_input() const { return input_.size(); }

  // Advances the handshake, then decrypts application data into |out|.
  ReadResult Read(std::span<uint8_t> out);

  // Encrypts all of |plaintext| (handshake must be done). False on error.
  bool Write(std::span<const uint8_t> plaintext);

  // Sends close_notify (once).
  void SendCloseNotify();

  bool handshake_done() const { return handshake_done_; }
  // Why the connection failed; empty before a failure.
  std::string_view error() const { return error_ ? std::string_view(*error_) : std::string_view(); }
  const char* version() const { return SSL_get_version(ssl_.get()); }
  // The negotiated version (handshake done); nullopt for one this build
  // never offers (SSL 3, DTLS).
  std::optional<Version> protocol_version() const;
  const char* cipher() const;
  // The SNI the client sent, or "".
  const char* server_name() const;
  SSL* ssl() const { return ssl_.get(); }

 private:
  static const BIO_METHOD* Method();
  static int BioRead(BIO* bio, char* out, int len);
  static int BioWrite(BIO* bio, const char* in, int len);
  static long BioCtrl(BIO* bio, int cmd, long num, void* ptr);
  Status Fail(int ret);

  bssl::UniquePtr<SSL> ssl_;
  CiphertextSink* sink_;
  std::span<const uint8_t> input_;
  std::unique_ptr<std::string> error_;  // made on failure: a live endpoint pays a pointer
  bool handshake_done_ = false;
  bool close_notify_sent_ = false;
};

}  // namespace imapfront::tls
