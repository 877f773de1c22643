// Server-side TLS configuration: one SSL_CTX per certificate, chosen by SNI.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/boringssl.h"
#include "tls/client_hello.h"
#include "tls/version.h"

namespace imapfront::tls {

struct CertificateSpec {
  std::string cert_file;  // PEM: the certificate, then its chain
  std::string key_file;   // PEM private key matching the certificate
  // SNI names: exact or "*.example.com". Empty: the DNS names of the
  // certificate's subjectAltName, or its CN when it has none.
  std::vector<std::string> names;
  // A DER OCSP response to staple ("" for none): read and checked against
  // the certificate when the context is created (so again at every reload).
  std::string ocsp_file;
};

struct ServerOptions {
  Version min_version = Version::kTls12;
  std::vector<CertificateSpec> certificates;  // the first one is the default
};

class ServerContext {
 public:
  // Builds the contexts, loading every certificate and key. On failure
  // returns null and appends one message per problem to |errors|, each
  // starting with the config path of the offending entry
  // ("tls.certificates[1].key: ...").
  static std::shared_ptr<const ServerContext> Create(const ServerOptions& options,
                                                     std::vector<std::string>* errors);

  // A new server-side SSL object, ready to handshake.
  bssl::UniquePtr<SSL> NewSession() const;

  // The certificate context serving |server_name|: exact name first, then
  // the wildcard one level up, else the default (the first certificate and
  // any other with the same names). At each level a certificate the client
  // can use wins (an ECDSA and an RSA one side by side: ECDSA for clients
  // that can verify it on its curve, RSA otherwise); a level where none fits
  // yields to the next; failing all, the first match.
  SSL_CTX* ContextForName(std::string_view server_name,
                          const ClientAbilities& client = ClientAbilities()) const;

  // The names each certificate is selected by (as configured or taken from
  // the certificate), in config order.
  std::vector<std::vector<std::string>> CertificateNames() const;
  // The certificates (config indexes) that no client can ever be given: one
  // with no names that is not the default, or one whose every name an
  // earlier certificate with the same kind of key claims first.
  std::vector<size_t> NeverSelected() const;

 private:
  struct Entry {
    bssl::UniquePtr<SSL_CTX> ctx;
    std::vector<std::string> names;             // sorted
    std::vector<std::string> configured_names;  // in the order given
    bool ecdsa = false;
    uint16_t group = 0;   // TLS group of an ECDSA key's curve
    uint16_t scheme = 0;  // TLS 1.3 signature scheme for that curve
  };
  static bool CanUse(const Entry& e, const ClientAbilities& client);
  static ssl_select_cert_result_t OnClientHello(const SSL_CLIENT_HELLO* hello);

  std::vector<Entry> entries_;
  std::vector<uint16_t> suites_;  // the TLS 1.2 suites every context enables (kCipherList)
};

// "BoringSSL (API 17)": what --version prints.
std::string LibraryVersion();

// The text of the oldest error on this thread's BoringSSL error queue (or
// |fallback| if it is empty); clears the queue.
std::string TakeErrorString(std::string_view fallback);

}  // namespace imapfront::tls
