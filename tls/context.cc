#include "tls/context.h"

#include <algorithm>

namespace imapfront::tls {
namespace {

// TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are
// fixed by BoringSSL and all modern.
constexpr char kCipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

bool NameMatches(std::string_view pattern, std::string_view name) {
  auto equal_nocase = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return (x | 0x20) == (y | 0x20);
           });
  };
  if (pattern.starts_with("*.")) {
    // "*.example.com" matches exactly one more label: "a.example.com".
    size_t dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 &&
           equal_nocase(pattern.substr(1), name.substr(dot));
  }
  return equal_nocase(pattern, name);
}

}  // namespace

std::string TakeErrorString(std::string_view fallback) {
  uint32_t code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

std::string LibraryVersion() {
  return std::string(OpenSSL_version(OPENSSL_VERSION)) + " (API " +
         std::to_string(BORINGSSL_API_VERSION) + ")";
}

std::shared_ptr<const ServerContext> ServerContext::Create(const ServerOptions& options,
                                                           std::vector<std::string>* errors) {
  size_t errors_before = errors->size();
  auto result = std::shared_ptr<ServerContext>(new ServerContext());
  uint16_t min_version = TLS1_2_VERSION;
  if (options.min_version == "1.3") {
    min_version = TLS1_3_VERSION;
  } else if (options.min_version != "1.2") {
    errors->push_back("tls.min_version: \"" + options.min_version +
                      "\" is not one of \"1.2\", \"1.3\"");
  }
  if (options.certificates.empty()) errors->push_back("tls.certificates: at least one is needed");
  for (size_t i = 0; i < options.certificates.size(); ++i) {
    const CertificateSpec& spec = options.certificates[i];
    const std::string where = "tls.certificates[" + std::to_string(i) + "]";
    bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
    if (!ctx) {
      errors->push_back(where + ": " + TakeErrorString("out of memory"));
      continue;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_strict_cipher_list(ctx.get(), kCipherList);
    ERR_clear_error();
    if (!SSL_CTX_use_certificate_chain_file(ctx.get(), spec.cert_file.c_str())) {
      errors->push_back(where + ".cert: cannot load certificate chain " + spec.cert_file + ": " +
                        TakeErrorString("unknown error"));
      continue;
    }
    bssl::UniquePtr<BIO> key_bio(BIO_new_file(spec.key_file.c_str(), "r"));
    bssl::UniquePtr<EVP_PKEY> key(
        key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
      errors->push_back(where + ".key: cannot load private key " + spec.key_file + ": " +
                        TakeErrorString("unknown error"));
      continue;
    }
    if (!SSL_CTX_use_PrivateKey(ctx.get(), key.get()) || !SSL_CTX_check_private_key(ctx.get())) {
      errors->push_back(where + ".key: " + spec.key_file + " does not match certificate " +
                        spec.cert_file);
      ERR_clear_error();
      continue;
    }
    // The certificate is chosen once the ClientHello is in: by SNI and by
    // what the client can verify. Sessions start on the first context.
    SSL_CTX_set_app_data(ctx.get(), result.get());
    SSL_CTX_set_select_certificate_cb(ctx.get(), &ServerContext::OnClientHello);
    const bool ecdsa = EVP_PKEY_id(key.get()) == EVP_PKEY_EC;
    result->entries_.push_back(Entry{std::move(ctx), spec.names, ecdsa});
  }
  if (errors->size() != errors_before) return nullptr;
  return result;
}

SSL_CTX* ServerContext::ContextForName(std::string_view server_name, bool client_ecdsa) const {
  auto matches = [&](const Entry& e, bool wildcard) {
    for (const std::string& n : e.names) {
      if (n.starts_with("*.") == wildcard && NameMatches(n, server_name)) return true;
    }
    return false;
  };
  std::vector<const Entry*> candidates;
  for (bool wildcard : {false, true}) {
    if (server_name.empty() || !candidates.empty()) break;
    for (const Entry& e : entries_) {
      if (matches(e, wildcard)) candidates.push_back(&e);
    }
  }
  if (candidates.empty()) {
    for (const Entry& e : entries_) {
      if (e.names == entries_.front().names) candidates.push_back(&e);
    }
  }
  for (const Entry* e : candidates) {
    if (e->ecdsa == client_ecdsa) return e->ctx.get();
  }
  return candidates.front()->ctx.get();
}

ssl_select_cert_result_t ServerContext::OnClientHello(const SSL_CLIENT_HELLO* hello) {
  SSL* ssl = hello->ssl;
  const auto* self = static_cast<const ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  // signature_algorithms: a 2-byte length, then 2-byte scheme codes.
  bool ecdsa = false;
  const uint8_t* ext = nullptr;
  size_t ext_len = 0;
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_signature_algorithms, &ext,
                                           &ext_len) &&
      ext_len >= 2) {
    for (size_t i = 2; i + 1 < ext_len; i += 2) {
      const uint16_t scheme = static_cast<uint16_t>(ext[i] << 8 | ext[i + 1]);
      if (scheme == SSL_SIGN_ECDSA_SECP256R1_SHA256 || scheme == SSL_SIGN_ECDSA_SECP384R1_SHA384 ||
          scheme == SSL_SIGN_ECDSA_SECP521R1_SHA512 || scheme == SSL_SIGN_ECDSA_SHA1) {
        ecdsa = true;
      }
    }
  }
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* chosen = self->ContextForName(name ? name : "", ecdsa);
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return ssl_select_cert_success;
}

bssl::UniquePtr<SSL> ServerContext::NewSession() const {
  bssl::UniquePtr<SSL> ssl(SSL_new(entries_.front().ctx.get()));
  if (ssl) SSL_set_accept_state(ssl.get());
  return ssl;
}

}  // namespace imapfront::tls
